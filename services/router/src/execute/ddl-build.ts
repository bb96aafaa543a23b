/**
 * Building catalog definitions from DDL statements (PostgreSQL 15 CREATE TABLE, CREATE
 * SEQUENCE, ALTER TABLE): column types with their modifiers, serial and identity columns with
 * their sequences, DEFAULT and CHECK expressions compiled once (kept in the catalog with their
 * text), PRIMARY KEY / UNIQUE / FOREIGN KEY constraints with PostgreSQL's constraint and index
 * names, and the hidden `_rowid` of tables without a primary key.
 */

import type { Constraint, CreateStmt, DefElem, Node, TypeName } from '@pgsql/types';
import {
  type Catalog,
  type ColumnDef,
  type ConstraintDef,
  charLength,
  type ExprDef,
  type FkAction,
  fieldOf,
  numericTypmod,
  ROWID,
  resolveTypeName,
  SchemaError,
  type SequenceDef,
  SqlState,
  type SqlType,
  StratumError,
  type TableDef,
  type TableInfo,
  UnsupportedError,
} from '@stratum/shared';
import { constString, entryOf, expectNode, listItems, nodeOf, nodeType, present, strOf } from '../analyze/ast.ts';
import { castTo, compileExpr } from '../analyze/compile.ts';
import { ParamTypes, RowScope, type SessionValues } from '../analyze/scope.ts';
import { someNode, transformNodes } from '../analyze/walk.ts';
import { parseNameParts } from '../catalog/rewrite.ts';
import { deparse } from '../plan/duckdb-sql.ts';

/** PostgreSQL's identifier length limit (NAMEDATALEN − 1). */
const MAX_NAME = 63;

/** A type as written in DDL: base type, modifier, array-ness, and serial-ness. */
export interface ColumnType {
  type: SqlType;
  typmod?: number;
  serial?: 'smallint' | 'integer' | 'bigint';
}

const SERIALS: Record<string, 'smallint' | 'integer' | 'bigint'> = {
  serial: 'integer',
  serial4: 'integer',
  bigserial: 'bigint',
  serial8: 'bigint',
  smallserial: 'smallint',
  serial2: 'smallint',
};

/**
 * The column type of a TypeName node (`varchar(20)`, `numeric(10,2)`, `int[]`, `serial`).
 * @throws SchemaError 42704 for an unknown type; 0A000 for multi-dimensional arrays.
 */
export function columnType(tn: TypeName, positionOf: (loc: number | undefined) => number | undefined): ColumnType {
  const names = (tn.names ?? []).map((n) => strOf(n) ?? '');
  const name = (names.length > 1 && names[0] === 'pg_catalog' ? names[names.length - 1] : names.join('.')) ?? '';
  const mods = (tn.typmods ?? []).map((m) => Number(nodeOf(m, 'A_Const')?.ival?.ival ?? 0));
  const bounds = tn.arrayBounds ?? [];
  const pos = positionOf(tn.location);
  if (bounds.length > 1)
    throw new UnsupportedError('multi-dimensional array columns are not supported', pos === undefined ? {} : { position: pos });
  const serial = SERIALS[name];
  if (serial) {
    if (bounds.length) throw new SchemaError(SqlState.featureNotSupported, 'array of serial is not implemented');
    return { type: serial, serial };
  }
  let base = resolveTypeName(name);
  if (!base && (name === 'timestamp' || name === 'timestamptz' || name === 'time' || name === 'interval')) base = name;
  if (!base || base.endsWith('[]')) {
    throw new SchemaError(SqlState.undefinedObject, `type "${name}" does not exist`, pos === undefined ? {} : { position: pos });
  }
  const out: ColumnType = { type: (bounds.length ? `${base}[]` : base) as SqlType };
  if (base === 'varchar' && mods.length) out.typmod = (mods[0] ?? 0) + 4;
  if (base === 'char') out.typmod = (mods[0] ?? 1) + 4;
  if (base === 'numeric' && mods.length) {
    const p = mods[0] ?? 0;
    const sc = mods[1] ?? 0;
    if (p < 1 || p > 1000) throw new SchemaError('22023', `NUMERIC precision ${p} must be between 1 and 1000`);
    if (sc < 0 || sc > p) throw new SchemaError('22023', `NUMERIC scale ${sc} must be between 0 and precision ${p}`);
    out.typmod = numericTypmod(p, sc);
  }
  if ((base === 'varchar' || base === 'char') && out.typmod !== undefined && (charLength(out.typmod) ?? 1) < 1) {
    throw new SchemaError('22023', `length for type ${base} must be at least 1`);
  }
  return out;
}

/** A name PostgreSQL's way: `parts` joined with `_`, cut to 63 bytes, a number appended while taken. */
export function chooseName(parts: string[], suffix: string, taken: (n: string) => boolean): string {
  const base = parts.join('_');
  for (let i = 0; ; i++) {
    const tail = `_${suffix}${i === 0 ? '' : i}`;
    const name = `${base.slice(0, MAX_NAME - Buffer.byteLength(tail))}${tail}`;
    if (!taken(name)) return name;
  }
}

/** Sequence options (CREATE SEQUENCE, identity columns, ALTER SEQUENCE) onto `seq`. @throws 22023 on bad ones. */
export function sequenceOptions(seq: SequenceDef, options: Node[], creating: boolean): { restart?: bigint; ownedBy?: Node[] } {
  const num = (d: DefElem): bigint => {
    const a = d.arg;
    const c = nodeOf(a, 'A_Const');
    const v = nodeOf(a, 'Integer')?.ival ?? nodeOf(a, 'Float')?.fval ?? c?.ival?.ival ?? c?.fval?.fval;
    return BigInt(v ?? 0);
  };
  let restart: bigint | undefined;
  let ownedBy: Node[] | undefined;
  let minSet = false;
  let maxSet = false;
  let startSet = false;
  for (const o of options) {
    const d = expectNode(o, 'DefElem');
    switch (d.defname) {
      case 'as': {
        const t = resolveTypeName((nodeOf(d.arg, 'TypeName')?.names ?? []).map((n) => strOf(n)).pop() ?? '');
        if (t !== 'smallint' && t !== 'integer' && t !== 'bigint')
          throw new StratumError('22023', 'sequence type must be smallint, integer, or bigint');
        seq.type = t;
        break;
      }
      case 'increment':
        seq.increment = num(d);
        if (seq.increment === 0n) throw new StratumError('22023', 'INCREMENT must not be zero');
        break;
      case 'minvalue':
        if (d.arg) {
          seq.min = num(d);
          minSet = true;
        }
        break;
      case 'maxvalue':
        if (d.arg) {
          seq.max = num(d);
          maxSet = true;
        }
        break;
      case 'start':
        seq.start = num(d);
        startSet = true;
        break;
      case 'restart':
        restart = d.arg ? num(d) : seq.start;
        break;
      case 'cache':
        seq.cache = Math.max(1, Number(num(d)));
        break;
      case 'cycle':
        seq.cycle = Boolean(nodeOf(d.arg, 'Boolean')?.boolval ?? nodeOf(d.arg, 'Integer')?.ival ?? true);
        break;
      case 'owned_by':
        ownedBy = listItems(d.arg) ?? [];
        break;
      case 'sequence_name':
        break;
      default:
        throw new UnsupportedError(`sequence option "${d.defname}" is not supported`);
    }
  }
  const limits: Record<string, [bigint, bigint]> = {
    smallint: [-32768n, 32767n],
    integer: [-2147483648n, 2147483647n],
    bigint: [-(2n ** 63n), 2n ** 63n - 1n],
  };
  const [lo, hi] = limits[seq.type] as [bigint, bigint];
  if (creating || !minSet) if (!minSet) seq.min = seq.increment > 0n ? 1n : lo;
  if (creating || !maxSet) if (!maxSet) seq.max = seq.increment > 0n ? hi : -1n;
  if (creating && !startSet) seq.start = seq.increment > 0n ? seq.min : seq.max;
  if (seq.min >= seq.max) throw new StratumError('22023', `MINVALUE (${seq.min}) must be less than MAXVALUE (${seq.max})`);
  if (seq.start < seq.min) throw new StratumError('22023', `START value (${seq.start}) cannot be less than MINVALUE (${seq.min})`);
  if (seq.start > seq.max) throw new StratumError('22023', `START value (${seq.start}) cannot be greater than MAXVALUE (${seq.max})`);
  const out: { restart?: bigint; ownedBy?: Node[] } = {};
  if (restart !== undefined) out.restart = restart;
  if (ownedBy) out.ownedBy = ownedBy;
  return out;
}

/** A new sequence definition with PostgreSQL's defaults for `type`. */
export function newSequence(name: string, type: 'smallint' | 'integer' | 'bigint'): SequenceDef {
  return { name, type, start: 1n, increment: 1n, min: 1n, max: 1n, cycle: false, cache: 1 };
}

const FK_ACTION: Record<string, FkAction> = { a: 'no_action', r: 'restrict', c: 'cascade', n: 'set_null', d: 'set_default' };

/** What CREATE TABLE (or ALTER TABLE ADD COLUMN / ADD CONSTRAINT) builds. */
export interface TableBuild {
  def: TableDef;
  /** Sequences to create first (serial, identity). */
  sequences: SequenceDef[];
  /** Constraints needing a check of existing rows or an index build (ALTER TABLE). */
  added: ConstraintDef[];
}

/** Everything DDL builders need. */
export interface BuildEnv {
  catalog: Catalog;
  session: SessionValues;
  positionOf: (loc: number | undefined) => number | undefined;
}

/** Relation names taken in the catalog or by this build. */
function takenNames(env: BuildEnv, extra: Set<string>): (n: string) => boolean {
  return (n) => extra.has(n) || env.catalog.relationExists(n);
}

/** A compiled DEFAULT of column `c` (no column references allowed: 0A000 as PostgreSQL). */
export function compileDefault(raw: Node, c: ColumnDef, env: BuildEnv): ExprDef {
  if (someNode(raw, (type) => type === 'ColumnRef')) {
    throw new StratumError('0A000', 'cannot use column reference in DEFAULT expression');
  }
  const scope = new RowScope({ params: new ParamTypes(), session: env.session });
  const expr = castTo(compileExpr(sequenceArgs(raw, false), scope, c.type), c, 'assignment');
  const def: ExprDef = { sql: deparse(sequenceArgs(raw, true)), expr };
  if (
    someNode(
      raw,
      (type, n) =>
        type === 'FuncCall' &&
        /^(nextval|random|gen_random_uuid|clock_timestamp|uuid_generate_v4)$/.test(String(strOf((n.funcname ?? []).at(-1)))),
    )
  ) {
    def.volatile = true;
  }
  return def;
}

/**
 * `nextval('public.s'::regclass)` (pg_dump's spelling of a serial default): the sequence named
 * as a sequence function reads it (`s`), kept as a regclass cast in the stored text (`keepCast`,
 * what ruleutils prints) and as plain text for the evaluator, which takes sequence names.
 */
export function sequenceArgs(raw: Node, keepCast: boolean): Node {
  return transformNodes(raw, (type, n) => {
    if (type !== 'FuncCall') return undefined;
    const fn = strOf((n.funcname ?? []).at(-1));
    const cast = nodeOf(n.args?.[0], 'TypeCast');
    const reg = strOf((cast?.typeName?.names ?? []).at(-1));
    const name = constString(cast?.arg);
    if ((fn !== 'nextval' && fn !== 'currval') || n.args?.length !== 1 || reg !== 'regclass' || name === undefined) return undefined;
    const parts = parseNameParts(name);
    const bare: Node = { A_Const: { sval: { sval: parts[parts.length - 1] ?? name } } };
    const arg = keepCast ? { TypeCast: { ...cast, arg: bare } } : bare;
    return { FuncCall: { ...n, args: [arg] } };
  });
}

/** A compiled CHECK over the table's row (boolean). */
export function compileCheck(raw: Node, t: TableInfo, env: BuildEnv): ExprDef {
  const scope = new RowScope({ table: t, alias: t.name, params: new ParamTypes(), session: env.session });
  return { sql: deparse(raw), expr: compileExpr(raw, scope, 'boolean') };
}

/** Add the columns and constraints of CREATE TABLE's elements (or ALTER's) to `b`. */
export function addElements(b: TableBuild, elements: Node[], env: BuildEnv, creating: boolean): void {
  const def = b.def;
  const names = new Set<string>([...b.sequences.map((s) => s.name)]);
  const taken = takenNames(env, names);
  const later: { con: Constraint; column?: string }[] = [];
  for (const el of elements) {
    const [type, fields] = entryOf(el);
    if (type === 'ColumnDef') {
      const cd = fields;
      const name = cd.colname ?? '';
      if (def.columns.some((c) => c.name === name)) {
        throw new SchemaError(
          SqlState.duplicateColumn,
          creating ? `column "${name}" specified more than once` : `column "${name}" of relation "${def.name}" already exists`,
        );
      }
      const ct = columnType(present(cd.typeName, 'the type of a column definition'), env.positionOf);
      const attnum = def.nextAttnum ?? def.columns.length + 1;
      def.nextAttnum = attnum + 1;
      const col: ColumnDef = { name, type: ct.type, notNull: false, attnum, field: creating ? name : `${name}@${attnum}` };
      if (ct.typmod !== undefined) col.typmod = ct.typmod;
      if (ct.serial) {
        const seq = newSequence(chooseName([def.name, name], 'seq', taken), ct.serial);
        sequenceOptions(seq, [], true);
        seq.ownedBy = { table: def.name, column: name };
        b.sequences.push(seq);
        names.add(seq.name);
        col.notNull = true;
        col.sequence = seq.name;
        col.default = {
          sql: `nextval('${seq.name}'::regclass)`,
          expr: castTo({ k: 'call', fn: 'nextval', args: [{ k: 'const', v: seq.name, t: 'text' }], t: 'bigint' }, col, 'assignment'),
          volatile: true,
        };
      }
      def.columns.push(col);
      for (const c of cd.constraints ?? []) {
        const con = expectNode(c, 'Constraint');
        switch (con.contype) {
          case 'CONSTR_NOTNULL':
            col.notNull = true;
            break;
          case 'CONSTR_NULL':
            col.notNull = false;
            break;
          case 'CONSTR_DEFAULT':
            if (col.identity)
              throw new StratumError('42601', `both default and identity specified for column "${name}" of table "${def.name}"`);
            col.default = compileDefault(present(con.raw_expr, 'the expression of a DEFAULT'), col, env);
            break;
          case 'CONSTR_IDENTITY': {
            if (col.default)
              throw new StratumError('42601', `both default and identity specified for column "${name}" of table "${def.name}"`);
            if (col.type !== 'smallint' && col.type !== 'integer' && col.type !== 'bigint') {
              throw new StratumError('22023', `identity column type must be smallint, integer, or bigint`);
            }
            const seq = newSequence(chooseName([def.name, name], 'seq', taken), col.type);
            sequenceOptions(seq, con.options ?? [], true);
            seq.ownedBy = { table: def.name, column: name };
            b.sequences.push(seq);
            names.add(seq.name);
            col.identity = con.generated_when === 'a' ? 'always' : 'by_default';
            col.sequence = seq.name;
            col.notNull = true;
            break;
          }
          case 'CONSTR_GENERATED':
            throw new UnsupportedError('generated columns are not supported');
          default:
            later.push({ con, column: name });
        }
      }
    } else if (type === 'Constraint') {
      later.push({ con: fields });
    } else if (type === 'TableLikeClause') {
      throw new UnsupportedError('CREATE TABLE … (LIKE …) is not supported');
    } else {
      throw new UnsupportedError(`table element ${nodeType(el)} is not supported`);
    }
  }
  for (const { con, column } of later) addConstraint(b, con, column, env, taken, names);
}

/** Field of a column named `name` in the definition. @throws 42703. */
function fieldNamed(def: TableDef, name: string, what: string): string {
  const c = def.columns.find((x) => x.name === name && !x.hidden);
  if (!c) throw new SchemaError(SqlState.undefinedColumn, `column "${name}" named in ${what} does not exist`);
  return fieldOf(c);
}

/** Add one constraint (column-level when `column` is given). */
export function addConstraint(
  b: TableBuild,
  con: Constraint,
  column: string | undefined,
  env: BuildEnv,
  taken: (n: string) => boolean,
  names: Set<string>,
): void {
  const def = b.def;
  const cols = (list: Node[] | undefined): string[] => (list ?? []).map((k) => strOf(k) ?? '');
  const isTaken = (n: string) =>
    taken(n) || names.has(n) || (def.constraints ?? []).some((c) => c.name === n) || (def.indexes ?? []).some((i) => i.name === n);
  const named = (parts: string[], suffix: string) => {
    const n = con.conname ?? chooseName(parts, suffix, isTaken);
    if ((def.constraints ?? []).some((c) => c.name === n)) {
      throw new StratumError('42710', `constraint "${n}" for relation "${def.name}" already exists`);
    }
    names.add(n);
    return n;
  };
  def.constraints ??= [];
  switch (con.contype) {
    case 'CONSTR_PRIMARY': {
      const keys = column ? [column] : cols(con.keys);
      if (def.constraints.some((c) => c.kind === 'primary')) {
        throw new SchemaError(SqlState.invalidTableDefinition, `multiple primary keys for table "${def.name}" are not allowed`);
      }
      const fields = keys.map((k) => fieldNamed(def, k, 'key'));
      for (const f of fields) {
        const c = def.columns.find((x) => fieldOf(x) === f) as ColumnDef;
        c.notNull = true;
      }
      const name = named([def.name], 'pkey');
      const c: ConstraintDef = { kind: 'primary', name, columns: fields, index: name };
      def.constraints.push(c);
      if (def.primaryKey.length === 0) def.primaryKey = fields;
      else {
        // A table with a _rowid gets its primary key as a unique index (ALTER TABLE … ADD PRIMARY KEY).
        def.indexes = [...(def.indexes ?? []), { name, columns: fields, unique: true, state: 'building', constraint: name }];
        b.added.push(c);
      }
      return;
    }
    case 'CONSTR_UNIQUE': {
      const keys = column ? [column] : cols(con.keys);
      const fields = keys.map((k) => fieldNamed(def, k, 'key'));
      const name = named([def.name, ...keys], 'key');
      const c: ConstraintDef = { kind: 'unique', name, columns: fields, index: name };
      def.constraints.push(c);
      def.indexes = [...(def.indexes ?? []), { name, columns: fields, unique: true, state: 'building', constraint: name }];
      b.added.push(c);
      return;
    }
    case 'CONSTR_CHECK': {
      const raw = present(con.raw_expr, 'the expression of a CHECK');
      const first = column ?? firstColumn(raw);
      const name = named(first ? [def.name, first] : [def.name], 'check');
      const info = env.catalog.infoOf(def);
      const c: ConstraintDef = { kind: 'check', name, check: compileCheck(raw, info, env) };
      def.constraints.push(c);
      if (!con.skip_validation) b.added.push(c);
      return;
    }
    case 'CONSTR_FOREIGN': {
      const keys = column ? [column] : cols(con.fk_attrs);
      const fields = keys.map((k) => fieldNamed(def, k, 'key'));
      const refName = con.pktable?.relname ?? '';
      const ref = refName === def.name ? env.catalog.infoOf(def) : env.catalog.find(refName);
      if (!ref) throw new SchemaError(SqlState.undefinedTable, `relation "${refName}" does not exist`);
      let refCols = cols(con.pk_attrs).map((k) => fieldNamed(ref, k, 'foreign key'));
      const keyCons = (ref.constraints ?? []).filter((c) => c.kind === 'primary' || c.kind === 'unique') as Extract<
        ConstraintDef,
        { kind: 'primary' | 'unique' }
      >[];
      if (refCols.length === 0) {
        const pk = keyCons.find((c) => c.kind === 'primary');
        if (!pk) throw new SchemaError('42830', `there is no primary key for referenced table "${refName}"`);
        refCols = pk.columns;
      }
      const same = (a: string[]) => a.length === refCols.length && a.every((x) => refCols.includes(x));
      if (!keyCons.some((c) => same(c.columns))) {
        throw new SchemaError('42830', `there is no unique constraint matching given keys for referenced table "${refName}"`);
      }
      if (refCols.length !== fields.length) {
        throw new SchemaError('42830', 'number of referencing and referenced columns for foreign key disagree');
      }
      const name = named([def.name, ...keys], 'fkey');
      const c: ConstraintDef = {
        kind: 'foreign',
        name,
        columns: fields,
        refTable: refName,
        refColumns: refCols,
        onDelete: FK_ACTION[con.fk_del_action ?? 'a'] ?? 'no_action',
        onUpdate: FK_ACTION[con.fk_upd_action ?? 'a'] ?? 'no_action',
      };
      def.constraints.push(c);
      if (!con.skip_validation) b.added.push(c);
      return;
    }
    case 'CONSTR_EXCLUSION':
      throw new UnsupportedError('exclusion constraints are not supported');
    case 'CONSTR_NOTNULL':
    case 'CONSTR_NULL':
    case 'CONSTR_DEFAULT':
      return;
    default:
      throw new UnsupportedError(`constraint ${String(con.contype).replace('CONSTR_', '')} is not supported`);
  }
}

/** The first column a CHECK expression names (PostgreSQL names table checks after it). */
function firstColumn(e: Node): string | undefined {
  let out: string | undefined;
  someNode(e, (type, n) => {
    if (type !== 'ColumnRef') return false;
    const f = n.fields ?? [];
    out = strOf(f[f.length - 1]);
    return out !== undefined;
  });
  return out;
}

/**
 * The definition of a new table from CREATE TABLE: columns, constraints, indexes (valid at
 * once: the table is empty), sequences, and `_rowid` when it has no primary key.
 * @throws SchemaError with PostgreSQL's SQLSTATEs (42P07, 42701, 42704, 42830, …).
 */
export function buildCreateTable(s: CreateStmt, env: BuildEnv): TableBuild {
  const rel = present(s.relation, 'the table of a CREATE TABLE');
  if (rel.schemaname && rel.schemaname !== 'public') throw new StratumError('3F000', `schema "${rel.schemaname}" does not exist`);
  if (rel.relpersistence === 't') throw new UnsupportedError('temporary tables are not supported');
  if (s.inhRelations || s.partspec || s.partbound) throw new UnsupportedError('table inheritance and partitioning are not supported');
  const def: TableDef = { name: rel.relname ?? '', columns: [], primaryKey: [] };
  const b: TableBuild = { def, sequences: [], added: [] };
  addElements(b, s.tableElts ?? [], env, true);
  if (def.primaryKey.length === 0) {
    const attnum = def.nextAttnum ?? def.columns.length + 1;
    def.columns.push({ name: ROWID, type: 'uuid', notNull: true, hidden: true, attnum: 0, field: ROWID });
    def.nextAttnum = attnum;
    def.primaryKey = [ROWID];
  }
  for (const ix of def.indexes ?? []) ix.state = 'valid';
  const opts = (s.options ?? []).map((o) => expectNode(o, 'DefElem'));
  if (opts.length) {
    def.reloptions = {};
    for (const o of opts)
      def.reloptions[o.defname ?? ''] = String(
        nodeOf(o.arg, 'Integer')?.ival ?? strOf(o.arg) ?? constString(o.arg) ?? nodeOf(o.arg, 'A_Const')?.ival?.ival ?? 'true',
      );
  }
  return b;
}
