/**
 * Progress for the CLI: a bar with ETA, losses and samples/s on a terminal,
 * one plain line per interval otherwise (logs, CI, pipes).
 */
import cliProgress from 'cli-progress';
import type { EpochMetrics, ProgressSink, StepInfo } from '../train/loop.js';

function fmtLosses(losses: Record<string, number>): string {
  return Object.entries(losses)
    .map(([k, v]) => `${k}=${v.toFixed(4)}`)
    .join(' ');
}

function fmtLr(lr: Record<string, number>): string {
  return Object.entries(lr)
    .map(
      ([k, v]) =>
        `lr_${k === 'student' ? 's' : k === 'discriminator' ? 'd' : k}=${v.toExponential(2)}`,
    )
    .join(' ');
}

export function epochLine(m: EpochMetrics, epochs: number): string {
  return (
    `epoch ${m.epoch + 1}/${epochs}: ${fmtLosses(m.losses)} | train top-1 ${m.train_top1.toFixed(2)}% | ` +
    `test top-1 ${m.test_top1.toFixed(2)}% top-5 ${m.test_top5.toFixed(2)}% | ${m.samples_per_s.toFixed(1)} samples/s | ` +
    `${m.epoch_s.toFixed(1)} s`
  );
}

export function makeProgress(opts: {
  tty: boolean;
  every: number;
  write: (line: string) => void;
}): ProgressSink {
  let epochs = 0;
  if (!opts.tty) {
    return {
      epochStart: (_e, n) => (epochs = n),
      step: (s: StepInfo) => {
        if (s.step % opts.every !== 0 && s.step !== s.steps) return;
        const pct = ((100 * s.step) / s.steps).toFixed(1);
        opts.write(
          `epoch ${s.epoch + 1}/${s.epochs} step ${s.step}/${s.steps} (${pct}%) ${fmtLosses(s.losses)} ` +
            `${fmtLr(s.lr)} ${s.samplesPerSec.toFixed(1)} samples/s`,
        );
      },
      epochEnd: (m) => opts.write(epochLine(m, epochs)),
    };
  }
  let bar: cliProgress.SingleBar | undefined;
  return {
    epochStart: (epoch, n, steps) => {
      epochs = n;
      bar = new cliProgress.SingleBar(
        {
          format: `epoch ${epoch + 1}/${n} [{bar}] {value}/{total} | {losses} | {sps} samples/s | ETA {eta_formatted}`,
          barsize: 24,
          hideCursor: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(steps, 0, { losses: '', sps: '0.0' });
    },
    step: (s) =>
      bar?.update(s.step, { losses: fmtLosses(s.losses), sps: s.samplesPerSec.toFixed(1) }),
    epochEnd: (m) => {
      bar?.stop();
      opts.write(epochLine(m, epochs));
    },
  };
}

/**
 * Progress of a counted job (soft-label generation): a bar with rate and ETA on a terminal,
 * otherwise a line at every tenth of the work.
 */
export function makeCountProgress(opts: {
  tty: boolean;
  label: string;
  unit: string;
  write: (line: string) => void;
}): { update(done: number, total: number): void; stop(): void } {
  const t0 = performance.now();
  let first: number | undefined;
  let bar: cliProgress.SingleBar | undefined;
  let lastTenth = -1;
  const rate = (done: number) => {
    const s = (performance.now() - t0) / 1000;
    return s > 0 ? (done - (first ?? 0)) / s : 0;
  };
  return {
    update(done, total) {
      first ??= done;
      if (opts.tty) {
        if (!bar) {
          bar = new cliProgress.SingleBar(
            {
              format: `${opts.label} [{bar}] {value}/{total} ${opts.unit} | {rate} ${opts.unit}/s | ETA {eta_formatted}`,
              barsize: 24,
              hideCursor: true,
              etaBuffer: 20,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(total, done, { rate: '0' });
        }
        bar.update(done, { rate: rate(done).toFixed(0) });
        return;
      }
      const tenth = Math.floor((10 * done) / total);
      if (tenth === lastTenth) return;
      lastTenth = tenth;
      opts.write(
        `${opts.label} ${done}/${total} ${opts.unit} (${((100 * done) / total).toFixed(0)}%) ` +
          `${rate(done).toFixed(0)} ${opts.unit}/s`,
      );
    },
    stop() {
      bar?.stop();
    },
  };
}
