/**
 * The framing shared by every durable file of the node (WAL segments and
 * snapshot files): `[u32 length][u32 crc32][payload]`, little-endian, the CRC
 * (zlib's CRC-32, IEEE polynomial) taken over the payload only.
 *
 * A zero length is never written, so a region of zeros (what a file system may
 * leave after a crash that extended the file but lost the data) never parses
 * as a valid record.
 */
import { crc32 } from 'node:zlib';

/** Bytes of the `[length][crc]` header in front of every payload. */
export const RECORD_HEADER_BYTES = 8;
/** Upper bound on one payload; anything larger is treated as a corrupt length. */
export const RECORD_PAYLOAD_BYTES_MAX = 256 * 1024 * 1024;

/** Frames payloads into one buffer, ready for a single write. */
export function frameRecords(payloads: readonly Buffer[]): Buffer {
  let totalBytes = 0;
  for (const p of payloads) totalBytes += RECORD_HEADER_BYTES + p.length;
  const out = Buffer.allocUnsafe(totalBytes);
  let offset = 0;
  for (const p of payloads) {
    if (p.length === 0) throw new Error('refusing to frame an empty record payload');
    out.writeUInt32LE(p.length, offset);
    out.writeUInt32LE(crc32(p), offset + 4);
    p.copy(out, offset + RECORD_HEADER_BYTES);
    offset += RECORD_HEADER_BYTES + p.length;
  }
  return out;
}

/** Outcome of reading one record at an offset. */
export type RecordRead =
  | { readonly type: 'record'; readonly payload: Buffer; readonly nextOffset: number }
  /** The header or payload runs past the end of the buffer. */
  | { readonly type: 'incomplete' }
  /** Zero or absurd length, or a CRC mismatch. */
  | { readonly type: 'invalid'; readonly reason: string };

/** Reads the record that starts at `offset` of `buf`. */
export function readRecordAt(buf: Buffer, offset: number): RecordRead {
  if (offset + RECORD_HEADER_BYTES > buf.length) return { type: 'incomplete' };
  const length = buf.readUInt32LE(offset);
  if (length === 0) return { type: 'invalid', reason: 'zero record length' };
  if (length > RECORD_PAYLOAD_BYTES_MAX) return { type: 'invalid', reason: `record length ${length} is too large` };
  const end = offset + RECORD_HEADER_BYTES + length;
  if (end > buf.length) return { type: 'incomplete' };
  const payload = buf.subarray(offset + RECORD_HEADER_BYTES, end);
  const expectedCrc = buf.readUInt32LE(offset + 4);
  if (crc32(payload) !== expectedCrc) return { type: 'invalid', reason: 'checksum mismatch' };
  return { type: 'record', payload, nextOffset: end };
}

/**
 * Whether any valid record starts anywhere in `buf` after `fromOffset`.
 * Used to tell a torn tail (garbage up to the end of the file) from
 * corruption in the middle (a bad record followed by good ones). Scanning
 * byte by byte is cheap in practice: a random length field nearly always
 * points past the end of the file and is rejected without hashing.
 */
export function findValidRecordAfter(buf: Buffer, fromOffset: number): number | null {
  for (let offset = fromOffset; offset + RECORD_HEADER_BYTES < buf.length; offset++) {
    const r = readRecordAt(buf, offset);
    if (r.type === 'record' && looksLikeJsonObject(r.payload)) return offset;
  }
  return null;
}

function looksLikeJsonObject(payload: Buffer): boolean {
  // Every payload we write is a JSON object; requiring it rules out the
  // one-in-four-billion chance of a random CRC match being taken for data.
  return payload[0] === 0x7b && payload[payload.length - 1] === 0x7d;
}
