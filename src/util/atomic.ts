/**
 * Atomic file writes: the bytes go to a temporary file in the same folder,
 * are flushed to disk, and only then renamed over the target. A crash at any
 * point leaves either the old file or the new one, never a partial file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export function writeFileAtomic(target: string, data: Uint8Array | string): void {
  writeChunksAtomic(target, [typeof data === 'string' ? Buffer.from(data) : data]);
}

/** As `writeFileAtomic`, for content produced in pieces (large files never held whole). */
export function writeChunksAtomic(target: string, chunks: Iterable<Uint8Array>): void {
  const dir = path.dirname(target);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(target)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w');
  try {
    for (const c of chunks) fs.writeSync(fd, c);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, target);
  // Make the rename itself durable.
  const dfd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
}

/** Whether a file name is a temporary file left by an interrupted atomic write. */
export function isTempFile(name: string): boolean {
  return name.startsWith('.') && name.endsWith('.tmp');
}
