/**
 * pgjdbc (Debian's libpostgresql-jdbc-java, run unchanged with the machine's Java) asked about
 * the tool-test schema (schema.ts) through `DatabaseMetaData` (`getTables`, `getColumns`,
 * `getPrimaryKeys`, `getIndexInfo`, `getImportedKeys`, `getExportedKeys`, `getTypeInfo`) and
 * `ResultSetMetaData` (table and schema names, types, nullability, auto-increment) must answer
 * what it answers for a throw-away PostgreSQL 15 given the same schema (issue 11 item 3).
 *
 * The program (clients/JdbcMetadata.java) prints every result set as tab-separated text; the
 * printouts are compared line for line, per section (both are reached as user and database
 * `stratum`, and none of these calls returns an OID). Normalized: `getTypeInfo()` is compared as
 * a set of rows, since pgjdbc's query has no ORDER BY and PostgreSQL answers in pg_type's heap
 * order. Known differences (docs/sql.md "System catalogs"), each left out of PostgreSQL's
 * answer by asking PostgreSQL which rows they are:
 * {@link KNOWN_DIFFERENCES}.
 * Skipped, with the reason, where Java or the driver cannot be had.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { debVersion, maybeWriteCorpus } from './corpus.ts';
import { HARNESS_APP, type Pair, runTool, startPair, type Target } from './pair.ts';

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

/**
 * Types PostgreSQL 15 has and Stratum's pg_type leaves out, each with the query that asks
 * PostgreSQL for their names (getTypeInfo lists them by name):
 */
const KNOWN_DIFFERENCES: readonly { why: string; names: string }[] = [
  {
    why: 'row types of the system catalog relations and their arrays: Stratum lists no catalog relations in pg_class',
    names: `SELECT t.typname FROM pg_type t JOIN pg_class c ON c.oid = t.typrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname IN ('pg_catalog', 'information_schema')
      UNION SELECT a.typname FROM pg_type a JOIN pg_type t ON a.oid = t.typarray JOIN pg_class c ON c.oid = t.typrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('pg_catalog', 'information_schema')`,
  },
  {
    why: "information_schema's domains (cardinal_number, sql_identifier, …) and their arrays: Stratum types those columns by their base types",
    names: `SELECT t.typname FROM pg_type t WHERE t.typtype = 'd' AND t.typnamespace = 'information_schema'::regnamespace
      UNION SELECT a.typname FROM pg_type a JOIN pg_type t ON a.oid = t.typarray
      WHERE t.typtype = 'd' AND t.typnamespace = 'information_schema'::regnamespace`,
  },
];

/** Names of the types of {@link KNOWN_DIFFERENCES}, asked of PostgreSQL. */
async function knownMissingTypes(t: Target): Promise<Set<string>> {
  const c = new pg.Client({ connectionString: t.url, application_name: HARNESS_APP });
  await c.connect();
  try {
    const out = new Set<string>();
    for (const d of KNOWN_DIFFERENCES) for (const r of (await c.query<{ typname: string }>(d.names)).rows) out.add(r.typname);
    return out;
  } finally {
    await c.end();
  }
}

/** A getTypeInfo() section as its column line and its rows sorted, without the rows of `leaveOut` type names. */
function typeInfoSet(text: string, leaveOut: ReadonlySet<string>): string {
  const [head = '', ...rows] = text.trimEnd().split('\n');
  return [head, ...rows.filter((r) => !leaveOut.has(r.split('\t')[0] ?? '')).sort()].join('\n');
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
  let missingTypes: Set<string>;
  before(async () => {
    pair = await startPair();
    expected = sections(await metadata(pair.postgres));
    missingTypes = await knownMissingTypes(pair.postgres);
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
    for (const [call, text] of expected) {
      if (call === 'getTypeInfo()') assert.equal(typeInfoSet(got.get(call) ?? '', new Set()), typeInfoSet(text, missingTypes), call);
      else assert.equal(got.get(call), text, call);
    }
    // A known difference that disappeared fails too: drop it here and in docs/sql.md.
    const listed = (got.get('getTypeInfo()') ?? '').split('\n').map((r) => r.split('\t')[0] ?? '');
    assert.ok(missingTypes.has('_pg_type') && missingTypes.has('sql_identifier'), 'PostgreSQL names the known differences');
    assert.deepEqual(
      listed.filter((n) => missingTypes.has(n)),
      [],
      'types listed as known differences that Stratum now has',
    );
  });
});
