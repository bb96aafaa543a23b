/**
 * Session information functions (PostgreSQL 15 §9.26 "System Information Functions", §9.27.1
 * "Configuration Settings Functions"): current_setting, set_config, current_schema(s),
 * pg_backend_pid, txid_current, pg_postmaster_start_time, version, pg_encoding_to_char. They
 * read the session through {@link EvalContext.session}; where an evaluation has none (a row
 * tier), they fail with 0A000 naming the call.
 */
import { SqlState, StratumError } from '../errors.ts';
import type { EvalContext, SessionAccess } from './context.ts';
import { defFn, impl, implNonStrict } from './registry.ts';

/**
 * Signatures PostgreSQL declares with the `name` type, which Stratum answers as text:
 * [name, argument types, result type, flags] as pg-catalog.ts's PG_FUNCTIONS.
 */
export const SESSION_SIGNATURES: readonly [string, string[], string, string][] = [
  ['current_schema', [], 'text', 's'],
  ['current_schemas', ['boolean'], 'text[]', 's'],
  ['pg_encoding_to_char', ['integer'], 'text', 's'],
];

function session(ctx: EvalContext, fn: string): SessionAccess {
  if (!ctx.session)
    throw new StratumError(SqlState.featureNotSupported, `${fn}() is evaluated by the router only (in a SELECT without FROM)`);
  return ctx.session;
}

/** Schemas Stratum has (the search path keeps only these, as PostgreSQL drops missing ones). */
const SCHEMAS = new Set(['public', 'pg_catalog', 'information_schema']);

/** The effective search path: existing schemas of `search_path`, with pg_catalog first unless listed (implicit = included). */
/**
 * The schemas of the session's search_path that exist, in order (`$user` is the user's schema),
 * with pg_catalog first when `implicit` and not listed (PostgreSQL's current_schemas).
 */
export function searchPath(s: Pick<SessionAccess, 'setting' | 'user'>, implicit: boolean): string[] {
  const raw = s.setting('search_path') ?? '';
  const out: string[] = [];
  for (const part of raw.split(',')) {
    let p = part.trim();
    if (p.startsWith('"') && p.endsWith('"')) p = p.slice(1, -1).replace(/""/g, '"');
    else p = p.toLowerCase();
    if (p === '$user') p = s.user;
    if (SCHEMAS.has(p) && !out.includes(p)) out.push(p);
  }
  if (implicit && !out.includes('pg_catalog')) out.unshift('pg_catalog');
  return out;
}

defFn('current_setting', (args) =>
  args.length === 1
    ? impl(([n], ctx) => {
        const v = session(ctx, 'current_setting').setting(n as string);
        if (v === undefined) throw new StratumError(SqlState.undefinedObject, `unrecognized configuration parameter "${n}"`);
        return v;
      })
    : implNonStrict(([n, missingOk], ctx) => {
        if (n === null) return null;
        const v = session(ctx, 'current_setting').setting(n as string);
        if (v === undefined && missingOk !== true)
          throw new StratumError(SqlState.undefinedObject, `unrecognized configuration parameter "${n}"`);
        return v ?? null;
      }),
);
defFn('set_config', () =>
  implNonStrict(([n, v, local], ctx) => {
    if (n === null) throw new StratumError('22004', 'SET requires parameter name');
    return session(ctx, 'set_config').setConfig(n as string, (v as string | null) ?? '', local === true);
  }),
);
defFn('current_schema', () => impl((_a, ctx) => searchPath(session(ctx, 'current_schema'), false)[0] ?? null));
defFn('current_schemas', () => impl(([implicit], ctx) => searchPath(session(ctx, 'current_schemas'), implicit === true)));
defFn('pg_backend_pid', () => impl((_a, ctx) => session(ctx, 'pg_backend_pid').backendPid));
defFn('txid_current', () => impl((_a, ctx) => session(ctx, 'txid_current').txid()));
defFn('pg_postmaster_start_time', () => impl((_a, ctx) => session(ctx, 'pg_postmaster_start_time').startTimeUs));
defFn('version', () => impl((_a, ctx) => session(ctx, 'version').version));
// Stratum stores UTF8 only; the other encoding numbers are PostgreSQL's pg_enc (encoding/pg_wchar.h).
const ENCODINGS = ['SQL_ASCII', 'EUC_JP', 'EUC_CN', 'EUC_KR', 'EUC_TW', 'EUC_JIS_2004', 'UTF8', 'MULE_INTERNAL', 'LATIN1'];
defFn('pg_encoding_to_char', () => impl(([n]) => ENCODINGS[n as number] ?? ''));
