// The search memo of Wing & Gong / Lowe: the set of (linearized ops, state)
// pairs already explored. Keys live in one flat Uint32Array (bitset words
// followed by the state id), indexed by an open-addressing table, so a
// million entries cost a few typed arrays instead of a million objects.

/** Bytes of memo memory in use, shared by all memos of one partition search. */
export interface MemoAccount {
  bytes: number;
}

let zobristTable = new Uint32Array(0);

/**
 * Deterministic random 32-bit value per op slot: the hash of a bitset is the
 * XOR of the values of its set bits (Zobrist hashing), so adding or removing
 * one op updates the hash in O(1).
 */
export function zobrist(count: number): Uint32Array {
  if (zobristTable.length >= count) return zobristTable;
  const table = new Uint32Array(Math.max(count, zobristTable.length * 2, 1024));
  let x = 0x9e3779b9;
  for (let i = 0; i < table.length; i++) {
    // xorshift32, fixed seed: the same hashes on every run.
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    table[i] = x >>> 0;
  }
  zobristTable = table;
  return table;
}

function mix(h: number, stateId: number): number {
  let x = (h ^ Math.imul(stateId + 1, 0x9e3779b1)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A set of (bitset, state id) pairs for bitsets of a fixed word count. */
export class MemoSet {
  private readonly stride: number;
  private keys: Uint32Array;
  private hashes: Uint32Array;
  /** Entry index + 1; 0 = empty slot. */
  private table: Int32Array;
  private mask: number;
  count = 0;

  constructor(
    private readonly words: number,
    private readonly account: MemoAccount,
  ) {
    this.stride = words + 1;
    const capacity = 8;
    this.keys = new Uint32Array(capacity * this.stride);
    this.hashes = new Uint32Array(capacity);
    this.table = new Int32Array(capacity * 2);
    this.mask = capacity * 2 - 1;
    account.bytes += this.bytes();
  }

  bytes(): number {
    return this.keys.byteLength + this.hashes.byteLength + this.table.byteLength;
  }

  /** Adds the pair; returns false when it was already present. */
  insert(bits: Uint32Array, stateId: number, bitsHash: number): boolean {
    const h = mix(bitsHash, stateId);
    const { stride, words, keys, hashes, table, mask } = this;
    let slot = h & mask;
    for (;;) {
      const entry = table[slot]!;
      if (entry === 0) break;
      const e = entry - 1;
      if (hashes[e] === h) {
        const base = e * stride;
        if (keys[base + words] === stateId) {
          let same = true;
          for (let w = 0; w < words; w++) {
            if (keys[base + w] !== bits[w]) {
              same = false;
              break;
            }
          }
          if (same) return false;
        }
      }
      slot = (slot + 1) & mask;
    }
    const e = this.count;
    if (e === hashes.length) {
      this.grow();
      return this.insertNew(bits, stateId, h);
    }
    const base = e * stride;
    for (let w = 0; w < words; w++) keys[base + w] = bits[w]!;
    keys[base + words] = stateId;
    hashes[e] = h;
    table[slot] = e + 1;
    this.count = e + 1;
    return true;
  }

  private insertNew(bits: Uint32Array, stateId: number, h: number): boolean {
    const { stride, words, keys, hashes, table, mask } = this;
    let slot = h & mask;
    while (table[slot] !== 0) slot = (slot + 1) & mask;
    const e = this.count;
    const base = e * stride;
    for (let w = 0; w < words; w++) keys[base + w] = bits[w]!;
    keys[base + words] = stateId;
    hashes[e] = h;
    table[slot] = e + 1;
    this.count = e + 1;
    return true;
  }

  private grow(): void {
    const before = this.bytes();
    const capacity = this.hashes.length * 2;
    const keys = new Uint32Array(capacity * this.stride);
    keys.set(this.keys);
    const hashes = new Uint32Array(capacity);
    hashes.set(this.hashes);
    const table = new Int32Array(capacity * 2);
    const mask = capacity * 2 - 1;
    for (let e = 0; e < this.count; e++) {
      let slot = hashes[e]! & mask;
      while (table[slot] !== 0) slot = (slot + 1) & mask;
      table[slot] = e + 1;
    }
    this.keys = keys;
    this.hashes = hashes;
    this.table = table;
    this.mask = mask;
    this.account.bytes += this.bytes() - before;
  }
}
