/**
 * pgjdbc (Debian's libpostgresql-jdbc-java, run unchanged with the machine's Java) asked about
 * the tool-test schema (schema.ts) through `DatabaseMetaData` (`getTables`, `getColumns`,
 * `getPrimaryKeys`, `getIndexInfo`, `getImportedKeys`, `getExportedKeys`, `getTypeInfo`) and
 * `ResultSetMetaData` (table and schema names, types, nullability, auto-increment) must answer
 * what it answers for a throw-away PostgreSQL 15 given the same schema (issue 11 item 3).
 *
 * The program (clients/JdbcMetadata.java) prints every result set as tab-separated text; the
 * printouts are compared line for line, per section. Normalized: nothing (both are reached
 * as user and database `stratum`, and none of these calls returns an OID).
 * Skipped, with the reason, where Java or the driver cannot be had.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { debVersion, maybeWriteCorpus } from './corpus.ts';
import { type Pair, runTool, startPair, type Target } from './pair.ts';

const JAR = '/usr/share/java/postgresql.jar';
const SOURCE = fileURLToPath(new URL('./clients/JdbcMetadata.java', import.meta.url));

function unavailable(): string | undefined {
  try {
    execFileSync('java', ['-version'], { stdio: 'ignore' });
  } catch {
    return 'java is not installed (apt-get install default-jre-headless)';
  }
  return existsSync(JAR) ? undefined : `${JAR} is missing (apt-get install libpostgresql-jdbc-java)`;
}

/** The printout split into sections by their `== call` line. */
function sections(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of out.split(/^(?=== )/m)) {
    const nl = part.indexOf('\n');
    if (part.startsWith('== ')) m.set(part.slice(3, nl), part.slice(nl + 1));
  }
  return m;
}

async function metadata(t: Target): Promise<string> {
  const r = await runTool('java', ['-cp', JAR, SOURCE, String(t.port)], { timeoutMs: 180_000 });
  if (r.code !== 0) throw new Error(`JdbcMetadata against ${t.engine} failed (exit ${r.code}):\n${r.stderr}\n${r.stdout.slice(-2000)}`);
  return r.stdout;
}

const why = unavailable();

describe('pgjdbc metadata', { timeout: 400_000, skip: why ?? false }, () => {
  let pair: Pair;
  let expected: Map<string, string>;
  before(async () => {
    pair = await startPair();
    expected = sections(await metadata(pair.postgres));
  });
  after(async () => {
    if (pair === undefined) return;
    maybeWriteCorpus(
      'jdbc',
      [
        `pgjdbc ${debVersion('libpostgresql-jdbc-java')} (Debian libpostgresql-jdbc-java) on Java; ran clients/JdbcMetadata.java (jdbc-metadata.e2e.test.ts).`,
      ],
      (await pair.statements()).filter((s) => s.app === 'PostgreSQL JDBC Driver'),
    );
    await pair.close();
  });

  test('PostgreSQL 15 answers every call (the reference is complete)', () => {
    assert.ok(expected.size >= 15, `only ${expected.size} sections`);
    assert.match(expected.get('getTables(null, public, %, null)') ?? '', /\tcustomers\tTABLE\t/);
  });

  test('DatabaseMetaData and ResultSetMetaData of Stratum equal PostgreSQL 15', async () => {
    const got = sections(await metadata(pair.stratum));
    assert.deepEqual([...got.keys()], [...expected.keys()]);
    for (const [call, text] of expected) assert.equal(got.get(call), text, call);
  });
});
