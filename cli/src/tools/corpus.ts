/**
 * The query corpus: the catalog and introspection statements each tool sends, captured from
 * PostgreSQL 15's statement log while the tool tests run, kept in `corpus/<tool>.sql` for the
 * catalog work to make run (and for corpus-check.ts to track).
 *
 * File format: a header of `--` comment lines, then entries separated by a line `-- next`.
 * An entry is optional `-- params: [JSON array]` (bind parameters as text, null for NULL,
 * when the tool used the extended protocol) followed by the statement text as sent.
 *
 * The tool tests write the files when run with `TOOL_CORPUS=write`; otherwise the
 * corpus is left as committed.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { LoggedStatement } from './pair.ts';

/** Directory of the corpus files. */
export const CORPUS_DIR = fileURLToPath(new URL('./corpus/', import.meta.url));
const SEPARATOR = '-- next';

/** One corpus entry. */
export interface CorpusEntry {
  readonly sql: string;
  readonly params?: (string | null)[];
}

/**
 * Whether a statement asks the server about itself rather than about the application's data:
 * it names pg_catalog or information_schema, a `pg_*` relation or function, `set_config` or
 * `current_setting`, `version()`, `current_schema`, or it is a SET / SHOW / RESET.
 */
export function isIntrospection(sql: string): boolean {
  return (
    /^\s*(SET|SHOW|RESET)\b/i.test(sql) ||
    /\b(pg_catalog|information_schema|pg_[a-z_]+|set_config|current_setting|current_schemas?|version\s*\()/i.test(sql)
  );
}

/** The distinct introspection statements of `logged` (first occurrence kept, in the order sent). */
export function distinctIntrospection(logged: readonly LoggedStatement[]): CorpusEntry[] {
  const seen = new Set<string>();
  const out: CorpusEntry[] = [];
  for (const s of logged) {
    const sql = s.sql.trim();
    if (!isIntrospection(sql) || seen.has(sql)) continue;
    seen.add(sql);
    out.push(s.params === undefined ? { sql } : { sql, params: s.params });
  }
  return out;
}

/** The installed version of a Debian package, or `?`. */
export function debVersion(pkg: string): string {
  try {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's ${Version} field
    return execFileSync('dpkg-query', ['-W', '-f', '${Version}', pkg], { encoding: 'utf8' }).trim();
  } catch {
    return '?';
  }
}

/** The version an npm package's package.json gives (cli's own node_modules first, as Node resolves it), or `?`. */
export function npmVersion(pkg: string): string {
  for (const dir of ['../../node_modules/', '../../../node_modules/']) {
    try {
      const file = fileURLToPath(new URL(`${dir}${pkg}/package.json`, import.meta.url));
      return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    } catch {
      // not installed there
    }
  }
  return '?';
}

/**
 * Write `corpus/<tool>.sql` when `TOOL_CORPUS=write` (else do nothing).
 * @param how  header lines: what ran, which versions of the tool and of PostgreSQL.
 */
export function maybeWriteCorpus(tool: string, how: readonly string[], logged: readonly LoggedStatement[]): void {
  if (process.env.TOOL_CORPUS !== 'write') return;
  const entries = distinctIntrospection(logged);
  const header = [
    `-- Catalog and introspection statements sent by ${tool}, in the order sent (first occurrence of each).`,
    ...how.map((l) => `-- ${l}`),
    `-- Captured from PostgreSQL 15's log (log_statement = 'all', log_destination = 'jsonlog') by the tool test`,
    `-- in cli/src/tools/ run with TOOL_CORPUS=write; kept: statements naming pg_catalog,`,
    `-- information_schema, pg_* relations or functions, set_config, current_setting, version(),`,
    `-- current_schema, and SET/SHOW/RESET. ${entries.length} statements.`,
    `-- Check them against a server: node --import tsx cli/src/tools/corpus-check.ts --port 5433 ${tool}`,
  ];
  const body = entries.map((e) => (e.params === undefined ? e.sql : `-- params: ${JSON.stringify(e.params)}\n${e.sql}`));
  writeFileSync(`${CORPUS_DIR}${tool}.sql`, `${header.join('\n')}\n${body.map((b) => `${SEPARATOR}\n${b}\n`).join('')}`);
}

/** The entries of a corpus file (header dropped). */
export function parseCorpus(text: string): CorpusEntry[] {
  const parts = text.split(new RegExp(`^${SEPARATOR}$`, 'm')).slice(1);
  return parts.map((p) => {
    const body = p.replace(/^\n/, '').replace(/\n$/, '');
    const m = /^-- params: (.*)\n([\s\S]*)$/.exec(body);
    return m === null ? { sql: body } : { sql: m[2]!, params: JSON.parse(m[1]!) as (string | null)[] };
  });
}
