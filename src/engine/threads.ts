/**
 * Multi-threaded tfjs wasm under Node.
 *
 * tfjs-backend-wasm 4.22.0 never uses its threaded binary in Node: its feature flag answers "no"
 * when it sees Node, its pthread worker script is handed to `new Worker()` as a `blob:` URL
 * (which Node's Worker refuses), and its C++ side caps the pool at half the logical cores
 * (a 2-core machine gets one thread). Here we build the backend ourselves from the package's
 * own files instead: the Emscripten factory in `wasm-out/`, the worker script written to a real
 * file, and the core count reported to the module doubled so that the cap lets `threads` through.
 *
 * This reaches into internals of tfjs-backend-wasm 4.22.0 (the factory's options, the name of
 * the core-count import, `BackendWasm`'s constructor): keep that version pinned.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import * as wasmBackend from '@tensorflow/tfjs-backend-wasm';
import { tf } from './tf.js';

const require = createRequire(import.meta.url);
const WASM_OUT = dirname(
  require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js'),
);
const FACTORY_JS = join(WASM_OUT, 'tfjs-backend-wasm-threaded-simd.js');
const WASM_BINARY = join(WASM_OUT, 'tfjs-backend-wasm-threaded-simd.wasm');
// XNNPACK's pool is built from 8 pre-spawned workers (PTHREAD_POOL_SIZE) and capped at 8.
export const MAX_WASM_THREADS = 8;

interface PThreadApi {
  runningWorkers: Worker[];
  unusedWorkers: Worker[];
}
interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): (...a: number[]) => number;
  PThread: PThreadApi;
  tfjs?: Record<string, unknown>;
}
type WasmImports = { env: Record<string, unknown> };
type Factory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

/**
 * The worker script tfjs ships only as a string; Node's Worker needs a file. The name carries a
 * hash of the contents so that concurrent processes share one file and never see a partial one.
 */
function workerFile(): string {
  const { wasmWorkerContents } = require(
    join(WASM_OUT, 'tfjs-backend-wasm-threaded-simd.worker.js'),
  );
  // tfjs escapes newlines the same way before making its Blob: the script has "\n" in strings.
  const text = (wasmWorkerContents as string).replace(/\n/g, '\\n');
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const file = join(tmpdir(), `meal-tfjs-wasm-worker-${wasmBackend.version_wasm}-${hash}.cjs`);
  if (!existsSync(file)) {
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, text);
    renameSync(partial, file);
  }
  return file;
}

/** Creates the threaded Emscripten module with a pool that allows `threads` threads. */
async function createThreadedModule(threads: number): Promise<EmscriptenModule> {
  const factory = require(FACTORY_JS) as Factory;
  const worker = workerFile();
  const module = await factory({
    locateFile: (path: string, prefix: string) =>
      path.endsWith('.worker.js') ? worker : path.endsWith('.wasm') ? WASM_BINARY : prefix + path,
    // The workers load the factory from this file (tfjs would pass a Blob here).
    mainScriptUrlOrBlob: FACTORY_JS,
    instantiateWasm(
      imports: WasmImports,
      receive: (i: WebAssembly.Instance, m: WebAssembly.Module) => void,
    ) {
      // The C++ side caps its pool at emscripten_num_logical_cores() / 2, read once when the
      // module starts; report twice the threads wanted so the cap lets them all through.
      const key = Object.keys(imports.env).find(
        (k) => (imports.env[k] as { name?: string }).name === '_emscripten_num_logical_cores',
      );
      if (!key) throw new Error('tfjs-backend-wasm internals changed: no core-count import found');
      imports.env[key] = () => 2 * threads;
      WebAssembly.instantiate(readFileSync(WASM_BINARY), imports as WebAssembly.Imports).then((r) =>
        receive(r.instance, r.module),
      );
      return {};
    },
  });
  return module;
}

/**
 * Replaces tfjs's `wasm` backend factory with one that runs `threads` threads. Kernels stay
 * registered under the name `wasm`, so every stock and project kernel applies unchanged.
 * Must be called before the `wasm` backend is first used.
 */
export function registerThreadedWasm(threads: number, log: (line: string) => void): void {
  if (!Number.isInteger(threads) || threads < 2 || threads > MAX_WASM_THREADS) {
    throw new Error(`threaded wasm needs 2..${MAX_WASM_THREADS} threads, got ${threads}`);
  }
  const stock = registryFactory().wasm;
  if (!stock)
    throw new Error('the wasm backend is not registered: import @tensorflow/tfjs-backend-wasm');
  tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    async () => {
      try {
        return await threadedBackend(threads);
      } catch (e) {
        // Threads are a speed-up, not a feature: run on one thread rather than not at all.
        log(`wasm threads unavailable (${(e as Error).message}); using one thread`);
        return stock.factory();
      }
    },
    stock.priority,
  );
}

async function threadedBackend(threads: number): Promise<tf.KernelBackend> {
  const module = await createThreadedModule(threads);
  // The same bridge tfjs's own init() builds (tf-backend-wasm.node.js, function init).
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  wasmBackend.setThreadsCount(threads);
  const backend = new wasmBackend.BackendWasm(module as never);
  releasePool(module.PThread);
  return backend;
}

type Registration = {
  factory: () => tf.KernelBackend | Promise<tf.KernelBackend>;
  priority: number;
};

/** The engine's table of backend factories; tfjs has no public getter for one entry. */
function registryFactory(): Record<string, Registration | undefined> {
  return (tf.engine() as unknown as { registryFactory: Record<string, Registration> })
    .registryFactory;
}

/**
 * XNNPACK's threads park in their workers for the life of the module and keep them referenced,
 * so Node would never exit on its own. Unreference them: the main thread waits on them
 * synchronously inside each kernel anyway. The pre-spawned workers the pool did not take are
 * terminated to give back their memory (Emscripten spawns a new one if ever needed).
 */
function releasePool(pthread: PThreadApi): void {
  for (const w of pthread.runningWorkers) w.unref();
  for (const w of pthread.unusedWorkers.splice(0)) void w.terminate();
}
