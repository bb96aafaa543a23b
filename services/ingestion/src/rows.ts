/**
 * The rows a delivery stages, by their encoded `latest` key (keys.ts `rowKey` through
 * `toBufferKey`): an open-addressing hash table that keeps a copy of every key's bytes in one
 * buffer, so finding a row costs a hash of its bytes and a compare, and holding many rows holds
 * no key object per row (no string made of the key, no `Map` to grow).
 */

/** 32-bit FNV-1a of bytes `start`..`end` of `src`. */
export function keyHash(src: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ (src[i] as number), 0x01000193);
  return h | 0;
}

/**
 * Values by byte-string key (bytes `start`..`end` of a caller's buffer, compared by content),
 * with the key's {@link keyHash} given by the caller. No removal.
 */
export class KeyTable<T> {
  /** The keys' bytes, one after another. */
  private bytes: Buffer;
  private used = 0;
  /** Per slot: where its key starts in `bytes`, its length, its hash, its value (undefined: a free slot). */
  private starts: Int32Array;
  private lens: Int32Array;
  private hashes: Int32Array;
  private vals: (T | undefined)[];
  private mask: number;
  /** Entries held. */
  size = 0;

  /** @param capacity initial slots (rounded up to a power of two, at least 16). */
  constructor(capacity = 1024) {
    let n = 16;
    while (n < capacity) n *= 2;
    this.starts = new Int32Array(n);
    this.lens = new Int32Array(n);
    this.hashes = new Int32Array(n);
    this.vals = new Array(n);
    this.mask = n - 1;
    this.bytes = Buffer.allocUnsafeSlow(32 * n);
  }

  /** The value of the key at `start`..`end` of `src` (whose hash is `h`), or undefined. */
  get(src: Uint8Array, start: number, end: number, h: number): T | undefined {
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const v = this.vals[i];
      if (v === undefined || (this.hashes[i] === h && this.holds(i, src, start, end))) return v;
    }
  }

  /** Set the value of the key at `start`..`end` of `src` (whose hash is `h`) to `v` (not undefined). */
  set(src: Uint8Array, start: number, end: number, h: number, v: T): void {
    if (2 * (this.size + 1) > this.vals.length) this.grow();
    let i = h & this.mask;
    for (; this.vals[i] !== undefined; i = (i + 1) & this.mask) {
      if (this.hashes[i] === h && this.holds(i, src, start, end)) {
        this.vals[i] = v;
        return;
      }
    }
    const n = end - start;
    if (this.used + n > this.bytes.length) {
      const more = Buffer.allocUnsafeSlow(2 * (this.used + n));
      this.bytes.copy(more, 0, 0, this.used);
      this.bytes = more;
    }
    const b = this.bytes;
    for (let j = 0; j < n; j++) b[this.used + j] = src[start + j] as number;
    this.starts[i] = this.used;
    this.lens[i] = n;
    this.used += n;
    this.hashes[i] = h;
    this.vals[i] = v;
    this.size++;
  }

  /** True when slot `i` holds the bytes `start`..`end` of `src`. */
  private holds(i: number, src: Uint8Array, start: number, end: number): boolean {
    const n = end - start;
    if (this.lens[i] !== n) return false;
    const b = this.bytes;
    const at = (this.starts[i] as number) - start;
    for (let j = start; j < end; j++) if (b[at + j] !== src[j]) return false;
    return true;
  }

  private grow(): void {
    const { starts, lens, hashes, vals } = this;
    const n = 2 * vals.length;
    this.starts = new Int32Array(n);
    this.lens = new Int32Array(n);
    this.hashes = new Int32Array(n);
    this.vals = new Array(n);
    this.mask = n - 1;
    for (let s = 0; s < vals.length; s++) {
      if (vals[s] === undefined) continue;
      let i = (hashes[s] as number) & this.mask;
      while (this.vals[i] !== undefined) i = (i + 1) & this.mask;
      this.starts[i] = starts[s] as number;
      this.lens[i] = lens[s] as number;
      this.hashes[i] = hashes[s] as number;
      this.vals[i] = vals[s];
    }
  }
}
