-- Catalog and introspection statements sent by postgres-js, in the order sent (first occurrence of each).
-- postgres 3.4.10 (npm, postgres.js) with its defaults; ran the workload of postgres-js.e2e.test.ts.
-- Captured from PostgreSQL 15's log (log_statement = 'all', log_destination = 'jsonlog') by the tool test
-- in cli/src/tools/ run with TOOL_CORPUS=write; kept: statements naming pg_catalog,
-- information_schema, pg_* relations or functions, set_config, current_setting, version(),
-- current_schema, and SET/SHOW/RESET. 1 statements.
-- Check them against a server: node --import tsx cli/src/tools/corpus-check.ts --port 5433 postgres-js
-- next
select b.oid, b.typarray
      from pg_catalog.pg_type a
      left join pg_catalog.pg_type b on b.oid = a.typelem
      where a.typcategory = 'A'
      group by b.oid, b.typarray
      order by b.oid
