/**
 * Stream partitioning (DESIGN §3): partition = hash(table, key) mod P. The hash is 32-bit
 * FNV-1a over the table name and the MessagePack-free canonical text of the key values,
 * so every service computes the same partition for the same key.
 */
import type { Value } from './types.ts';

/** Canonical text of a key, used for hashing and as a map key (`\u0001`-separated, typed). */
export function keyString(key: readonly Value[]): string {
  let s = '';
  for (const v of key) {
    const t = typeof v;
    s += `${v === null ? 'n' : t === 'bigint' ? 'i' : t === 'number' ? (Number.isInteger(v) ? 'i' : 'f') : t === 'boolean' ? 'b' : 's'}${String(v)}\u0001`;
  }
  return s;
}

/** 32-bit FNV-1a of a string's UTF-16 code units. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Partition of a row: FNV-1a(table + "\0" + keyString(key)) mod `partitions`. */
export function partitionOf(table: string, key: readonly Value[], partitions: number): number {
  return fnv1a(`${table}\u0000${keyString(key)}`) % partitions;
}
