/**
 * Choosing the files a query must open (internal): zone maps (per-column min/max, `_ts` range,
 * row and NULL counts) and key bloom filters against the query's predicates (see `plan.ts`),
 * DESIGN §5 "the shard prunes files before DuckDB opens them".
 *
 * The rule that keeps it correct — pruning never changes an answer:
 * - `<t>__history` and append-only `<t>`: every version is a row, so a file whose every row
 *   fails a predicate can go.
 * - latest-per-key `<t>`: all versions of a key share its key columns, so predicates on key
 *   columns prune like above. A predicate on another column may fail on a key's latest version
 *   while an older version passes; dropping the file holding the latest would resurrect the
 *   older one. Such a file F is dropped only when every file kept that may share a key with F
 *   (key-column zone maps overlap) holds strictly newer versions (`tsMin > F.tsMax`): then any
 *   key whose latest version is in F has all its versions in dropped files and fails the
 *   predicate anyway. Computed as a fixpoint (keeping a file can only force keeping more).
 *   With `singleVersion` (one version per key in all files, no delete) every file prunes
 *   directly; two `uniqueKeys` files never share a key, so neither forces keeping the other.
 * - `asOf`: files whose versions are all newer (`tsMin > asOf`) hold nothing visible.
 * The delta (in memory) is never pruned; its versions are newer than the files' per key.
 */
import type { TableInfo, Value } from '@stratum/shared';
import { zoneComparable } from '@stratum/shared/duckdb';
import type { FileBloom } from './bloom.ts';
import { compareValues, decodeZoneValue, keyRangesOf, type ManifestFile, rangesMayOverlap, type ValueRange } from './manifest.ts';
import type { PredOp } from './plan.ts';

/** A predicate with its operands converted to the column's zone-map comparable form (manifest.ts `decodeZoneValue`). */
export interface TypedPred {
  /** Field of a column, or `_ts` (values are TIMESTAMP µs as bigint). */
  column: string;
  op: PredOp;
  /** Operands (between: [lo, hi]); each is exactly the query's constant in the column type. */
  values: Value[];
  /** For `=`/`in` on a key column: DuckDB `hash()` of each operand, for bloom probes. */
  hashes?: bigint[];
}

/** What pruning needs to know about one view reference. */
export interface PruneInput {
  table: TableInfo;
  /** Every version is a row of the view (`<t>__history`, append-only `<t>`): files prune on any column. */
  perRow: boolean;
  /** manifest.ts `singleVersion` of the files. */
  singleVersion: boolean;
  /** Candidate (available) files. */
  files: readonly ManifestFile[];
  /** Predicates of each reference to this view; the survivors are the union over references. */
  refs: readonly (readonly TypedPred[])[];
  /** Read as of (ms). */
  asOf?: number;
  /** The file's key bloom filter, when loaded. */
  bloomOf: (f: ManifestFile) => FileBloom | undefined;
}

/** Whether a range [min, max] of a column may hold a value satisfying `p`. */
function rangeMayMatch(p: TypedPred, min: Value, max: Value): boolean {
  const ge = (a: Value, b: Value) => {
    const c = compareValues(a, b);
    return c === undefined || c >= 0;
  };
  const gt = (a: Value, b: Value) => {
    const c = compareValues(a, b);
    return c === undefined || c > 0;
  };
  const v = p.values;
  switch (p.op) {
    case '=':
    case 'in':
      return v.some((x) => ge(x, min) && ge(max, x));
    case '<':
      return gt(v[0] ?? null, min);
    case '<=':
      return ge(v[0] ?? null, min);
    case '>':
      return gt(max, v[0] ?? null);
    case '>=':
      return ge(max, v[0] ?? null);
    case 'between':
      return ge(max, v[0] ?? null) && ge(v[1] ?? null, min);
  }
}

/** Whether file `f` may hold a row satisfying `p` (zone maps, then the bloom filter). */
export function fileMayMatch(info: TableInfo, f: ManifestFile, p: TypedPred, bloom: FileBloom | undefined): boolean {
  if (p.values.some((x) => x === null)) return true;
  if (p.column === '_ts') {
    return rangeMayMatch(p, BigInt(f.tsMin) * 1000n, BigInt(f.tsMax) * 1000n);
  }
  const ci = info.fieldIndex.get(p.column);
  const col = ci === undefined ? undefined : info.columns[ci];
  if (!col) return true;
  let min: Value;
  let max: Value;
  if (!f.fields.includes(p.column)) {
    // Written before the column was added: every row holds the column's missing value (or NULL).
    const m = col.missing;
    if (m === undefined || m === null) return false;
    min = zoneComparable(m, col.type, col.typmod) ?? null;
    max = min;
  } else {
    const z = f.columns[p.column];
    if (!z) return true;
    // Every value NULL: a strict predicate is never true.
    if (z.min === null && z.max === null) return !(z.nulls >= f.rows);
    min = decodeZoneValue(z.min, col);
    max = decodeZoneValue(z.max, col);
  }
  if (min === null || max === null) return true;
  if (!rangeMayMatch(p, min, max)) return false;
  if (bloom && p.hashes && (p.op === '=' || p.op === 'in')) return bloom.mayContainAny(p.column, p.hashes);
  return true;
}

function keyRanges(info: TableInfo, f: ManifestFile): ValueRange[] {
  return keyRangesOf(info, [f]) ?? info.primaryKey.map(() => ({ min: null, max: null }));
}

/** The files of one view a query must open (see the module comment for why this is sound). */
export function pruneFiles(inp: PruneInput): ManifestFile[] {
  const { table: info } = inp;
  const visible = inp.asOf === undefined ? [...inp.files] : inp.files.filter((f) => f.tsMin <= (inp.asOf as number));
  if (inp.refs.some((r) => r.length === 0)) return visible;
  const keep = new Set<ManifestFile>();
  const perRowPrune = inp.perRow || inp.singleVersion;
  const keyCols = new Set(info.primaryKey);
  for (const preds of inp.refs) {
    const direct = perRowPrune ? preds : preds.filter((p) => keyCols.has(p.column));
    const others = perRowPrune ? [] : preds.filter((p) => !keyCols.has(p.column));
    const passKeys = visible.filter((f) => direct.every((p) => fileMayMatch(info, f, p, inp.bloomOf(f))));
    if (others.length === 0) {
      for (const f of passKeys) keep.add(f);
      continue;
    }
    // Latest-per-key view, non-key predicates: fixpoint over "must keep".
    const must = new Set(passKeys.filter((f) => others.every((p) => fileMayMatch(info, f, p, undefined))));
    const candidates = passKeys.filter((f) => !must.has(f));
    const ranges = new Map(passKeys.map((f) => [f, keyRanges(info, f)]));
    // Two `uniqueKeys` files never hold the same key (manifest.ts).
    const shares = (a: ManifestFile, b: ManifestFile) =>
      !(a.uniqueKeys === true && b.uniqueKeys === true) &&
      info.primaryKey.every((_, i) =>
        rangesMayOverlap((ranges.get(a) as ValueRange[])[i] as ValueRange, (ranges.get(b) as ValueRange[])[i] as ValueRange),
      );
    let changed = true;
    while (changed) {
      changed = false;
      for (const f of candidates) {
        if (must.has(f)) continue;
        for (const g of must) {
          if (g.tsMin <= f.tsMax && shares(f, g)) {
            must.add(f);
            changed = true;
            break;
          }
        }
      }
    }
    for (const f of must) keep.add(f);
  }
  return visible.filter((f) => keep.has(f));
}
