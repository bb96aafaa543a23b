/**
 * Run-time parameters (GUCs) of a router session: which names exist, how a SET value is read
 * (PostgreSQL 15 §20.1.2 "Parameter Interaction via SQL": units, Boolean spellings, enum
 * values), how SHOW prints it, and which settings Stratum applies. Every parameter PostgreSQL
 * 15 knows is known here (pg-settings.ts, generated from its pg_settings); Stratum's own
 * decision per parameter is {@link STRATUM_SETTINGS}. The rules are listed in docs/sql.md
 * "Settings".
 */
import { isValidTimeZone, SqlState, StratumError } from '@stratum/shared';
import { PG_SETTINGS, type PgSettingDef } from './pg-settings.ts';

/**
 * What a SET of a parameter does in Stratum:
 * - `applied`: the value takes effect;
 * - `nil`: any valid value is accepted; the parameter governs something Stratum does not have
 *   (function bodies, XML, row security policies), so every value behaves the same;
 * - `default`: only the default value can be set (0A000 names the parameter otherwise), for
 *   parameters Stratum does not apply;
 * - `fixed`: read-only here (server-level or internal): SET fails with 55P02 as in PostgreSQL.
 */
export type SettingPolicy = 'applied' | 'nil' | 'default' | 'fixed';

/** One known parameter: PostgreSQL's metadata with Stratum's default and policy. */
export interface SettingDef {
  /** Name as PostgreSQL spells it (`DateStyle`, `TimeZone`, `work_mem`). */
  name: string;
  vartype: 'bool' | 'integer' | 'real' | 'string' | 'enum';
  /** PostgreSQL's base unit (`ms`, `s`, `min`, `kB`, `8kB`, `B`, `MB`) or null. */
  unit: string | null;
  category: string;
  shortDesc: string;
  extraDesc: string | null;
  context: PgSettingDef[6];
  /** Stratum's default in the setting form (integers in `unit`, Booleans on/off). */
  boot: string;
  min: string | null;
  max: string | null;
  enumvals: string[] | null;
  policy: SettingPolicy;
  /** Normalizes (and validates) a value for an `applied` string setting; throws 22023. */
  check?: (value: string, current: string) => string;
}

/** A row of pg_settings (PostgreSQL 15 §54.24), every column as text except `enumvals` and `pending_restart`. */
export interface PgSettingRow {
  name: string;
  /** Current value in the setting form (integers in `unit`, without the unit). */
  setting: string;
  unit: string | null;
  category: string;
  short_desc: string;
  extra_desc: string | null;
  context: string;
  vartype: string;
  /** `default`, `client` (startup packet) or `session` (SET). */
  source: string;
  min_val: string | null;
  max_val: string | null;
  enumvals: string[] | null;
  boot_val: string;
  reset_val: string;
  sourcefile: null;
  sourceline: null;
  pending_restart: boolean;
}

/** What {@link settingRows} reads of a session. RouterSession is one. */
export interface SettingsState {
  /** Values set in the session, by lower-case name, in the setting form; names absent have their default. */
  readonly settings: Readonly<Record<string, string>>;
  /** Where each session value came from (`client` for the startup packet), by lower-case name; absent = `session`. */
  readonly settingSources?: ReadonlyMap<string, string>;
  /** The open block (its isolation is transaction_isolation's value). */
  readonly txn?: { readonly isolation: 'serializable' | 'repeatable_read' } | undefined;
  /** The role of the session (session_authorization). */
  readonly user?: string;
  /** server_version (`15.0`); server_version_num follows from it. */
  readonly serverVersion?: string;
}

const ISOLATION = ['serializable', 'repeatable read', 'read committed', 'read uncommitted'];

/** TimeZone: an IANA name, a numeric offset (hours east), a POSIX spec (`UTC+3` = 3 h west) or LOCAL/DEFAULT. */
function checkTimeZone(v: string): string {
  const t = v.trim();
  if (/^(local|default)$/i.test(t)) return 'UTC';
  const n = /^[+-]?\d+(\.\d+)?$/.test(t) ? Number(t) : undefined;
  if (n !== undefined) {
    if (Math.abs(n) > 168) throw invalid('TimeZone', v);
    return offsetZoneName(Math.round(n * 3600));
  }
  if (!isValidTimeZone(t)) throw invalid('TimeZone', v);
  return t;
}

/**
 * PostgreSQL's name of a fixed zone `seconds` east of UTC, in POSIX form (`<+05:30>-05:30`),
 * as SHOW TimeZone prints a numeric or INTERVAL time zone.
 */
export function offsetZoneName(seconds: number): string {
  const hm = (s: number) => {
    const a = Math.abs(s);
    const h = Math.floor(a / 3600);
    const m = Math.floor((a % 3600) / 60);
    const sec = a % 60;
    return `${String(h).padStart(2, '0')}${m || sec ? `:${String(m).padStart(2, '0')}` : ''}${sec ? `:${String(sec).padStart(2, '0')}` : ''}`;
  };
  return `<${seconds < 0 ? '-' : '+'}${hm(seconds)}>${seconds <= 0 ? '+' : '-'}${hm(seconds)}`;
}

/**
 * DateStyle: a list of an output style (ISO, SQL, Postgres, German) and/or an order (DMY, MDY,
 * YMD, with the aliases European, NonEuropean, US); the part not given keeps its current value
 * (PostgreSQL's check_datestyle).
 */
function checkDateStyle(v: string, current: string): string {
  const [curStyle = 'ISO', curOrder = 'MDY'] = current.split(',').map((x) => x.trim());
  let style: string | undefined;
  let order: string | undefined;
  for (const raw of v.split(',')) {
    const w = raw.trim().toLowerCase();
    const s = { iso: 'ISO', sql: 'SQL', postgres: 'Postgres', german: 'German' }[w];
    const o = { dmy: 'DMY', mdy: 'MDY', ymd: 'YMD', euro: 'DMY', european: 'DMY', us: 'MDY', noneuro: 'MDY', noneuropean: 'MDY' }[w];
    if (s !== undefined && (style === undefined || style === s)) style = s;
    else if (o !== undefined && (order === undefined || order === o)) order = o;
    else if (w === 'default') {
      style ??= 'ISO';
      order ??= 'MDY';
    } else throw new StratumError(SqlState.invalidParameterValue, `invalid value for parameter "DateStyle": "${v}"`);
  }
  // German also sets DMY unless an order is given (PostgreSQL's check_datestyle).
  order ??= style === 'German' ? 'DMY' : curOrder;
  return `${style ?? curStyle}, ${order}`;
}

/**
 * client_encoding: UTF8, or SQL_ASCII (psqlODBC's ANSI driver and others send it). Stratum stores
 * and sends UTF-8; under SQL_ASCII PostgreSQL converts nothing either (pg_do_encoding_conversion
 * passes bytes through to a SQL_ASCII client, and checks what it receives is valid in the server
 * encoding), so for a UTF-8 server both settings carry the same bytes.
 */
function checkEncoding(v: string): string {
  if (/^sql_ascii$/i.test(v.trim())) return 'SQL_ASCII';
  if (!/^(utf-?8|unicode)$/i.test(v.trim())) {
    throw new StratumError(
      SqlState.featureNotSupported,
      `client_encoding "${v}" is not supported: Stratum speaks UTF8 (or SQL_ASCII, which passes UTF-8 through)`,
    );
  }
  return 'UTF8';
}

function checkIsolation(name: string) {
  return (v: string): string => {
    const l = v.trim().toLowerCase();
    if (!ISOLATION.includes(l)) throw invalid(name, v);
    // READ COMMITTED and READ UNCOMMITTED run as REPEATABLE READ (a stronger level, as the SQL standard allows).
    return l === 'serializable' ? 'serializable' : 'repeatable read';
  };
}

/**
 * restrict_nonsystem_relation_kind: a comma list of `view` and `foreign-table` (PostgreSQL
 * 15.8's check_restrict_nonsystem_relation_kind); kept as written.
 */
function checkRestrictKind(v: string): string {
  for (const w of v.split(',')) {
    const k = w.trim().toLowerCase();
    if (k !== '' && k !== 'view' && k !== 'foreign-table') {
      throw new StratumError(SqlState.invalidParameterValue, `invalid value for parameter "restrict_nonsystem_relation_kind": "${v}"`, {
        detail: `Unrecognized key word: "${k}".`,
      });
    }
  }
  return v;
}

/** Whether the session's restrict_nonsystem_relation_kind forbids reading views (pg_dump sets it). */
export function viewsRestricted(value: string | undefined): boolean {
  return (value ?? '').split(',').some((w) => w.trim().toLowerCase() === 'view');
}

function invalid(name: string, v: string, hint?: string): StratumError {
  return new StratumError(SqlState.invalidParameterValue, `invalid value for parameter "${name}": "${v}"`, hint ? { hint } : {});
}

/** Stratum's decisions, by lower-case name: policy, and a default where it is not PostgreSQL's compiled-in one. */
export const STRATUM_SETTINGS: Readonly<Record<string, { policy: SettingPolicy; boot?: string; check?: SettingDef['check'] }>> = {
  timezone: { policy: 'applied', boot: 'UTC', check: checkTimeZone },
  datestyle: { policy: 'applied', boot: 'ISO, MDY', check: checkDateStyle },
  intervalstyle: { policy: 'applied' },
  extra_float_digits: { policy: 'applied' },
  search_path: { policy: 'applied' },
  application_name: { policy: 'applied' },
  client_min_messages: { policy: 'applied' },
  statement_timeout: { policy: 'applied' },
  client_encoding: { policy: 'applied', boot: 'UTF8', check: checkEncoding },
  default_transaction_isolation: { policy: 'applied', boot: 'repeatable read', check: checkIsolation('default_transaction_isolation') },
  transaction_isolation: { policy: 'applied', boot: 'repeatable read', check: checkIsolation('transaction_isolation') },
  // Applied to views (planner: 42501); Stratum has no foreign tables.
  restrict_nonsystem_relation_kind: { policy: 'applied', check: checkRestrictKind },
  // Nothing of these exists in Stratum, so every value has the same (nil) effect.
  check_function_bodies: { policy: 'nil' },
  xmloption: { policy: 'nil' },
  row_security: { policy: 'nil' },
  jit: { policy: 'nil' },
  // Scans of one table by several sessions never share a starting point here (pg_dump sets it off).
  synchronize_seqscans: { policy: 'nil' },
  // Server-level facts Stratum reports.
  server_encoding: { policy: 'fixed', boot: 'UTF8' },
  lc_collate: { policy: 'fixed', boot: 'C' },
  lc_ctype: { policy: 'fixed', boot: 'C' },
  lc_messages: { policy: 'default', boot: 'C' },
  lc_monetary: { policy: 'default', boot: 'C' },
  lc_numeric: { policy: 'default', boot: 'C' },
  lc_time: { policy: 'default', boot: 'C' },
  log_timezone: { policy: 'fixed', boot: 'UTC' },
  is_superuser: { policy: 'fixed', boot: 'on' },
  default_transaction_read_only: { policy: 'default' },
  transaction_read_only: { policy: 'fixed' },
  in_hot_standby: { policy: 'fixed' },
};

/** The context's SET error (PostgreSQL's set_config_option), or undefined when a session may SET it. */
function contextError(d: SettingDef): StratumError | undefined {
  const cannot = (what: string) => new StratumError('55P02', `parameter "${d.name}" ${what}`);
  if (d.policy === 'fixed' || d.context === 'internal') return cannot('cannot be changed');
  if (d.context === 'postmaster') return cannot('cannot be changed without restarting the server');
  if (d.context === 'sighup') return cannot('cannot be changed now');
  if (d.context === 'backend' || d.context === 'superuser-backend') return cannot('cannot be set after connection start');
  return undefined;
}

const DEFS = new Map<string, SettingDef>();
for (const [name, vartype, unit, category, shortDesc, extraDesc, context, boot, min, max, enumvals] of PG_SETTINGS) {
  const s = STRATUM_SETTINGS[name.toLowerCase()];
  const d: SettingDef = {
    name,
    vartype,
    unit,
    category,
    shortDesc,
    extraDesc,
    context,
    boot: s?.boot ?? boot,
    min,
    max,
    enumvals,
    policy: s?.policy ?? (context === 'internal' ? 'fixed' : 'default'),
  };
  if (s?.check) d.check = s.check;
  DEFS.set(name.toLowerCase(), d);
}

/** Stratum's own parameters (`stratum.*`), shown by SHOW ALL and pg_settings. */
const STRATUM_OWN: SettingDef[] = [
  {
    name: 'stratum.as_of',
    vartype: 'string',
    unit: null,
    category: 'Stratum',
    shortDesc: 'Reads return the state as of this time (empty: the latest state); writes are refused while it is set.',
    extraDesc: null,
    context: 'user',
    boot: '',
    min: null,
    max: null,
    enumvals: null,
    policy: 'applied',
  },
];
for (const d of STRATUM_OWN) DEFS.set(d.name, d);

/** The parameter called `name` (any case), or undefined for a name PostgreSQL 15 and Stratum do not know. */
export function settingDef(name: string): SettingDef | undefined {
  return DEFS.get(name.toLowerCase());
}

/** The default (RESET) value of a parameter in the setting form, '' for a custom one. */
export function defaultSetting(name: string): string {
  return DEFS.get(name.toLowerCase())?.boot ?? '';
}

/** Time units and their size in ms (PostgreSQL's memory and time unit tables, guc.c). */
const TIME_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };
const MEMORY_KB: Record<string, number> = { B: 1 / 1024, kB: 1, MB: 1024, GB: 1024 ** 2, TB: 1024 ** 3 };

/** Size of one base unit in ms (time) or kB (memory); undefined for a unitless parameter. */
function unitSize(unit: string | null): { table: Record<string, number>; size: number } | undefined {
  if (unit === null) return undefined;
  if (unit in TIME_MS) return { table: TIME_MS, size: TIME_MS[unit] as number };
  const m = /^(\d*)(B|kB|MB)$/.exec(unit);
  if (!m) return undefined;
  return { table: MEMORY_KB, size: (m[1] ? Number(m[1]) : 1) * (MEMORY_KB[m[2] as string] as number) };
}

/** PostgreSQL's parse_bool: a prefix of true/false/yes/no, on/off (two letters at least), 1/0. */
function parseBool(v: string): boolean | undefined {
  const l = v.toLowerCase();
  if (l === '') return undefined;
  if ('true'.startsWith(l) || 'yes'.startsWith(l) || l === '1') return true;
  if ('false'.startsWith(l) || 'no'.startsWith(l) || l === '0') return false;
  if (l.length >= 2 && 'on'.startsWith(l) && l.length <= 2) return true;
  if (l.length >= 2 && 'off'.startsWith(l)) return false;
  return undefined;
}

/**
 * A SET value in the parameter's setting form (PostgreSQL's parse_and_validate_value): Booleans
 * as on/off (any unique prefix of true/false/yes/no, on/off, 1/0), integers with an optional
 * unit converted to the base unit and rounded (`'10s'` → 10000 for a ms parameter; a bare
 * number is in the base unit), reals, enum values in canonical case, strings through the
 * parameter's check.
 * @throws StratumError 22023 for a value the parameter cannot take, with PostgreSQL's message and hint.
 */
export function parseSetting(d: SettingDef, value: string, current: string): string {
  const v = value.trim();
  switch (d.vartype) {
    case 'bool': {
      const b = parseBool(v);
      if (b === undefined) throw new StratumError(SqlState.invalidParameterValue, `parameter "${d.name}" requires a Boolean value`);
      return b ? 'on' : 'off';
    }
    case 'integer':
    case 'real': {
      const m = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*([a-zA-Z]+)?$/.exec(v);
      const u = unitSize(d.unit);
      const hint = u
        ? u.table === TIME_MS
          ? 'Valid units for this parameter are "us", "ms", "s", "min", "h", and "d".'
          : 'Valid units for this parameter are "B", "kB", "MB", "GB", and "TB".'
        : undefined;
      if (!m || (m[2] !== undefined && !(u && m[2] in u.table))) throw invalid(d.name, value, m?.[2] !== undefined ? hint : undefined);
      let n = Number(m[1]);
      if (m[2] !== undefined && u) n = (n * (u.table[m[2]] as number)) / u.size;
      if (d.vartype === 'integer') n = Math.round(n);
      if ((d.min !== null && n < Number(d.min)) || (d.max !== null && n > Number(d.max))) {
        throw new StratumError(
          SqlState.invalidParameterValue,
          `${n} ${d.unit ? `${d.unit} ` : ''}is outside the valid range for parameter "${d.name}" (${d.min} .. ${d.max})`,
        );
      }
      return String(n);
    }
    case 'enum': {
      const l = v.toLowerCase();
      const hit = (d.enumvals ?? []).find((e) => e.toLowerCase() === l);
      if (hit === undefined) throw invalid(d.name, value, `Available values: ${(d.enumvals ?? []).join(', ')}.`);
      return hit;
    }
    default:
      return d.check ? d.check(value, current) : value;
  }
}

/**
 * A setting as SHOW and current_setting() print it: an integer with a unit in the largest unit
 * that divides it (`10000` ms → `10s`; 0 and negative values bare), as PostgreSQL's _ShowOption.
 */
export function showSetting(d: SettingDef | undefined, setting: string): string {
  if (!d || d.vartype !== 'integer') return setting;
  const u = unitSize(d.unit);
  const n = Number(setting);
  if (!u || !(n > 0)) return setting;
  const base = n * u.size;
  const units = Object.entries(u.table).sort((a, b) => b[1] - a[1]);
  for (const [name, size] of units) {
    if (size < u.size) break;
    if (base % size === 0) return `${base / size}${name}`;
  }
  return `${n}${d.unit}`;
}

/**
 * The value a session may store for `SET name = value`, in the setting form (see
 * {@link parseSetting}); Stratum's own `stratum.*` parameters are the caller's.
 * @throws StratumError 42704 unrecognized parameter (a name with a dot is a custom one and
 *   always accepted); 55P02 a parameter that cannot be changed in a session; 22023 a bad value;
 *   0A000 a value other than the default of a parameter Stratum does not apply (the message names it).
 */
export function checkSet(name: string, value: string, current: string | undefined): string {
  const d = settingDef(name);
  if (!d) {
    if (name.includes('.')) return value;
    throw new StratumError(SqlState.undefinedObject, `unrecognized configuration parameter "${name}"`);
  }
  const ctxErr = contextError(d);
  if (ctxErr) throw ctxErr;
  const v = parseSetting(d, value, current ?? d.boot);
  if (d.policy === 'default' && v !== normalizedBoot(d)) {
    throw new StratumError(
      SqlState.featureNotSupported,
      `parameter "${d.name}" is not applied by Stratum: only its default value ${JSON.stringify(showSetting(d, d.boot))} can be set`,
      { hint: 'See docs/sql.md "Settings" for the parameters Stratum applies.' },
    );
  }
  return v;
}

function normalizedBoot(d: SettingDef): string {
  try {
    return parseSetting(d, d.boot, d.boot);
  } catch {
    return d.boot;
  }
}

/** A parameter's current value in the setting form: the session's, else the default; undefined when unknown. */
export function currentSetting(s: SettingsState, name: string): string | undefined {
  const n = name.toLowerCase();
  if (n === 'transaction_isolation') {
    const iso = s.txn?.isolation ?? (s.settings.default_transaction_isolation === 'serializable' ? 'serializable' : 'repeatable_read');
    return iso === 'serializable' ? 'serializable' : 'repeatable read';
  }
  if (n === 'session_authorization' && s.user !== undefined) return s.user;
  if (n === 'server_version' && s.serverVersion !== undefined) return s.serverVersion;
  if (n === 'server_version_num' && s.serverVersion !== undefined) {
    const [major = 0, minor = 0] = s.serverVersion.split('.').map(Number);
    return String(major * 10000 + minor);
  }
  const v = s.settings[n];
  if (v !== undefined) return v;
  return DEFS.get(n)?.boot;
}

/**
 * Every parameter as a row of PostgreSQL 15's pg_settings view, sorted by name: the ~350
 * parameters PostgreSQL 15 knows (those Stratum does not have show Stratum's or PostgreSQL's
 * default), Stratum's `stratum.*` ones, and custom (dotted) ones the session set. `setting` and
 * `reset_val`/`boot_val` are in the setting form (integers in `unit`); `source` is `default`,
 * `client` (startup packet) or `session` (SET); `sourcefile`/`sourceline` are null and
 * `pending_restart` false. Pure: reads only `s`.
 */
export function settingRows(s: SettingsState): PgSettingRow[] {
  const rows: PgSettingRow[] = [];
  const names = new Set([...DEFS.keys(), ...Object.keys(s.settings).filter((k) => k.includes('.'))]);
  for (const n of [...names].sort()) {
    const d = DEFS.get(n);
    const set = s.settings[n];
    const setting = currentSetting(s, n) ?? '';
    const source = set === undefined ? 'default' : (s.settingSources?.get(n) ?? 'session');
    rows.push({
      name: d?.name ?? n,
      setting,
      unit: d?.unit ?? null,
      category: d?.category ?? 'Customized Options',
      short_desc: d?.shortDesc ?? '',
      extra_desc: d?.extraDesc ?? null,
      context: d?.context ?? 'user',
      vartype: d?.vartype ?? 'string',
      source,
      min_val: d?.min ?? null,
      max_val: d?.max ?? null,
      enumvals: d?.enumvals ?? null,
      boot_val: d?.boot ?? '',
      reset_val: source === 'client' ? setting : (d?.boot ?? ''),
      sourcefile: null,
      sourceline: null,
      pending_restart: false,
    });
  }
  return rows.sort((a, b) => (a.name.toLowerCase() < b.name.toLowerCase() ? -1 : a.name.toLowerCase() > b.name.toLowerCase() ? 1 : 0));
}
