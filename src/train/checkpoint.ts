/**
 * Checkpoints: one file holding everything a run needs to continue exactly
 * (student and discriminator weights, optimiser state, epoch, random state,
 * config), written atomically and checked on load.
 *
 * Layout: "MEALCKPT" | u32 version | u32 header bytes | header JSON | tensor bytes
 * The header records each tensor's offset and length and a CRC-32 of the
 * tensor bytes, so a truncated or corrupt file is refused by name.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { writeFileAtomic } from '../util/atomic.js';
import { MealError } from '../util/errors.js';

const MAGIC = Buffer.from('MEALCKPT');
const VERSION = 1;

export interface CheckpointTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface Checkpoint {
  /** Last completed epoch (0-based). */
  epoch: number;
  meta: Record<string, unknown>;
  tensors: CheckpointTensor[];
}

interface Header {
  epoch: number;
  meta: Record<string, unknown>;
  tensors: { name: string; shape: number[]; offset: number; length: number }[];
  crc32: number;
  bytes: number;
}

export function encodeCheckpoint(ckpt: Checkpoint): Uint8Array {
  let offset = 0;
  const entries = ckpt.tensors.map((t) => {
    const e = { name: t.name, shape: t.shape, offset, length: t.data.length };
    offset += t.data.byteLength;
    return e;
  });
  const body = Buffer.alloc(offset);
  ckpt.tensors.forEach((t, i) => {
    body.set(
      new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      entries[i].offset,
    );
  });
  const header: Header = {
    epoch: ckpt.epoch,
    meta: ckpt.meta,
    tensors: entries,
    crc32: zlib.crc32(body),
    bytes: body.length,
  };
  const headerBytes = Buffer.from(JSON.stringify(header));
  const fixed = Buffer.alloc(16);
  MAGIC.copy(fixed, 0);
  fixed.writeUInt32LE(VERSION, 8);
  fixed.writeUInt32LE(headerBytes.length, 12);
  return Buffer.concat([fixed, headerBytes, body]);
}

export function decodeCheckpoint(bytes: Uint8Array, file: string): Checkpoint {
  const fail = (what: string): never => {
    throw new MealError(
      'CORRUPT_CHECKPOINT',
      `checkpoint ${file} is unusable: ${what}. Delete it to start over, or resume from another ` +
        'checkpoint (the run folder keeps last.ckpt and best.ckpt).',
    );
  };
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 16 || !buf.subarray(0, 8).equals(MAGIC)) fail('it does not start with MEALCKPT');
  const version = buf.readUInt32LE(8);
  if (version !== VERSION) fail(`format version ${version}, this meal reads version ${VERSION}`);
  const headerLen = buf.readUInt32LE(12);
  if (16 + headerLen > buf.length)
    fail(`header needs ${headerLen} bytes, file has ${buf.length - 16}`);
  let header: Header;
  try {
    header = JSON.parse(buf.subarray(16, 16 + headerLen).toString('utf8')) as Header;
  } catch {
    return fail('its header is not valid JSON');
  }
  const body = buf.subarray(16 + headerLen);
  if (body.length !== header.bytes)
    fail(`expected ${header.bytes} tensor bytes, found ${body.length} (truncated?)`);
  if (zlib.crc32(body) !== header.crc32) fail('the CRC-32 of its tensor bytes does not match');
  // Copy into an aligned buffer: Float32Array views need 4-byte alignment.
  const aligned = new Uint8Array(body.length);
  aligned.set(body);
  const tensors = header.tensors.map((t) => ({
    name: t.name,
    shape: t.shape,
    data: new Float32Array(aligned.buffer, t.offset, t.length),
  }));
  return { epoch: header.epoch, meta: header.meta, tensors };
}

export function saveCheckpoint(file: string, ckpt: Checkpoint): void {
  writeFileAtomic(file, encodeCheckpoint(ckpt));
}

export function loadCheckpoint(file: string): Checkpoint {
  if (file.endsWith('.tmp')) {
    throw new MealError(
      'CORRUPT_CHECKPOINT',
      `checkpoint ${file} is unusable: it is a temporary file left by an interrupted write, never a ` +
        'checkpoint. Resume from last.ckpt in the same folder.',
    );
  }
  if (!fs.existsSync(file)) {
    throw new MealError(
      'MISSING_FILE',
      `no checkpoint at ${file}; nothing to resume. Run without --resume to start.`,
    );
  }
  return decodeCheckpoint(fs.readFileSync(file), file);
}
