/**
 * Runs every statement of the tool query corpus (cli/src/tools/corpus/<tool>.sql, see corpus.ts)
 * against a server and prints which fail with which error, so the catalog work can track how
 * many of the statements real tools send already run.
 *
 *   node --import tsx cli/src/tools/corpus-check.ts --port 5433 [--host H] [--user U] [--database D] [--verbose] [tool …]
 *
 * Each tool's statements run in order in one session (a statement may rely on an earlier SET or
 * PREPARE), each on its own outside a transaction block; statements captured with bind
 * parameters are sent with the extended protocol and those parameters. Only whether a statement
 * runs is checked, not what it returns (the tool tests compare answers with PostgreSQL).
 * Exit code: 0 when every statement ran, 1 otherwise.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { CORPUS_DIR, parseCorpus } from './corpus.ts';

const { values, positionals } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '5433' },
    user: { type: 'string', default: 'stratum' },
    database: { type: 'string', default: 'stratum' },
    verbose: { type: 'boolean', default: false },
  },
  allowPositionals: true,
});

const tools =
  positionals.length > 0
    ? positionals
    : readdirSync(CORPUS_DIR)
        .filter((f) => f.endsWith('.sql'))
        .map((f) => f.slice(0, -4));
const oneLine = (s: string, n: number) => {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
};

let failedTotal = 0;
const summary: string[] = [];
for (const tool of tools.sort()) {
  const entries = parseCorpus(readFileSync(`${CORPUS_DIR}${tool}.sql`, 'utf8'));
  const client = new pg.Client({
    host: values.host,
    port: Number(values.port),
    user: values.user,
    database: values.database,
    application_name: 'stratum-corpus-check',
  });
  client.on('error', () => undefined);
  await client.connect();
  let failed = 0;
  console.log(`== ${tool} (${entries.length} statements)`);
  for (const [i, e] of entries.entries()) {
    try {
      await client.query(e.params === undefined ? e.sql : { text: e.sql, values: e.params });
      if (values.verbose) console.log(`ok   #${i + 1} ${oneLine(e.sql, 100)}`);
    } catch (err) {
      failed++;
      const x = err as Error & { code?: string };
      console.log(`FAIL #${i + 1} ${oneLine(e.sql, 100)}\n       ${x.code ?? '-----'} ${oneLine(x.message, 200)}`);
    }
  }
  await client.end().catch(() => undefined);
  failedTotal += failed;
  summary.push(`${tool}: ${entries.length - failed} of ${entries.length} run`);
}
console.log(`\n${summary.join('\n')}`);
process.exitCode = failedTotal === 0 ? 0 : 1;
