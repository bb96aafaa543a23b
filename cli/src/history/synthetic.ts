/**
 * Synthetic histories from a linearizable model: every operation takes effect atomically at
 * one instant between its invoke and complete times, in one global order. Such a history keeps
 * every promise of every mode, so the checker must find zero violations in it (a property test
 * of the checker), and it gives the bench a history of any size without a cluster.
 */
import { seededRandom } from '@stratum/shared/testing';
import {
  buildVersionOrder,
  type History,
  HistoryRecorder,
  type TableSpec,
  uniqueValue,
  type VersionOrder,
  type VersionRow,
} from './history.ts';

/** Options of {@link syntheticHistory}. */
export interface SyntheticOptions {
  readonly tables: readonly TableSpec[];
  readonly sessions: number;
  /** Load-phase operations per session. */
  readonly opsPerSession: number;
  readonly keys: number;
  readonly seed: number;
  /** Longest operation, ms (default 20). */
  readonly maxLatencyMs?: number;
}

/** mulberry32 (seeded workloads and histories). */
export const rng = seededRandom;

interface Planned {
  session: number;
  table: TableSpec;
  kind: 'write' | 'point' | 'analytical';
  keys: number[];
  value: number;
  invokeMs: number;
  atMs: number;
  completeMs: number;
  phase: 'setup' | 'load' | 'converge';
}

/**
 * A clean history: setup inserts, `sessions` × `opsPerSession` random writes / point reads /
 * analytical reads, then one converge-phase full read of every table per session.
 */
export function syntheticHistory(o: SyntheticOptions): { history: History; order: VersionOrder } {
  const rand = rng(o.seed);
  const lat = o.maxLatencyMs ?? 20;
  const plan: Planned[] = [];
  const seq = new Map<number, number>();
  const nextValue = (s: number) => {
    const n = seq.get(s) ?? 0;
    seq.set(s, n + 1);
    return uniqueValue(s, n);
  };
  let t = 0;
  for (const table of o.tables) {
    for (let k = 0; k < o.keys; k++) {
      plan.push({
        session: 0,
        table,
        kind: 'write',
        keys: [k],
        value: nextValue(0),
        invokeMs: t,
        atMs: t + 0.1,
        completeMs: t + 0.2,
        phase: 'setup',
      });
      t += 0.3;
    }
  }
  let end = t;
  for (let s = 1; s <= o.sessions; s++) {
    let now = t + rand() * lat;
    for (let i = 0; i < o.opsPerSession; i++) {
      const table = o.tables[Math.floor(rand() * o.tables.length)]!;
      const x = rand();
      const kind = x < 0.4 ? 'write' : x < 0.7 ? 'point' : 'analytical';
      const key = Math.floor(rand() * o.keys);
      const keys = kind === 'analytical' ? [...new Set([key, Math.floor(rand() * o.keys), Math.floor(rand() * o.keys)])] : [key];
      const invokeMs = now;
      const atMs = invokeMs + rand() * lat;
      const completeMs = atMs + rand() * lat;
      plan.push({ session: s, table, kind, keys, value: kind === 'write' ? nextValue(s) : 0, invokeMs, atMs, completeMs, phase: 'load' });
      now = completeMs + rand();
    }
    end = Math.max(end, now);
  }
  for (let s = 1; s <= o.sessions; s++) {
    for (const table of o.tables) {
      const invokeMs = end + 1 + s;
      const all = Array.from({ length: o.keys }, (_, k) => k);
      plan.push({
        session: s,
        table,
        kind: 'analytical',
        keys: all,
        value: 0,
        invokeMs,
        atMs: invokeMs + 0.5,
        completeMs: invokeMs + 1,
        phase: 'converge',
      });
    }
  }
  // Apply in linearization order; reads observe the state at their instant.
  const order = [...plan.keys()].sort((a, b) => plan[a]!.atMs - plan[b]!.atMs);
  const state = new Map<string, number>();
  const rows = new Map<string, VersionRow[]>();
  const observed = new Map<number, (number | null)[]>();
  let version = 0;
  for (const i of order) {
    const p = plan[i]!;
    if (p.kind === 'write') {
      const k = p.keys[0]!;
      state.set(`${p.table.name}/${k}`, p.value);
      let l = rows.get(p.table.name);
      if (!l) rows.set(p.table.name, (l = []));
      l.push({ key: k, value: p.value, ts: version, engine: 'tx1', version: String(version).padStart(12, '0') });
      version++;
    } else {
      observed.set(
        i,
        p.keys.map((k) => state.get(`${p.table.name}/${k}`) ?? null),
      );
    }
  }
  const rec = new HistoryRecorder();
  plan.forEach((p, i) => {
    const base = {
      session: p.session,
      table: p.table.name,
      mode: p.table.mode,
      phase: p.phase,
      invokeMs: p.invokeMs,
      completeMs: p.completeMs,
      ok: true,
    };
    if (p.kind === 'write') rec.recordWrite({ ...base, key: p.keys[0]!, value: p.value });
    else rec.recordRead({ ...base, path: p.kind, keys: p.keys, values: observed.get(i) ?? [] });
  });
  return { history: rec.toHistory(o.tables, 5), order: buildVersionOrder(rows) };
}
