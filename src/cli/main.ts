#!/usr/bin/env node
/**
 * The `meal` command: parses flags and a recipe, resolves one config, calls
 * the library, and prints. One top-level catch turns any error into a message
 * and a non-zero exit.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import {
  distill,
  evaluateModels,
  makeLabels,
  train,
  type LabelsSummary,
  type RunSummary,
} from '../api.js';
import { readRecipe, resolveConfig, type DeepPartial, type MealConfig } from '../config.js';
import { modelNames } from '../models/registry.js';
import { MealError } from '../util/errors.js';
import { teeLogger, type Logger } from '../util/logger.js';
import { makeCountProgress, makeProgress } from './progress.js';
import { formatTable } from './table.js';

interface Flags {
  recipe?: string;
  data?: string;
  out?: string;
  arch?: string;
  init?: string;
  teacher?: string[];
  model?: string[];
  epochs?: number;
  batchSize?: number;
  lr?: number;
  optimizer?: 'sgd' | 'adam';
  seed?: number;
  backend?: MealConfig['backend'];
  threads?: number;
  nativeKernels?: boolean;
  trainLimit?: number;
  testLimit?: number;
  discMode?: 'corrected' | 'faithful';
  discStudentGrad?: 'auto' | 'joint' | 'reversed';
  disc?: boolean;
  resume?: boolean;
  json?: boolean;
  split?: 'train' | 'test';
  cropPadding?: number;
  crop?: 'pad' | 'resized';
  flip?: boolean;
  labels?: string;
  crops?: number;
  compression?: 'full' | 'topk';
  topK?: number;
  rule?: 'marginal_smoothing' | 'marginal_renorm';
  dtype?: 'float32' | 'float16';
  partSize?: number;
  shard?: string;
  merge?: boolean;
}

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new MealError('BAD_FLAG', `expected a whole number, got "${v}"`);
  return n;
};
const float = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new MealError('BAD_FLAG', `expected a number, got "${v}"`);
  return n;
};
const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Flags as a partial config: only what was given, so the recipe's values stand otherwise. */
function flagsToConfig(f: Flags): DeepPartial<MealConfig> {
  const disc: Record<string, unknown> = {};
  if (f.discMode) disc.mode = f.discMode;
  if (f.discStudentGrad) disc.studentGradient = f.discStudentGrad;
  if (f.disc === false) disc.enabled = false;
  return {
    seed: f.seed,
    backend: f.backend,
    threads: f.threads,
    nativeKernels: f.nativeKernels,
    data: {
      dir: f.data,
      trainLimit: f.trainLimit,
      testLimit: f.testLimit,
      crop: f.crop,
      cropPadding: f.cropPadding,
      flip: f.flip === false ? false : undefined, // commander defaults --no-flip to true
    },
    labels: {
      file: f.labels,
      crops: f.crops,
      compression: f.compression,
      k: f.topK,
      rule: f.rule,
      dtype: f.dtype,
      partSize: f.partSize,
      shard: f.shard,
    },
    student: { arch: f.arch, init: f.init },
    teachers: f.teacher,
    distill: Object.keys(disc).length ? { discriminator: disc } : undefined,
    optim: { name: f.optimizer, lr: f.lr },
    epochs: f.epochs,
    batchSize: f.batchSize,
    out: f.out,
    resume: f.resume,
  } as DeepPartial<MealConfig>;
}

function configFrom(f: Flags): MealConfig {
  // --resume with --out and no recipe: the run folder's own config.json is the recipe.
  const saved = f.resume && f.out ? path.join(f.out, 'config.json') : '';
  if (saved && !fs.existsSync(saved)) {
    throw new MealError(
      'NOTHING_TO_RESUME',
      `--resume: ${f.out} holds no run to continue (no config.json there: the run never got ` +
        'past its start). Run the command without --resume to start it.',
    );
  }
  const recipe = f.recipe ?? (saved || undefined);
  return resolveConfig(recipe ? readRecipe(recipe) : undefined, flagsToConfig(f));
}

function common(cmd: Command): Command {
  return cmd
    .option('-r, --recipe <file>', 'JSON recipe (see recipes/); flags override it')
    .option(
      '--data <dir>',
      "folder with Fashion-MNIST IDX files (default ./data/fashion-mnist, then Debian's)",
    )
    .option('--train-limit <n>', 'use only the first N training images', int)
    .option('--test-limit <n>', 'use only the first N test images', int)
    .option('--seed <n>', 'random seed', int)
    .addOption(
      new Option('--backend <name>', 'TensorFlow.js backend').choices([
        'auto',
        'wasm',
        'cpu',
        'tensorflow',
      ]),
    )
    .option('--threads <n>', 'threads (0 = one per core)', int)
    .option('--no-native-kernels', 'keep convolutions in wasm instead of onnxruntime');
}

/** The training views: crop kind, padding, flips. */
function views(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--crop <kind>', 'random crop: pad (shift, zero fill) or resized').choices([
        'pad',
        'resized',
      ]),
    )
    .option('--crop-padding <n>', 'zero padding of the pad crop, pixels (0 = no crop)', int)
    .option('--no-flip', 'no random horizontal flips');
}

function training(cmd: Command): Command {
  return views(common(cmd))
    .option('-o, --out <dir>', 'run folder')
    .option('--epochs <n>', 'epochs', int)
    .option('--batch-size <n>', 'batch size', int)
    .option('--lr <x>', "the student's base learning rate", float)
    .addOption(new Option('--optimizer <name>', 'optimiser').choices(['sgd', 'adam']))
    .option(
      '--resume',
      'continue the run in --out from its last checkpoint (its config.json is the recipe if none is given)',
    );
}

/** Where the CLI's lines go: the terminal, and the run's log.txt when there is a run folder. */
function cliLogger(out?: string): Logger {
  const sinks: ((l: string) => void)[] = [(l) => process.stderr.write(l + '\n')];
  if (out) {
    fs.mkdirSync(out, { recursive: true });
    sinks.push((l) => fs.appendFileSync(path.join(out, 'log.txt'), l + '\n'));
  }
  return teeLogger(...sinks);
}

function progressFor(config: MealConfig, log: Logger) {
  return makeProgress({
    tty: Boolean(process.stderr.isTTY),
    every: config.logEvery,
    write: (l) => log.info(l),
  });
}

function printLabelsSummary(s: LabelsSummary): void {
  if (s.table.length) process.stdout.write('\n' + formatTable(s.table, s.testN) + '\n');
  const c = s.compression;
  process.stdout.write(
    `\nsoft labels: ${s.file}, ${s.bytes.toLocaleString('en-US')} bytes, ${s.samples.toLocaleString('en-US')} ` +
      `samples x ${s.crops} crops, ${c.kind === 'full' ? 'full' : `top-${c.k} ${c.rule}`} ${c.dtype}; ` +
      `${s.madeParts} parts made, ${s.reusedParts} reused, ${s.seconds.toFixed(0)} s\n`,
  );
}

/**
 * Ctrl-C during training: checkpoints are written atomically, so stopping at once loses at most
 * the epoch under way. Says so, and how to go on (the training loop yields to the event loop
 * between batches, so this runs within a step).
 */
function onInterrupt(command: string, out: string, log: Logger): void {
  process.once('SIGINT', () => {
    const ckpt = path.join(out, 'checkpoints', 'last.ckpt');
    log.info(
      fs.existsSync(ckpt)
        ? `\ninterrupted: the last checkpoint, ${ckpt}, is intact. To continue: meal ${command} ` +
            `--out ${out} --resume (the run folder keeps its config), or the same command ` +
            'again with --resume.'
        : '\ninterrupted: no epoch had finished, so there is no checkpoint to resume from. ' +
            'To start again: the same command, without --resume.',
    );
    process.exit(130);
  });
}

/** Ctrl-C while making soft labels: finished parts are on disk and the same command reuses them. */
function onLabelsInterrupt(log: Logger): void {
  process.once('SIGINT', () => {
    log.info(
      '\ninterrupted: the parts already made are kept; the same command again reuses them ' +
        'and makes only the rest.',
    );
    process.exit(130);
  });
}

function printSummary(s: RunSummary): void {
  process.stdout.write('\n' + formatTable(s.table, s.data.test) + '\n');
  process.stdout.write(
    `\nrun folder: ${s.out} (model in ${path.join(s.out, 'model')}), ${s.seconds.toFixed(0)} s\n`,
  );
}

export function program(): Command {
  const prog = new Command('meal')
    .description('MEAL V2 ensemble knowledge distillation for TensorFlow.js')
    .version('0.1.0')
    .showHelpAfterError();

  training(prog.command('train'))
    .description('supervised (hard-label) training: teachers, baselines, student initialisation')
    .option('--arch <name>', `architecture: ${modelNames().join(', ')}`)
    .option('--init <dir>', 'start from a saved model')
    .action(async (f: Flags) => {
      const config = configFrom(f);
      const log = cliLogger(config.out);
      onInterrupt('train', config.out, log);
      printSummary(await train(config, { log, progress: progressFor(config, log) }));
    });

  training(prog.command('distill'))
    .description("MEAL V2: distil the teachers' averaged probabilities into a pre-trained student")
    .option(
      '-t, --teacher <path>',
      'teacher: a model folder, or a descriptor .json for ONNX/TF.js models (repeat for an ensemble)',
      collect,
    )
    .option('--init <dir>', 'the pre-trained student to start from')
    .option('--arch <name>', 'student architecture when no --init is given')
    .addOption(
      new Option('--disc-mode <mode>', 'discriminator mode').choices(['corrected', 'faithful']),
    )
    .addOption(
      new Option(
        '--disc-student-grad <kind>',
        "the student's gradient from the discriminator loss: joint (the authors' code) or " +
          'reversed (fool it); auto = joint when faithful, reversed when corrected',
      ).choices(['auto', 'joint', 'reversed']),
    )
    .option('--no-disc', 'turn the discriminator off (similarity loss only)')
    .option('--labels <file>', 'replay soft labels made by "meal labels" (no teacher is run)')
    .action(async (f: Flags) => {
      const config = configFrom(f);
      const log = cliLogger(config.out);
      onInterrupt('distill', config.out, log);
      printSummary(await distill(config, { log, progress: progressFor(config, log) }));
    });

  common(prog.command('eval'))
    .description('top-1 / top-5 of a model, or of the ensemble of several')
    .option('-m, --model <dir>', 'model folder (repeat for an ensemble)', collect)
    .option(
      '-t, --teacher <path>',
      'teacher: a model folder, or a descriptor .json for ONNX/TF.js models (repeatable)',
      collect,
    )
    .addOption(
      new Option('--split <name>', 'which split').choices(['train', 'test']).default('test'),
    )
    .option('--json', 'print {"top1", "top5", "n"} on the last line')
    .action(async (f: Flags) => {
      const config = configFrom(f);
      const dirs = [
        ...(f.model ?? []),
        ...(f.teacher ?? []),
        ...(f.model || f.teacher ? [] : config.teachers),
      ];
      if (dirs.length === 0) {
        throw new MealError(
          'NOTHING_TO_EVALUATE',
          'nothing to evaluate: pass --model DIR or --teacher DIR|DESCRIPTOR.json (each ' +
            'repeatable), or "teachers" in a recipe.',
        );
      }
      const log = cliLogger();
      const { rows, ensemble } = await evaluateModels(config, dirs, { split: f.split, log });
      if (f.json) {
        process.stdout.write(
          JSON.stringify({ top1: ensemble!.top1, top5: ensemble!.top5, n: ensemble!.n }) + '\n',
        );
      } else {
        process.stdout.write(formatTable(rows, ensemble!.n) + '\n');
      }
    });

  views(common(prog.command('labels')))
    .description("pre-compute the ensemble's soft labels for stored crops once (FKD cache)")
    .option('-o, --out <file>', 'the soft-label file to write (a shard writes FILE.shard-I-of-N)')
    .option(
      '-t, --teacher <path>',
      'teacher: model folder or descriptor .json (repeatable)',
      collect,
    )
    .option('--crops <m>', 'crops stored per training image', int)
    .addOption(new Option('--compression <kind>', 'full rows or top-k').choices(['full', 'topk']))
    .option('--top-k <k>', 'classes kept per row with --compression topk', int)
    .addOption(
      new Option('--rule <rule>', 'how top-k rows are recovered').choices([
        'marginal_smoothing',
        'marginal_renorm',
      ]),
    )
    .addOption(new Option('--dtype <type>', 'stored value type').choices(['float32', 'float16']))
    .option('--part-size <n>', 'samples per part (the unit of checking and resuming)', int)
    .option('--shard <i/n>', 'make only shard I of N (0-based), for N parallel processes')
    .option('--merge', 'join the shards FILE.shard-*-of-N into FILE')
    .action(async (f: Flags) => {
      const config = configFrom({ ...f, labels: f.out, out: undefined });
      const log = cliLogger();
      onLabelsInterrupt(log);
      const bar = makeCountProgress({
        tty: Boolean(process.stderr.isTTY),
        label: 'labels',
        unit: 'crops',
        write: (l) => log.info(l),
      });
      try {
        const s = await makeLabels(config, {
          log,
          merge: f.merge,
          onProgress: (d, t) => bar.update(d, t),
        });
        bar.stop();
        printLabelsSummary(s);
      } finally {
        bar.stop();
      }
    });

  return prog;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return 0;
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`\nerror: ${err.message}\n`);
    if (!(err instanceof MealError) && process.env.MEAL_DEBUG)
      process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

// Exit explicitly: a live wasm thread pool would otherwise keep Node running.
main(process.argv).then((code) => process.exit(code));
