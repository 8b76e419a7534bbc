/**
 * Multi-threaded tfjs-backend-wasm in Node (Node-only; the browser keeps tfjs's own loader).
 *
 * Why this module exists: tfjs-backend-wasm 4.22 never uses threads in Node. Its
 * `WASM_HAS_MULTITHREAD_SUPPORT` flag is hard-wired to false under Node (tfjs issue #3830), and
 * even when forced on, its `init()` hands Emscripten the pthread worker and the main script as
 * `blob:` URLs, which Node's `worker_threads` rejects. The package does ship everything a Node
 * thread pool needs: the threaded SIMD Emscripten factory (`wasm-out/…-threaded-simd.js`, which
 * has a Node branch that spawns `worker_threads`), its `.wasm`, and the pthread worker source
 * (`wasm-out/…-threaded-simd.worker.js`, whose code also has a Node branch).
 *
 * What we do (no global or prototype is patched): write the worker source to a real `.cjs` file
 * once per tfjs version, then register a 'wasm' backend factory that mirrors tfjs's `init()`
 * with Emscripten's documented module options — `locateFile` answering real file paths and
 * `mainScriptUrlOrBlob` naming the factory's own file, which each pthread worker loads with
 * `importScripts` (the worker's Node branch reads it from disk). Everything else — kernels,
 * `BackendWasm`, `setThreadsCount`/`getThreadsCount` — is tfjs's own.
 *
 * What this depends on inside tfjs (checked by wasmThreads.test.ts, which fails loudly if a tfjs
 * upgrade moves them): the two `wasm-out` files, the factory's global name
 * `WasmBackendModuleThreadedSimd`, the worker's `importScripts(e.data.urlOrBlob)` Node path, and
 * the C exports that tfjs's `init()` wraps (init, init_with_threads_count, get_threads_count,
 * register_tensor, dispose_data, dispose).
 */
import { createRequire } from 'node:module';
import { promises as fs, existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { BackendWasm, getThreadsCount, setThreadsCount, version_wasm } from '@tensorflow/tfjs-backend-wasm';

const require = createRequire(import.meta.url);

/** tfjs's backend priority for wasm (tfjs-backend-wasm/src/base.ts). */
const WASM_PRIORITY = 2;

export const FACTORY_GLOBAL = 'WasmBackendModuleThreadedSimd';

/** Files of the installed tfjs-backend-wasm that a Node thread pool needs. */
export function threadedWasmFiles(): { factoryJs: string; workerSourceJs: string; wasm: string } {
  const factoryJs = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
  const dir = path.dirname(factoryJs);
  return {
    factoryJs,
    workerSourceJs: path.join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js'),
    wasm: path.join(dir, '..', 'dist', 'tfjs-backend-wasm-threaded-simd.wasm'),
  };
}

/** The pthread worker source tfjs ships as a string (it normally becomes a blob: URL). */
export function pthreadWorkerSource(): string {
  const src = (require(threadedWasmFiles().workerSourceJs) as { wasmWorkerContents?: unknown }).wasmWorkerContents;
  if (typeof src !== 'string' || !src.includes('importScripts') || !src.includes('urlOrBlob') || !src.includes('worker_threads')) {
    throw new Error(
      `tfjs-backend-wasm ${version_wasm}: the pthread worker source changed shape (no Node worker_threads / importScripts(urlOrBlob) path); ` +
        'src/cli/wasmThreads.ts must be updated for this tfjs version, or run with --threads 1.',
    );
  }
  return src;
}

/** Write the worker source to a real CommonJS file (once per content hash) and return its path. */
export async function pthreadWorkerFile(): Promise<string> {
  // tfjs stores the source in a template literal, so its "\n" escapes arrived as real newlines
  // inside string literals; tfjs's init() escapes them back before making its blob, and so do we.
  const src = pthreadWorkerSource().replace(/\n/g, '\\n');
  const hash = createHash('sha256').update(src).digest('hex').slice(0, 12);
  const file = path.join(os.tmpdir(), `backlit-tfjs-wasm-${version_wasm}-${hash}`, 'pthread-worker.cjs');
  if (existsSync(file)) return file;
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, src);
  await fs.rename(tmp, file); // atomic: concurrent processes never see a half-written worker
  return file;
}

interface EmscriptenModule {
  PThread?: { runningWorkers: Array<{ unref?: () => void }> };
  cwrap(name: string, ret: string | null, args: string[]): (...a: number[]) => number;
  tfjs?: Record<string, unknown>;
}
type Factory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

/** Instantiate the threaded SIMD module the way tfjs's init() does, with file paths instead of blob: URLs. */
async function initThreaded(threads: number): Promise<EmscriptenModule> {
  const files = threadedWasmFiles();
  const workerFile = await pthreadWorkerFile();
  const imported = require(files.factoryJs) as Factory | { default?: Factory };
  const factory = (typeof imported === 'function' ? imported : imported.default) as Factory | undefined;
  if (typeof factory !== 'function') throw new Error(`tfjs-backend-wasm ${version_wasm}: ${files.factoryJs} no longer exports the Emscripten factory; update src/cli/wasmThreads.ts or run with --threads 1.`);
  const factorySource = await fs.readFile(files.factoryJs, 'utf8');
  if (!factorySource.includes(`var ${FACTORY_GLOBAL}`)) throw new Error(`tfjs-backend-wasm ${version_wasm}: ${files.factoryJs} does not define ${FACTORY_GLOBAL}, which the pthread workers call; update src/cli/wasmThreads.ts or run with --threads 1.`);
  const wasmBytes = await fs.readFile(files.wasm);
  let failLoading: (e: unknown) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    failLoading = (e) => reject(new Error(`threaded wasm backend failed to load: ${e instanceof Error ? e.message : String(e)}; run with --threads 1 to use the single-threaded build.`));
  });
  const loading = factory({
    // Emscripten's documented instantiation hook (tfjs's own init() uses it too, for custom fetch).
    // We use it for one more thing: tfjs's C++ sizes XNNPACK's pool as
    //   min(max(requested, 1), 8, emscripten_num_logical_cores() / 2)
    // (the halving assumes hyper-threading), so on a 2-core machine any request becomes 1 thread.
    // Answering "2 × requested" from this import makes the pool exactly the requested size (≤ 8).
    instantiateWasm: (imports: WebAssembly.Imports & { env: Record<string, unknown> }, receive: (i: WebAssembly.Instance, m: WebAssembly.Module) => void) => {
      if (typeof imports.env?.emscripten_num_logical_cores !== 'function') {
        throw new Error(`tfjs-backend-wasm ${version_wasm}: the threaded module no longer imports emscripten_num_logical_cores; update src/cli/wasmThreads.ts or run with --threads 1.`);
      }
      const env = { ...imports.env, emscripten_num_logical_cores: () => 2 * threads };
      WebAssembly.instantiate(wasmBytes, { ...imports, env, wasi_snapshot_preview1: env }).then(({ instance, module: m }) => receive(instance, m), failLoading);
      return {};
    },
    locateFile: (p: string, prefix: string) => {
      if (p.endsWith('.worker.js')) return workerFile;
      if (p.endsWith('.wasm')) return files.wasm;
      return prefix + p;
    },
    // Each pthread worker evaluates this file (Node branch: fs.readFileSync + indirect eval) and calls the global factory.
    mainScriptUrlOrBlob: files.factoryJs,
    onAbort: failLoading,
  });
  const module = await Promise.race([loading, failed]);
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  return module;
}

/** Logical cores Node sees (the default for --threads). */
export function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** tfjs's C++ caps XNNPACK's pool at 8 threads (the pre-spawned pthread pool size). */
export const MAX_WASM_THREADS = 8;

let registeredThreads: number | null = null;

/**
 * Make the 'wasm' backend use `threads` XNNPACK threads (default: all cores, at most 8). Call
 * before `tf.setBackend('wasm')`; calling again with another count replaces the backend (the next
 * `setBackend('wasm')` starts a fresh module). A first call with 1 keeps tfjs's stock
 * single-threaded loader (SIMD build, no workers).
 */
export function configureWasmThreads(threads: number = availableCores()): number {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`--threads must be a whole number ≥ 1 (got ${threads}).`);
  const n = Math.min(threads, MAX_WASM_THREADS);
  if (registeredThreads === n) return n;
  setThreadsCount(n);
  if (n === 1 && registeredThreads === null) return n; // stock tfjs registration is already single-threaded
  // Only findBackendFactory here: tf.findBackend() would *start* the registered factory, and that
  // stock init could land in the registry after our replacement (seen as a flaky 1-thread run).
  if (tf.findBackendFactory('wasm')) tf.removeBackend('wasm'); // also drops a started instance
  tf.registerBackend('wasm', async () => {
    const module = await initThreaded(n);
    const backend = new BackendWasm(module as never); // creates XNNPACK's pool: n − 1 pthreads
    // Emscripten ref()s the worker of every running pthread, and XNNPACK's pool threads run for
    // the module's lifetime, so a CLI would never exit. They only serve the main thread: unref.
      for (const w of module.PThread?.runningWorkers ?? []) w.unref?.();
    return backend;
  }, WASM_PRIORITY);
  registeredThreads = n;
  return n;
}

/** XNNPACK threads of the running wasm backend (as tfjs reports them), or null when wasm is not active. */
export function wasmThreadsInUse(): number | null {
  if (tf.getBackend() !== 'wasm') return null;
  try {
    return getThreadsCount();
  } catch {
    return null;
  }
}

/** XNNPACK threads of the wasm backend once it has started (even if another backend is active now), else null. */
export function wasmThreadCount(): number | null {
  try {
    return getThreadsCount();
  } catch {
    return null;
  }
}

/** One line for run headers and `backlit backends`: "wasm: 2 threads (threaded SIMD build)". */
export function describeWasmThreads(): string | null {
  const n = wasmThreadsInUse();
  if (n === null) return null;
  return `${n} thread${n === 1 ? '' : 's'} (${registeredThreads !== null ? 'threaded SIMD build, Node worker_threads' : 'single-threaded SIMD build'})`;
}
