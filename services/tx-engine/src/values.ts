/**
 * Row and value helpers of the TX engine: full rows by field, value equality in PostgreSQL's
 * btree order (`compareValues` of shared/src/types.ts, for index and range rechecks), and the messages of constraint violations exactly as
 * PostgreSQL 15 words them (src/backend/executor/execMain.c, nbtinsert.c, ri_triggers.c).
 */
import {
  type ColumnDef,
  ConstraintError,
  compareValues,
  fieldOf,
  formatValue,
  type Row,
  readField,
  SqlState,
  type SqlType,
  type TableInfo,
  type Value,
} from '@stratum/shared';

/**
 * The row as the table's current definition sees it: every column's field (a column added
 * after the row was stored gets its `missing` value, else NULL), and nothing of dropped columns.
 */
export function fullRow(t: TableInfo, row: Readonly<Row>): Row {
  const out: Row = {};
  for (const c of t.columns) out[fieldOf(c)] = readField(row, c);
  return out;
}

/** Storage-key values of a (full) row, in key order. */
export function keyOf(t: TableInfo, row: Readonly<Row>): Value[] {
  return t.primaryKey.map((f) => row[f] ?? null);
}

/** SQL equality of two stored values of one type (NULL equals nothing). */
export function sameValue(a: Value, b: Value, type: SqlType): boolean {
  if (a === null || b === null) return false;
  if (a === b) return true;
  return compareValues(a, b, type) === 0;
}

/** Identity of two stored values for change detection (NULL is the same as NULL). */
export function identical(a: Value, b: Value, type: SqlType): boolean {
  if (a === null || b === null) return a === b;
  return sameValue(a, b, type);
}

/** The column with storage field `field`. */
export function colOf(t: TableInfo, field: string): ColumnDef {
  const i = t.fieldIndex.get(field);
  const c = i === undefined ? undefined : t.columns[i];
  if (!c) throw new Error(`table "${t.name}" has no field "${field}"`);
  return c;
}

/** PostgreSQL's text of a value in an error DETAIL. */
export function valueText(v: Value, c: ColumnDef): string {
  if (v === null) return 'null';
  try {
    return formatValue(v, c.type) ?? 'null';
  } catch {
    return String(v);
  }
}

/** `(a, b)=(1, x)` of a constraint DETAIL: column names and values of `fields`. */
export function keyText(t: TableInfo, fields: readonly string[], values: readonly Value[]): string {
  const cols = fields.map((f) => colOf(t, f));
  return `(${cols.map((c) => c.name).join(', ')})=(${cols.map((c, i) => valueText(values[i] ?? null, c)).join(', ')})`;
}

/** `Failing row contains (…).` of PostgreSQL's constraint errors: the visible columns in order. */
export function failingRow(t: TableInfo, row: Readonly<Row>): string {
  const vals = t.columns.filter((c) => !c.hidden).map((c) => valueText(readField(row, c), c));
  return `Failing row contains (${vals.join(', ')}).`;
}

/** 23505 for a duplicate value of unique constraint (or index) `name`. */
export function uniqueViolation(t: TableInfo, name: string, fields: readonly string[], values: readonly Value[]): ConstraintError {
  return new ConstraintError(SqlState.uniqueViolation, `duplicate key value violates unique constraint "${name}"`, {
    detail: `Key ${keyText(t, fields, values)} already exists.`,
  });
}

/** 23502 for a NULL in a NOT NULL column. */
export function notNullViolation(t: TableInfo, c: ColumnDef, row: Readonly<Row>): ConstraintError {
  return new ConstraintError(
    SqlState.notNullViolation,
    `null value in column "${c.name}" of relation "${t.name}" violates not-null constraint`,
    {
      detail: failingRow(t, row),
    },
  );
}

/** 23514 for a row a CHECK constraint rejects. */
export function checkViolation(t: TableInfo, name: string, row: Readonly<Row>): ConstraintError {
  return new ConstraintError('23514', `new row for relation "${t.name}" violates check constraint "${name}"`, {
    detail: failingRow(t, row),
  });
}

/** 23503 on the referencing side: the parent row is missing. */
export function fkMissingParent(
  child: TableInfo,
  fk: string,
  fields: readonly string[],
  values: readonly Value[],
  parent: TableInfo,
): ConstraintError {
  return new ConstraintError('23503', `insert or update on table "${child.name}" violates foreign key constraint "${fk}"`, {
    detail: `Key ${keyText(child, fields, values)} is not present in table "${parent.name}".`,
  });
}

/** 23503 on the referenced side: a child row still references the parent row. */
export function fkStillReferenced(
  parent: TableInfo,
  fk: string,
  child: TableInfo,
  refFields: readonly string[],
  values: readonly Value[],
): ConstraintError {
  return new ConstraintError(
    '23503',
    `update or delete on table "${parent.name}" violates foreign key constraint "${fk}" on table "${child.name}"`,
    {
      detail: `Key ${keyText(parent, refFields, values)} is still referenced from table "${child.name}".`,
    },
  );
}

/** Name of the constraint the storage key enforces (the primary key's, else `<table>_pkey`). */
export function primaryName(t: TableInfo): string {
  return t.constraints?.find((c) => c.kind === 'primary')?.name ?? `${t.name}_pkey`;
}

/** Rough encoded size of a row (bytes), for the transaction size limit without encoding twice. */
export function approxRowBytes(row: Row | null): number {
  if (!row) return 16;
  let n = 8;
  for (const k in row) {
    const v = row[k];
    n +=
      k.length + 2 + (typeof v === 'string' ? v.length * 3 : v instanceof Uint8Array ? v.length : Array.isArray(v) ? 9 * v.length + 8 : 9);
  }
  return n;
}
