/**
 * Reader for IDX files, the format of MNIST and Fashion-MNIST: a magic number
 * (two zero bytes, a type code, the number of dimensions), one big-endian
 * uint32 per dimension, then the data. Gzip is detected by its own magic.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { MealError } from '../util/errors.js';

export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

const UBYTE = 0x08;

export function parseIdx(bytes: Uint8Array, name: string): IdxArray {
  const fail = (what: string): never => {
    throw new MealError(
      'CORRUPT_IDX',
      `${name} is not a valid IDX file: ${what}. Re-download or re-install the data set ` +
        '(on Debian: apt-get install --reinstall dataset-fashion-mnist).',
    );
  };
  if (bytes.length < 4) fail(`expected at least 4 header bytes, found ${bytes.length}`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    fail(`expected magic bytes 00 00, found ${hex(bytes[0])} ${hex(bytes[1])}`);
  }
  if (bytes[2] !== UBYTE) fail(`expected type code 0x08 (unsigned byte), found ${hex(bytes[2])}`);
  const rank = bytes[3];
  if (rank < 1 || rank > 4) fail(`expected 1 to 4 dimensions, found ${rank}`);
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes)
    fail(`header needs ${headerBytes} bytes, file has ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const size = shape.reduce((a, b) => a * b, 1);
  const found = bytes.length - headerBytes;
  if (found !== size) {
    fail(
      `shape [${shape.join(', ')}] needs ${size} data bytes, found ${found}` +
        (found < size ? ' (truncated)' : ' (trailing bytes)'),
    );
  }
  return { shape, data: bytes.subarray(headerBytes) };
}

export function readIdx(file: string): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new MealError('MISSING_FILE', `cannot read ${file}: ${(e as Error).message}`);
  }
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = zlib.gunzipSync(bytes);
    } catch (e) {
      throw new MealError(
        'CORRUPT_IDX',
        `${file} looks gzip-compressed but does not decompress (${(e as Error).message}); ` +
          'the file is truncated or corrupt. Re-download or re-install the data set.',
      );
    }
  }
  return parseIdx(bytes, file);
}

export function encodeIdx(shape: number[], data: Uint8Array): Uint8Array {
  const header = Buffer.alloc(4 + 4 * shape.length);
  header[2] = UBYTE;
  header[3] = shape.length;
  shape.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, data]);
}

function hex(b: number | undefined): string {
  return `0x${(b ?? 0).toString(16).padStart(2, '0')}`;
}
