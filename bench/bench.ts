/**
 * Forward and training-step time of the reference nets on our engine and, in the same run and
 * with the same thread count, in PyTorch (bench/torch_step.py) when a Python with torch exists:
 *
 *     npm run bench -- [--nets a,b] [--steps 10] [--repeat 1] [--threads N] [--backend wasm] [--json]
 *
 * Batch 128, Adam 1e-3, median of --steps after 3 warm-up steps. --repeat N runs N rounds of
 * (all nets on ours, then all in PyTorch) and reports medians; on a shared machine PyTorch's
 * own times moved by up to 40% between runs minutes apart. With --json the last line
 * is one JSON object: {backend, threads, batch, nets: {name: {forward_ms, train_step_ms,
 * torch_forward_ms, torch_train_step_ms, forward_ratio, train_ratio}}} (ratio = ours / torch).
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { initEngine, type BackendChoice } from '../src/engine/backend.js';
import { tf } from '../src/engine/tf.js';
import { makeStepBench } from './train_step.js';
import { median, medianMs } from './timing.js';

const BATCH = 128;
const NETS = ['cnn-small', 'resnet-mini', 'mobilenet-mini'];

interface NetResult {
  params?: number;
  forward_ms: number;
  train_step_ms: number;
  torch_forward_ms?: number;
  torch_train_step_ms?: number;
  forward_ratio?: number;
  train_ratio?: number;
}

function benchOurs(net: string, steps: number): NetResult {
  const b = makeStepBench(net, BATCH);
  b.forward().dispose(); // the inference model keeps its folded weights from here on
  const before = tf.memory().numTensors;
  const forward_ms = medianMs(b.forward, steps);
  const train_step_ms = medianMs(b.trainStep, steps);
  const leaked = tf.memory().numTensors - before;
  // Adam creates its two moment slots per weight on the first step; anything else is a leak.
  const slots = 2 * b.model.trainableWeights.length + 2;
  if (leaked > slots) throw new Error(`${net}: ${leaked} tensors leaked over ${steps} steps`);
  b.dispose();
  return { forward_ms, train_step_ms };
}

/** The first of $MEAL_TORCH_PYTHON, /usr/bin/python3, python3 that can import torch. */
function findTorchPython(): string | null {
  const candidates = [process.env.MEAL_TORCH_PYTHON, '/usr/bin/python3', 'python3'];
  for (const py of candidates) {
    if (!py) continue;
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  return null;
}

function benchTorch(py: string, nets: string[], threads: number, steps: number) {
  const script = join(dirname(fileURLToPath(import.meta.url)), '../../bench/torch_step.py');
  const args = [script, '--json', '--threads', `${threads}`, '--steps', `${steps}`];
  const r = spawnSync(py, [...args, '--batch', `${BATCH}`, '--nets', nets.join(',')], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`${py} ${script} failed (${r.status}): ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as {
    torch: string;
    nets: Record<string, { forward_ms: number; train_step_ms: number; params: number }>;
  };
}

const { values } = parseArgs({
  options: {
    nets: { type: 'string', default: NETS.join(',') },
    steps: { type: 'string', default: '10' },
    threads: { type: 'string' },
    backend: { type: 'string', default: 'auto' },
    json: { type: 'boolean', default: false },
    repeat: { type: 'string', default: '1' },
  },
});
const nets = values.nets.split(',');
const steps = Number(values.steps);
if (!Number.isInteger(steps) || steps < 1)
  throw new Error(`--steps must be >= 1, got ${values.steps}`);
const log = values.json ? () => {} : (l: string) => console.log(l);

const engine = await initEngine({
  backend: values.backend as BackendChoice,
  threads: values.threads ? Number(values.threads) : undefined,
  log,
});
const repeat = Number(values.repeat);
if (!Number.isInteger(repeat) || repeat < 1)
  throw new Error(`--repeat must be >= 1, got ${values.repeat}`);
const py = findTorchPython();
if (!py)
  log('no Python with torch found ($MEAL_TORCH_PYTHON, /usr/bin/python3, python3): no ratios');

// Rounds of (every net on our engine, then every net in one PyTorch process, as a single run
// of torch_step.py times them): a round's pair sees about the same load on a shared machine.
// Ratios are the median of the paired ratios, times the medians of the rounds.
const rounds: Record<string, NetResult[]> = Object.fromEntries(nets.map((n) => [n, []]));
let torchVersion: string | null = null;
for (let round = 0; round < repeat; round++) {
  const ours = nets.map((net) => benchOurs(net, steps));
  const torch = py ? benchTorch(py, nets, engine.threads, steps) : null;
  for (const [i, net] of nets.entries()) {
    const r = ours[i];
    if (torch) {
      torchVersion = torch.torch;
      const t = torch.nets[net];
      Object.assign(r, {
        params: t.params,
        torch_forward_ms: t.forward_ms,
        torch_train_step_ms: t.train_step_ms,
        forward_ratio: r.forward_ms / t.forward_ms,
        train_ratio: r.train_step_ms / t.train_step_ms,
      });
    }
    rounds[net].push(r);
    const ratio = r.train_ratio === undefined ? '' : `, step ratio ${r.train_ratio.toFixed(2)}`;
    log(
      `${net} (round ${round + 1}/${repeat}): forward ${r.forward_ms.toFixed(1)} ms, ` +
        `step ${r.train_step_ms.toFixed(1)} ms${ratio}`,
    );
  }
}
const results: Record<string, NetResult> = {};
for (const net of nets) {
  const rs = rounds[net];
  const mid = (key: keyof NetResult) => {
    const v = rs.map((r) => r[key]).filter((x): x is number => x !== undefined);
    return v.length ? median(v) : undefined;
  };
  results[net] = {
    params: rs[0].params,
    forward_ms: mid('forward_ms')!,
    train_step_ms: mid('train_step_ms')!,
    torch_forward_ms: mid('torch_forward_ms'),
    torch_train_step_ms: mid('torch_train_step_ms'),
    forward_ratio: mid('forward_ratio'),
    train_ratio: mid('train_ratio'),
  };
}

if (values.json) {
  const out = {
    backend: engine.backend,
    threads: engine.threads,
    batch: BATCH,
    torch: torchVersion,
    nets: results,
  };
  console.log(JSON.stringify(out));
} else {
  const f = (x?: number, d = 1) => (x === undefined ? '-' : x.toFixed(d));
  console.log(
    `\n${engine.backend}, ${engine.threads} threads, batch ${BATCH}, torch ${torchVersion ?? '-'}`,
  );
  console.log('| net | forward ms | torch | ratio | train step ms | torch | ratio |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [net, r] of Object.entries(results)) {
    console.log(
      `| ${net} | ${f(r.forward_ms)} | ${f(r.torch_forward_ms)} | ${f(r.forward_ratio, 2)} ` +
        `| ${f(r.train_step_ms)} | ${f(r.torch_train_step_ms)} | ${f(r.train_ratio, 2)} |`,
    );
  }
}
