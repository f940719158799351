// The search memo of Wing & Gong / Lowe: the set of (linearized ops, state)
// pairs already explored. Keys live in one flat Uint32Array, indexed by an
// open-addressing table, so a million entries cost a few typed arrays
// instead of a million objects.

/** Bytes of memo memory in use, shared by all memos of one partition search. */
export interface MemoAccount {
  bytes: number;
}

/** Hash of a key (murmur3-style mixing of its words). */
function hashKey(key: Uint32Array, len: number): number {
  let h = 0x9747b28c ^ len;
  for (let i = 0; i < len; i++) {
    let k = Math.imul(key[i]!, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const MAX_INITIAL_CAPACITY = 1024;

/**
 * A set of variable-length keys of 32-bit words (a compact encoding of
 * (linearized ops, state), built by the segment search).
 */
export class MemoSet {
  private arena: Uint32Array;
  private used = 0;
  private offsets: Int32Array;
  private hashes: Uint32Array;
  /** Entry index + 1; 0 = empty slot. */
  private table: Int32Array;
  private mask: number;
  count = 0;

  /**
   * `expected`: how many entries the caller expects (a segment's op count):
   * the table starts near that size, since growing it step by step from a
   * handful of entries cost more than the search of a small segment itself.
   */
  constructor(
    private readonly account: MemoAccount,
    expected = 8,
  ) {
    let capacity = 8;
    while (capacity < expected && capacity < MAX_INITIAL_CAPACITY) capacity *= 2;
    this.arena = new Uint32Array(capacity * 4);
    this.offsets = new Int32Array(capacity);
    this.hashes = new Uint32Array(capacity);
    this.table = new Int32Array(capacity * 2);
    this.mask = capacity * 2 - 1;
    account.bytes += this.bytes();
  }

  bytes(): number {
    return this.arena.byteLength + this.offsets.byteLength + this.hashes.byteLength + this.table.byteLength;
  }

  /** Adds key[0..len); returns false when it was already present. */
  insert(key: Uint32Array, len: number): boolean {
    const h = hashKey(key, len);
    const { arena, offsets, hashes, table, mask } = this;
    let slot = h & mask;
    for (;;) {
      const entry = table[slot]!;
      if (entry === 0) break;
      const e = entry - 1;
      if (hashes[e] === h) {
        const base = offsets[e]!;
        if (arena[base] === len) {
          let same = true;
          for (let w = 0; w < len; w++) {
            if (arena[base + 1 + w] !== key[w]) {
              same = false;
              break;
            }
          }
          if (same) return false;
        }
      }
      slot = (slot + 1) & mask;
    }
    if (this.count === hashes.length || this.used + len + 1 > arena.length) {
      this.grow(len + 1);
      slot = h & this.mask;
      while (this.table[slot] !== 0) slot = (slot + 1) & this.mask;
    }
    const e = this.count;
    const base = this.used;
    this.arena[base] = len;
    this.arena.set(key.subarray(0, len), base + 1);
    this.used = base + len + 1;
    this.offsets[e] = base;
    this.hashes[e] = h;
    this.table[slot] = e + 1;
    this.count = e + 1;
    return true;
  }

  private grow(words: number): void {
    const before = this.bytes();
    if (this.used + words > this.arena.length) {
      const arena = new Uint32Array(Math.max(this.arena.length * 2, this.used + words));
      arena.set(this.arena.subarray(0, this.used));
      this.arena = arena;
    }
    if (this.count === this.hashes.length) {
      const capacity = this.hashes.length * 2;
      const offsets = new Int32Array(capacity);
      offsets.set(this.offsets);
      const hashes = new Uint32Array(capacity);
      hashes.set(this.hashes);
      const table = new Int32Array(capacity * 2);
      const mask = capacity * 2 - 1;
      for (let e = 0; e < this.count; e++) {
        let slot = hashes[e]! & mask;
        while (table[slot] !== 0) slot = (slot + 1) & mask;
        table[slot] = e + 1;
      }
      this.offsets = offsets;
      this.hashes = hashes;
      this.table = table;
      this.mask = mask;
    }
    this.account.bytes += this.bytes() - before;
  }
}
