/**
 * The soft-label file: one header, then parts, each part the stored crops and
 * labels of a contiguous range of samples.
 *
 *   file:  "MEALLBLS" | u32 version | u32 header bytes | u32 CRC-32 of header | header JSON | parts
 *   part:  boxes f32 (n, M, 4) | flips u8 (n, M) | [indices u16 (n, M, k)] | values (n, M, k or C)
 *
 * The header lists every part's sample range, byte offset, length and CRC-32,
 * so a truncated or corrupt part is found before training and named. Each
 * array starts on a 4-byte boundary. Values are float32, or float16 bits.
 */
import * as zlib from 'node:zlib';
import type { AugmentOptions } from '../data/augment.js';
import { MealError } from '../util/errors.js';
import { storedPerRow, type CompressionSpec } from './compress.js';

export const LABELS_MAGIC = Buffer.from('MEALLBLS');
export const LABELS_VERSION = 1;
const FIXED = 20;

export interface LabelTeacher {
  name: string;
  /** The path it was given as (a model folder or a descriptor). */
  path: string;
  /** SHA-256 of its model files: what identifies a teacher. */
  sha256: string;
  output: 'logits' | 'probabilities';
  /** Top-1 on the test split when the labels were made (percent). */
  top1?: number;
  top5?: number;
  params?: number;
}

export interface PartEntry {
  index: number;
  /** First sample id and how many samples. */
  start: number;
  count: number;
  /** Byte offset from the start of the parts area, length, CRC-32. */
  offset: number;
  bytes: number;
  crc32: number;
}

export interface LabelHeader {
  format: 'meal-labels';
  version: number;
  numClasses: number;
  classNames: string[];
  /** SHA-256 of the class list as JSON: a file for another class list is refused. */
  classHash: string;
  teachers: LabelTeacher[];
  ensemble?: { top1: number; top5: number; testN: number };
  data: { name: string; n: number; shape: [number, number, number]; sha256: string };
  crops: { perSample: number; augment: AugmentOptions };
  compression: CompressionSpec;
  seed: number;
  partSize: number;
  /** Samples [start, end) that this file covers: all of them, or one shard's share. */
  range: [number, number];
  shard?: { index: number; count: number };
  parts: PartEntry[];
  made?: { seconds: number; date: string };
}

type LayoutHeader = Pick<LabelHeader, 'crops' | 'compression' | 'numClasses'>;

/** Byte layout of one part's arrays, each 4-byte aligned. */
export function partLayout(h: LayoutHeader, count: number) {
  const m = h.crops.perSample;
  const per = storedPerRow(h.compression, h.numClasses);
  const rows = count * m;
  const align = (n: number) => Math.ceil(n / 4) * 4;
  const boxes = 0;
  const flips = boxes + rows * 4 * 4;
  const indices = flips + align(rows);
  const hasIndices = h.compression.kind === 'topk';
  const values = indices + (hasIndices ? align(rows * per * 2) : 0);
  const valueBytes = h.compression.dtype === 'float16' ? 2 : 4;
  return {
    rows,
    per,
    boxes,
    flips,
    indices,
    values,
    bytes: align(values + rows * per * valueBytes),
  };
}

/** One part's arrays, decoded into aligned typed arrays. */
export interface PartData {
  boxes: Float32Array; // (rows, 4) top, left, height, width
  flips: Uint8Array; // (rows,)
  indices?: Uint16Array; // (rows, k)
  values: Float32Array | Uint16Array; // (rows, k or C), float16 as bits
}

/** Typed views of one part's arrays over `buffer` (laid out by `partLayout`). */
function partViews(h: LayoutHeader, count: number, buffer: ArrayBuffer): PartData {
  const l = partLayout(h, count);
  return {
    boxes: new Float32Array(buffer, l.boxes, l.rows * 4),
    flips: new Uint8Array(buffer, l.flips, l.rows),
    indices:
      h.compression.kind === 'topk'
        ? new Uint16Array(buffer, l.indices, l.rows * l.per)
        : undefined,
    values:
      h.compression.dtype === 'float16'
        ? new Uint16Array(buffer, l.values, l.rows * l.per)
        : new Float32Array(buffer, l.values, l.rows * l.per),
  };
}

/** A zeroed part of `count` samples, its arrays sharing one buffer. */
export function emptyPart(h: LayoutHeader, count: number): PartData {
  return partViews(h, count, new ArrayBuffer(partLayout(h, count).bytes));
}

/** A part's bytes as stored: the buffer its arrays share (as made by `emptyPart`). */
export function encodePart(h: LayoutHeader, count: number, p: PartData): Buffer {
  const bytes = partLayout(h, count).bytes;
  if (p.boxes.buffer.byteLength !== bytes) {
    throw new Error(`encodePart: a part of ${count} samples needs ${bytes} bytes`);
  }
  return Buffer.from(p.boxes.buffer as ArrayBuffer);
}

export function decodePart(h: LayoutHeader, count: number, bytes: Uint8Array): PartData {
  // Copy into an own buffer: typed-array views need aligned offsets.
  const own = new Uint8Array(partLayout(h, count).bytes);
  own.set(bytes.subarray(0, own.length));
  return partViews(h, count, own.buffer);
}

/**
 * The whole file as pieces to write in order: the prefix and header (with the parts table
 * filled in from `bodies`), then each part's bytes.
 */
export function encodeLabelFile(
  header: Omit<LabelHeader, 'parts'>,
  bodies: { start: number; count: number; index: number; bytes: Uint8Array }[],
): Uint8Array[] {
  let offset = 0;
  const parts: PartEntry[] = bodies.map((b) => {
    const e = {
      index: b.index,
      start: b.start,
      count: b.count,
      offset,
      bytes: b.bytes.length,
      crc32: zlib.crc32(b.bytes),
    };
    offset += b.bytes.length;
    return e;
  });
  const json = Buffer.from(JSON.stringify({ ...header, parts }));
  const fixed = Buffer.alloc(FIXED);
  LABELS_MAGIC.copy(fixed, 0);
  fixed.writeUInt32LE(LABELS_VERSION, 8);
  fixed.writeUInt32LE(json.length, 12);
  fixed.writeUInt32LE(zlib.crc32(json), 16);
  return [Buffer.concat([fixed, json]), ...bodies.map((b) => b.bytes)];
}

function unusable(file: string, what: string): never {
  throw new MealError(
    'CORRUPT_LABELS',
    `soft-label file ${file} is unusable: ${what}. Make it again with "meal labels" ` +
      '(an interrupted generation resumes from its finished parts).',
  );
}

/** Reads and checks the header alone. */
export function decodeHeader(
  buf: Buffer,
  file: string,
): { header: LabelHeader; bodyStart: number } {
  if (buf.length < FIXED || !buf.subarray(0, 8).equals(LABELS_MAGIC)) {
    unusable(file, 'it does not start with MEALLBLS (not a meal soft-label file)');
  }
  const version = buf.readUInt32LE(8);
  if (version !== LABELS_VERSION) {
    unusable(file, `format version ${version}; this meal reads version ${LABELS_VERSION}`);
  }
  const len = buf.readUInt32LE(12);
  if (FIXED + len > buf.length)
    unusable(
      file,
      `the header needs ${len} bytes, the file has ${buf.length - FIXED} after the prefix (truncated)`,
    );
  const json = buf.subarray(FIXED, FIXED + len);
  if (zlib.crc32(json) !== buf.readUInt32LE(16))
    unusable(file, 'the CRC-32 of its header does not match');
  return { header: JSON.parse(json.toString('utf8')) as LabelHeader, bodyStart: FIXED + len };
}

/** A part's name in messages: its index and sample range. */
export function partName(p: Pick<PartEntry, 'index' | 'start' | 'count'>): string {
  return `part ${p.index} (samples ${p.start}-${p.start + p.count - 1})`;
}

/**
 * Pre-flight: the header and every part against the parts table (size and
 * CRC-32), before any training step. Returns the decoded parts.
 */
export function decodeLabelFile(
  buf: Buffer,
  file: string,
): { header: LabelHeader; parts: PartData[] } {
  const { header, bodyStart } = decodeHeader(buf, file);
  const parts: PartData[] = [];
  let expectStart = header.range[0];
  for (const p of header.parts) {
    if (p.start !== expectStart)
      unusable(
        file,
        `${partName(p)} does not follow the previous part (expected start ${expectStart})`,
      );
    expectStart += p.count;
    const want = partLayout(header, p.count).bytes;
    if (p.bytes !== want)
      unusable(file, `${partName(p)} is listed with ${p.bytes} bytes, its layout needs ${want}`);
    const from = bodyStart + p.offset;
    const have = Math.max(0, Math.min(p.bytes, buf.length - from));
    if (have < p.bytes)
      unusable(file, `${partName(p)} is truncated: expected ${p.bytes} bytes, found ${have}`);
    const bytes = buf.subarray(from, from + p.bytes);
    if (zlib.crc32(bytes) !== p.crc32)
      unusable(file, `${partName(p)} is corrupt: its CRC-32 does not match`);
    parts.push(decodePart(header, p.count, bytes));
  }
  if (expectStart !== header.range[1])
    unusable(
      file,
      `its parts cover samples ${header.range[0]}-${expectStart - 1}, the header says ${header.range[0]}-${header.range[1] - 1}`,
    );
  const last = header.parts.at(-1);
  const end = last ? bodyStart + last.offset + last.bytes : bodyStart;
  if (buf.length !== end) unusable(file, `expected ${end} bytes in all, found ${buf.length}`);
  return { header, parts };
}
