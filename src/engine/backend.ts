/**
 * Chooses and starts the TensorFlow.js backend: tfjs-node when it is installed, otherwise wasm
 * with one thread per core and the project's training kernels; `cpu` only on request (it is
 * ~100x slower than wasm for training, see design.md §4).
 */
import { availableParallelism } from 'node:os';
import * as wasmBackend from '@tensorflow/tfjs-backend-wasm';
import { registerGradients } from './gradients/index.js';
import { registerWasmKernels } from './kernels/index.js';
import { nativeKernelsAvailable, nchwcBlockSize, setNativeThreads } from './native/session.js';
import { MAX_WASM_THREADS, registerThreadedWasm } from './threads.js';
import { tf } from './tf.js';

export type BackendChoice = 'auto' | 'wasm' | 'cpu' | 'tensorflow';

export interface EngineOptions {
  /** 'auto' (default): tfjs-node if it loads, else wasm. */
  backend?: BackendChoice;
  /** wasm threads, 1..8; default: the number of cores. */
  threads?: number;
  /**
   * Run convolutions on onnxruntime's native CPU kernels (wasm backend only). Default: on when
   * onnxruntime-node loads.
   */
  nativeKernels?: boolean;
  /** Receives one line per decision; quiet by default. */
  log?: (line: string) => void;
}

export interface EngineInfo {
  backend: string;
  threads: number;
}

const TFJS_NODE = '@tensorflow/tfjs-node';
const CHOICES: BackendChoice[] = ['auto', 'wasm', 'cpu', 'tensorflow'];

// The wasm module is built once per process; its thread count cannot change afterwards.
let wasmThreads: number | null = null;
// What the engine reports: wasm's threads, or onnxruntime's when it runs the convolutions.
let engineThreads = 0;
let tfjsNodeLoaded: boolean | null = null;
const SHUT_DOWN = -1;

let started: Promise<EngineInfo> | null = null;

/**
 * Starts the engine with its defaults if nothing has started one yet: for entry
 * points a library user may call first (loadModel), which would otherwise meet tfjs's "backend
 * 'wasm' has not yet been initialized".
 */
export async function ensureEngine(): Promise<void> {
  if (started) await started;
  else if (!tf.engine().backendName) await initEngine(); // none chosen, not even through tf
}

/**
 * Starts the engine and returns what was chosen. Safe to call again: the same request is a
 * no-op, a different backend switches to it (the wasm thread count stays as first chosen).
 */
export async function initEngine(opts: EngineOptions = {}): Promise<EngineInfo> {
  const info = startEngine(opts);
  started = info;
  return info;
}

async function startEngine(opts: EngineOptions): Promise<EngineInfo> {
  const log = opts.log ?? (() => {});
  const choice = opts.backend ?? 'auto';
  if (!CHOICES.includes(choice)) {
    throw new Error(`unknown backend "${choice}": expected one of ${CHOICES.join(', ')}`);
  }
  const threads = opts.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) {
    throw new Error(`threads must be a positive integer, got ${threads}`);
  }
  silenceCpuBanner();

  if (choice === 'tensorflow' || choice === 'auto') {
    if (await loadTfjsNode()) {
      await activate('tensorflow');
      // tfjs-node sizes TensorFlow's own thread pools; we cannot set them from here.
      log(`engine: tensorflow (tfjs-node), native threads`);
      return { backend: 'tensorflow', threads: availableParallelism() };
    }
    if (choice === 'tensorflow') {
      throw new Error(
        `backend "tensorflow" needs ${TFJS_NODE}, which is not installed or failed to load. ` +
          `Install it with "npm install ${TFJS_NODE}@4.22.0" (its install step downloads ` +
          `libtensorflow, so it needs internet access), or use --backend wasm.`,
      );
    }
  }

  if (choice === 'cpu') {
    await activate('cpu');
    log('engine: cpu (plain JavaScript, one thread): fine for tests, too slow for training');
    return { backend: 'cpu', threads: 1 };
  }

  return { backend: 'wasm', threads: await startWasm(threads, opts.nativeKernels, log) };
}

async function startWasm(
  threads: number,
  native: boolean | undefined,
  log: (line: string) => void,
): Promise<number> {
  if (wasmThreads === SHUT_DOWN) {
    throw new Error(
      'the wasm engine was shut down (shutdownEngine); start a new process to use it',
    );
  }
  if (wasmThreads === null) {
    const wanted = Math.min(threads, MAX_WASM_THREADS);
    if (wanted < threads) log(`engine: wasm supports at most ${MAX_WASM_THREADS} threads`);
    const useNative = native ?? nativeKernelsAvailable();
    if (native && !nativeKernelsAvailable()) {
      throw new Error(
        'native kernels need onnxruntime-node, which failed to load: reinstall it ' +
          '(npm ci) or run without native kernels (--no-native-kernels)',
      );
    }
    // With native convolutions, onnxruntime's pool does the heavy work and wasm keeps one
    // thread: its heap is then an ordinary ArrayBuffer, which onnxruntime reads and writes in
    // place (a threaded heap is a SharedArrayBuffer, which it refuses, so every tensor would
    // be copied both ways). Measured: a threaded wasm with copies was no faster in paired runs.
    if (useNative) setNativeThreads(threads);
    else if (wanted > 1) registerThreadedWasm(wanted, log);
    registerWasmKernels(useNative);
    registerGradients();
    await activate('wasm');
    wasmThreads = wasmBackend.getThreadsCount();
    engineThreads = useNative ? threads : wasmThreads;
    log(
      `engine: wasm (SIMD${wasmThreads > 1 ? ', threaded' : ''}), ${wasmThreads} thread(s)` +
        (useNative
          ? `; convolutions native (onnxruntime, ${threads} thread(s), ` +
            (nchwcBlockSize() ? `NCHWc block ${nchwcBlockSize()})` : 'no NCHWc kernels)')
          : ''),
    );
  } else {
    if (threads !== engineThreads) {
      log(`engine: already runs ${engineThreads} thread(s); ${threads} ignored`);
    }
    await activate('wasm');
  }
  return engineThreads;
}

async function activate(name: string): Promise<void> {
  if (tf.getBackend() === name) return;
  const before = processListeners();
  const ok = await tf.setBackend(name);
  // Emscripten's Node glue adds process handlers that rethrow every uncaught exception and
  // unhandled rejection; they would change the host program's error handling, so drop them.
  removeListenersAddedSince(before);
  if (!ok) throw new Error(`backend "${name}" failed to initialise (tfjs printed the cause above)`);
  await tf.ready();
}

async function loadTfjsNode(): Promise<boolean> {
  if (tfjsNodeLoaded === null) {
    try {
      // A variable specifier: tfjs-node is optional and absent from package.json.
      const name = TFJS_NODE;
      await import(name);
      tfjsNodeLoaded = tf.findBackend('tensorflow') !== null;
    } catch {
      tfjsNodeLoaded = false;
    }
  }
  return tfjsNodeLoaded;
}

/**
 * The cpu backend prints an "install tfjs-node" banner on its first tensor; we choose backends
 * deliberately (and tests use cpu as a reference), so mark the banner as shown.
 */
function silenceCpuBanner(): void {
  const cpu = tf.findBackend('cpu') as { firstUse?: boolean } | null;
  if (cpu) cpu.firstUse = false;
}

/**
 * Disposes the wasm backend (its tensors and its worker threads). Optional: the workers do not
 * keep Node alive. For the end of a program; a later initEngine() in the same process throws.
 */
export function shutdownEngine(): void {
  if (wasmThreads === null) return;
  if (tf.findBackendFactory('wasm')) tf.removeBackend('wasm');
  wasmThreads = SHUT_DOWN;
}

type Listeners = Record<'uncaughtException' | 'unhandledRejection', unknown[]>;

function processListeners(): Listeners {
  return {
    uncaughtException: process.listeners('uncaughtException'),
    unhandledRejection: process.listeners('unhandledRejection'),
  };
}

function removeListenersAddedSince(before: Listeners): void {
  for (const fn of process.listeners('uncaughtException')) {
    if (!before.uncaughtException.includes(fn)) process.removeListener('uncaughtException', fn);
  }
  for (const fn of process.listeners('unhandledRejection')) {
    if (!before.unhandledRejection.includes(fn)) process.removeListener('unhandledRejection', fn);
  }
}
