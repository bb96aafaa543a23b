-- Catalog and introspection statements sent by knex, in the order sent (first occurrence of each).
-- knex 3.3.0 over pg 8.23.1 (npm); ran the migrations of knex.e2e.test.ts up and down.
-- Captured from PostgreSQL 15's log (log_statement = 'all', log_destination = 'jsonlog') by the tool test
-- in cli/src/tools/ run with TOOL_CORPUS=write; kept: statements naming pg_catalog,
-- information_schema, pg_* relations or functions, set_config, current_setting, version(),
-- current_schema, and SET/SHOW/RESET. 4 statements.
-- Check them against a server: node --import tsx cli/src/tools/corpus-check.ts --port 5433 knex
-- next
select version();
-- next
-- params: ["knex_migrations"]
select * from information_schema.tables where table_name = $1 and table_schema = current_schema()
-- next
-- params: ["kx_tasks","due_on"]
select * from information_schema.columns where table_name = $1 and column_name = $2 and table_schema = current_schema()
-- next
-- params: ["kx_tasks"]
select * from information_schema.columns where table_name = $1 and table_catalog = current_database() and table_schema = current_schema()
