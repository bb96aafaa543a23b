/**
 * The recorded history of a concurrent workload (DESIGN §10 "Invariants checked on a recorded
 * history"): one {@link Operation} per statement a session sent, with real-time bounds taken
 * from `performance.now()` in the one process that drives every session, so all invoke and
 * complete times lie on one real-time line.
 *
 * Writes write unique values (see {@link uniqueValue}), so every value a read observes names
 * the one write that produced it; the checker turns values into positions in each key's
 * version order (from `<table>__history` after quiescence).
 */

/** The four consistency modes of DESIGN §6 (same spelling as `table_consistency.<t>.mode`). */
export type Mode = 'eventual' | 'bounded_staleness' | 'monotonic_reads' | 'strict_serializable';

/** How a read was served: `point` = `SELECT … WHERE <full PK> = $1` (TX tier); `analytical` = OLAP + delta. */
export type ReadPath = 'point' | 'analytical';

/** Which part of the run an operation belongs to. */
export type Phase = 'setup' | 'load' | 'converge';

/** One table of the workload and the mode it was configured with. */
export interface TableSpec {
  /** Table name (`id bigint PRIMARY KEY, v bigint`). */
  readonly name: string;
  readonly mode: Mode;
  /** `table_consistency.<t>.max_staleness_ms` (bounded_staleness only), ms. */
  readonly maxStalenessMs?: number;
}

/** Fields every operation has. */
interface OperationBase {
  /** Index of the operation in the history (unique, dense from 0). */
  readonly id: number;
  /** Session (one pgwire connection) that sent it; the setup session is 0. */
  readonly session: number;
  readonly table: string;
  readonly mode: Mode;
  readonly phase: Phase;
  /** `performance.now()` just before the statement was sent, ms. */
  readonly invokeMs: number;
  /** `performance.now()` when the answer (or error) arrived, ms. */
  readonly completeMs: number;
  /** Whether the statement succeeded. */
  readonly ok: boolean;
  /** SQLSTATE of the error (`40001`, `57014`, …); `undefined` when ok or when the error had none (e.g. a lost connection). */
  readonly sqlstate?: string;
  /** Error message when not ok. */
  readonly error?: string;
}

/** `UPDATE <t> SET v = <value> WHERE id = <key>` (or the setup INSERT). */
export interface WriteOp extends OperationBase {
  readonly kind: 'write';
  readonly key: number;
  /** The unique value written. */
  readonly value: number;
}

/** A read of one or more keys. */
export interface ReadOp extends OperationBase {
  readonly kind: 'read';
  readonly path: ReadPath;
  /** Keys asked for. */
  readonly keys: readonly number[];
  /**
   * Value observed per key asked for (same order as `keys`); `null` = the key was absent.
   * Empty when the read failed.
   */
  readonly values: readonly (number | null)[];
}

/** One recorded operation. */
export type Operation = WriteOp | ReadOp;

/** A recorded run: the tables, the operations, and when writes stopped. */
export interface History {
  readonly tables: readonly TableSpec[];
  readonly operations: readonly Operation[];
  /**
   * Declared clock uncertainty ε of the cluster (`clock.eps_ms`), ms. The checker allows this
   * much (times a small factor) as slack where a mode's promise is stated in commit timestamps
   * rather than in real time (bounded staleness).
   */
  readonly epsMs: number;
  /** `performance.now()` when the last load-phase write completed (writes stopped), ms. */
  readonly quiescentMs: number;
}

/** One row of `<table>__history`: a committed version of a key. */
export interface VersionRow {
  readonly key: number;
  /** `v` of the version (null for a delete). */
  readonly value: number | null;
  /** `_ts`: commit time, ms since the epoch. */
  readonly ts: number;
  /** `_engine`: the TX engine that committed it. */
  readonly engine: string;
  /** `_version`: UUIDv7 text. */
  readonly version: string;
}

/**
 * Order versions of one key the way ingestion picks the latest (last-writer-wins, DESIGN §4):
 * by commit time, then engine id, then version UUID (the olap `<t>` view orders the same way).
 */
export function compareVersionRows(a: VersionRow, b: VersionRow): number {
  if (a.ts !== b.ts) return a.ts - b.ts;
  if (a.engine !== b.engine) return a.engine < b.engine ? -1 : 1;
  return a.version < b.version ? -1 : a.version > b.version ? 1 : 0;
}

/**
 * Per table, per key, the versions in version order (oldest first), built from `__history`
 * rows in any order.
 */
export type VersionOrder = Map<string, Map<number, VersionRow[]>>;

/** Group and sort `__history` rows of each table into a {@link VersionOrder}. */
export function buildVersionOrder(rowsByTable: ReadonlyMap<string, readonly VersionRow[]>): VersionOrder {
  const out: VersionOrder = new Map();
  for (const [table, rows] of rowsByTable) {
    const byKey = new Map<number, VersionRow[]>();
    for (const r of rows) {
      let l = byKey.get(r.key);
      if (!l) byKey.set(r.key, (l = []));
      l.push(r);
    }
    for (const l of byKey.values()) l.sort(compareVersionRows);
    out.set(table, byKey);
  }
  return out;
}

/**
 * The unique value the `seq`-th write of `session` writes: `session × 1e6 + seq` (seq < 1e6),
 * so an observed value names its write.
 * @throws RangeError when seq is out of range.
 */
export function uniqueValue(session: number, seq: number): number {
  if (!Number.isInteger(seq) || seq < 0 || seq >= 1_000_000) throw new RangeError(`write sequence ${seq} out of range 0..999999`);
  return session * 1_000_000 + seq;
}

/** Append-only recorder of a history; `record*` return the operation they stored. */
export class HistoryRecorder {
  readonly #ops: Operation[] = [];

  /** Operations recorded so far (live array; do not mutate). */
  get operations(): readonly Operation[] {
    return this.#ops;
  }

  /** Store a write (its `id` is assigned here). */
  recordWrite(op: Omit<WriteOp, 'id' | 'kind'>): WriteOp {
    const w: WriteOp = { ...op, kind: 'write', id: this.#ops.length };
    this.#ops.push(w);
    return w;
  }

  /** Store a read (its `id` is assigned here). */
  recordRead(op: Omit<ReadOp, 'id' | 'kind'>): ReadOp {
    const r: ReadOp = { ...op, kind: 'read', id: this.#ops.length };
    this.#ops.push(r);
    return r;
  }

  /** The recorded history. */
  toHistory(tables: readonly TableSpec[], epsMs: number): History {
    let quiescentMs = 0;
    for (const o of this.#ops) if (o.kind === 'write' && o.phase !== 'converge' && o.completeMs > quiescentMs) quiescentMs = o.completeMs;
    return { tables, operations: this.#ops, epsMs, quiescentMs };
  }
}
