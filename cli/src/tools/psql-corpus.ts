/**
 * Captures corpus/psql.sql: the catalog statements psql 15 sends for the describe commands
 * of issue 11 item 3 (`\d`, `\dt`, `\d+ t`, `\di`, `\dv`, `\ds`, `\dn`, `\l`, `\du`, plus
 * `\d` of each table, view and sequence) against a throw-away PostgreSQL 15 given the
 * tool-test schema. The comparison of psql's output with PostgreSQL's belongs to the catalog
 * work's own psql test; this only records what psql asks.
 *
 *   TOOL_CORPUS=write node --import tsx cli/src/tools/psql-corpus.ts
 */
import { maybeWriteCorpus } from './corpus.ts';
import { libpqEnv, runTool, startPair } from './pair.ts';

/** The describe commands, each run as its own `psql -c`. */
export const PSQL_COMMANDS: readonly string[] = [
  '\\d',
  '\\dt',
  '\\d+ customers',
  '\\d orders',
  '\\d big_orders',
  '\\d invoice_no',
  '\\di',
  '\\dv',
  '\\ds',
  '\\dn',
  '\\l',
  '\\du',
];

const pair = await startPair();
try {
  const version = (await runTool('psql', ['--version'])).stdout.trim();
  for (const c of PSQL_COMMANDS) {
    const r = await runTool('psql', ['-X', '-P', 'pager=off', '-c', c], { env: libpqEnv(pair.postgres) });
    if (r.code !== 0) throw new Error(`psql -c '${c}' failed on PostgreSQL (exit ${r.code}):\n${r.stderr}`);
  }
  maybeWriteCorpus(
    'psql',
    [`${version}; ran psql -X -c for each of: ${PSQL_COMMANDS.join(' ')} (psql-corpus.ts).`],
    (await pair.statements()).filter((s) => s.app === 'psql'),
  );
} finally {
  await pair.close();
}
