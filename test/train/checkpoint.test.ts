/** cases.md #13: a checkpoint write killed at any point loses nothing; corrupt files are named. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  decodeCheckpoint,
  encodeCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
} from '../../src/train/checkpoint.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'meal-ckpt-'));

test('a checkpoint round-trips bitwise', () => {
  const data = Float32Array.from({ length: 1001 }, (_, i) => Math.sin(i) * 1e-3);
  const back = decodeCheckpoint(
    encodeCheckpoint({
      epoch: 7,
      meta: { a: 1 },
      tensors: [{ name: 'w', shape: [7, 11, 13], data }],
    }),
    'x',
  );
  assert.equal(back.epoch, 7);
  assert.deepEqual(back.meta, { a: 1 });
  assert.deepEqual(back.tensors[0].data, data);
});

test('case 13: killing the writer mid-write leaves the previous checkpoint complete', async () => {
  const dir = tmp();
  const file = path.join(dir, 'last.ckpt');
  const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'writer-child.js');
  // Several kills at different moments of a stream of large writes.
  for (const delay of [150, 300, 450]) {
    const proc = spawn(process.execPath, [child, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => {
      proc.stdout.once('data', () => setTimeout(() => proc.kill('SIGKILL'), delay));
      proc.on('exit', () => resolve());
    });
    const ckpt = loadCheckpoint(file); // throws if the file were partial
    const n = ckpt.tensors[0].data.length;
    assert.ok(
      ckpt.tensors[0].data.every((v) => v === ckpt.epoch),
      `every value equals epoch ${ckpt.epoch}`,
    );
    assert.equal(n, 4_000_000);
  }
  // Temporary files a killed writer leaves are never read as checkpoints.
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))) {
    assert.throws(() => loadCheckpoint(path.join(dir, f)), /unusable/);
  }
});

test('a truncated or altered checkpoint is refused, naming the file', () => {
  const dir = tmp();
  const file = path.join(dir, 'last.ckpt');
  saveCheckpoint(file, {
    epoch: 1,
    meta: {},
    tensors: [{ name: 'w', shape: [100], data: new Float32Array(100).fill(2) }],
  });
  const bytes = fs.readFileSync(file);
  fs.writeFileSync(file, bytes.subarray(0, bytes.length - 10));
  assert.throws(
    () => loadCheckpoint(file),
    (e: Error) => e.message.includes(file) && /truncated/.test(e.message),
  );
  const flipped = Buffer.from(bytes);
  flipped[flipped.length - 3] ^= 0xff;
  fs.writeFileSync(file, flipped);
  assert.throws(() => loadCheckpoint(file), /CRC-32/);
  assert.throws(() => loadCheckpoint(path.join(dir, 'none.ckpt')), /no checkpoint at/);
});
