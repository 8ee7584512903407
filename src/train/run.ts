/**
 * The run folder: config.json, log.txt, metrics.jsonl, checkpoints/,
 * model/ and summary.json. Every file that must survive a crash is written
 * atomically; the log and the metrics are appended line by line.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';

export class RunFolder {
  constructor(readonly dir: string) {
    fs.mkdirSync(path.join(dir, 'checkpoints'), { recursive: true });
  }

  get lastCheckpoint(): string {
    return path.join(this.dir, 'checkpoints', 'last.ckpt');
  }

  get bestCheckpoint(): string {
    return path.join(this.dir, 'checkpoints', 'best.ckpt');
  }

  get modelDir(): string {
    return path.join(this.dir, 'model');
  }

  writeJson(name: string, value: unknown): void {
    writeFileAtomic(path.join(this.dir, name), JSON.stringify(value, null, 2) + '\n');
  }

  appendLog(line: string): void {
    fs.appendFileSync(path.join(this.dir, 'log.txt'), line + '\n');
  }

  appendMetrics(record: Record<string, unknown>): void {
    fs.appendFileSync(path.join(this.dir, 'metrics.jsonl'), JSON.stringify(record) + '\n');
  }

  /** Drops metric lines for epochs a resumed run is about to redo. */
  truncateMetrics(afterEpoch: number): void {
    const file = path.join(this.dir, 'metrics.jsonl');
    if (!fs.existsSync(file)) return;
    const kept = fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim() && (JSON.parse(l) as { epoch: number }).epoch <= afterEpoch);
    writeFileAtomic(file, kept.map((l) => l + '\n').join(''));
  }
}
