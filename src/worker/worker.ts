/// <reference lib="webworker" />
import * as Comlink from 'comlink';
import * as tf from '@tensorflow/tfjs';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { Executor, thumbnail, type ErrorInfo, type ExecutorEvent, type Graph, type ImageBatchValue, type RunSummary, type Thumbnail } from '../engine';
import type { BackendName } from '../ml/backend';
import { BrowserHost } from './browserHost';
import { registry } from './nodes';
import { pickFastestBackend, type BackendReport } from './pickBackend';

const WASM_PATHS = {
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
};

const host = new BrowserHost(new URL(import.meta.env.BASE_URL, self.location.origin).href);
const executor = new Executor(registry, host);
let controller: AbortController | undefined;
let backend: BackendReport | undefined;
/**
 * The one backend start-up in flight. Every caller (the editor's init, a run asked for during
 * start-up) awaits this same promise: two concurrent pickFastestBackend calls switch tfjs backends
 * under each other's feet (runs then failed with "No tfjs backend could start" or image decoding
 * errors while the probe was still switching).
 */
let starting: Promise<BackendReport> | undefined;
/** Why the GPU device went away, reported with the next run (once). */
let deviceLost: string | undefined;
/** The device whose loss `deviceLost` describes (a run that started on it failed because of it). */
let lostDevice: GPUDevice | undefined;
/** How long a node error on webgpu waits for `device.lost` to tell whether the device went away. */
const LOSS_SETTLE_MS = 1000;
let onBackendChange: ((change: BackendChange) => void) | undefined;

export interface BackendChange {
  report: BackendReport;
  /** Plain words for the user: what happened and what was done about it. */
  message: string;
}

/** Memory held by the worker's tfjs backend, sent along with run events so the badge keeps updating mid-run. */
export interface MemoryInfo {
  numTensors: number;
  numBytes: number;
  backend: string;
}

function memoryNow(): MemoryInfo | undefined {
  if (!backend) return undefined; // tf.memory() throws before a backend is up
  const m = tf.memory();
  return { numTensors: m.numTensors, numBytes: m.numBytes, backend: tf.getBackend() };
}

function start(preferred?: BackendName): Promise<BackendReport> {
  starting ??= pickFastestBackend(WASM_PATHS, preferred).then(
    (report) => {
      backend = report;
      watchDevice();
      return report;
    },
    (err: unknown) => {
      starting = undefined; // a later call may try again
      throw err;
    },
  );
  return starting;
}

/**
 * A WebGPU device can be lost (driver reset, GPU process crash, tab in the background too long).
 * tfjs cannot re-create its device once the backend is registered, so we fall back to wasm, drop
 * cached results that lived on the lost device, and say so plainly instead of failing later with
 * "mapAsync on GPUBuffer: A valid external Instance reference no longer exists".
 */
function watchDevice() {
  if (tf.getBackend() !== 'webgpu') return;
  const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
  void device?.lost.then(async (info) => {
    deviceLost = `The WebGPU device was lost (${info.reason}${info.message ? `: ${info.message}` : ''}).`;
    lostDevice = device;
    try {
      executor.dispose();
    } catch {
      /* tensors on a lost device may refuse to free; they are unreachable either way */
    }
    const lostReport = backend;
    backend = undefined;
    starting = pickFastestBackend(WASM_PATHS, 'wasm').then((report) => {
      backend = { ...report, reason: `${deviceLost} Switched to wasm. (was: ${lostReport?.reason ?? 'webgpu'})` };
      return backend;
    });
    const report = await starting;
    onBackendChange?.({ report, message: `${deviceLost} Switched to the wasm backend; cached results were cleared, so the next run recomputes them.` });
  });
}

function activeDevice(): GPUDevice | undefined {
  return tf.getBackend() === 'webgpu' ? (tf.backend() as unknown as { device?: GPUDevice }).device : undefined;
}

/**
 * A node that was running when the device went away fails with WebGPU internals ("Failed to execute
 * 'mapAsync' on 'GPUBuffer': Buffer was unmapped…"); the user is told what really happened instead.
 */
function plainDeviceLoss(error: ErrorInfo): ErrorInfo {
  return { ...error, message: `${deviceLost ?? 'The WebGPU device was lost.'} This node was running on it and stopped.`, fix: 'run again: the editor switched to the wasm backend and recomputes what was lost.' };
}

/** What the editor can ask of the worker. Tensors never cross: views carry typed arrays only. */
const api = {
  async init(preferred?: BackendName, onChange?: (change: BackendChange) => void): Promise<BackendReport> {
    if (onChange) onBackendChange = onChange;
    return start(preferred);
  },

  async run(graph: Graph, opts: { targets?: string[] }, onEvent: (events: ExecutorEvent[], memory?: MemoryInfo) => void): Promise<RunSummary> {
    // A run asked for during start-up waits for the backend the editor is already starting.
    await start();
    controller = new AbortController();
    host.clearOutputs();
    executor.prune(graph);
    const device = activeDevice();
    const lostHere = () => device !== undefined && lostDevice === device;
    // Batch events per animation-frame-ish tick so progress from tight loops does not flood the UI.
    let queue: ExecutorEvent[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    // While set, events are held: a node failed on webgpu and we wait to learn whether the device was lost.
    let settling: Promise<void> | undefined;
    const flush = () => {
      timer = undefined;
      if (settling) return;
      if (lostHere()) queue = queue.map((e) => (e.type === 'status' && e.status === 'error' && e.error ? { ...e, error: plainDeviceLoss(e.error) } : e));
      if (queue.length) onEvent(queue, memoryNow());
      queue = [];
    };
    const summary = await executor.run(graph, {
      signal: controller.signal,
      targets: opts.targets,
      views: true,
      onEvent(e) {
        if (e.type === 'progress') queue = queue.filter((q) => !(q.type === 'progress' && q.nodeId === e.nodeId));
        queue.push(e);
        if (device && !lostHere() && !settling && e.type === 'status' && e.status === 'error') {
          // The error may arrive before device.lost resolves: give it a moment to.
          settling = Promise.race([device.lost, new Promise((r) => setTimeout(r, LOSS_SETTLE_MS))]).then(() => {
            settling = undefined;
            flush();
          });
          return;
        }
        if (e.type === 'run-end' || e.type === 'status') flush();
        else timer ??= setTimeout(flush, 50);
      },
    });
    if (timer) clearTimeout(timer);
    await settling;
    flush();
    controller = undefined;
    if (lostHere()) {
      for (const n of Object.values(summary.nodes)) if (n.error) n.error = plainDeviceLoss(n.error);
    }
    return summary;
  },

  cancel(): void {
    controller?.abort();
  },

  putUpload(key: string, files: Array<{ name: string; bytes: Uint8Array }>): void {
    host.putUpload(key, files);
  },

  hasUpload(key: string): boolean {
    return host.hasUpload(key);
  },

  getOutput(location: string): Uint8Array | undefined {
    const bytes = host.getOutput(location);
    if (!bytes) return undefined;
    const copy = bytes.slice(); // the host keeps its own copy for later downloads
    return Comlink.transfer(copy, [copy.buffer]);
  },

  /** One image of a node's ImageBatch output at up to `maxSide` px, for the large before/after viewer. */
  async image(nodeId: string, port: string, index: number, maxSide = 2048): Promise<Thumbnail | undefined> {
    const value = executor.outputsOf(nodeId)?.[port] as ImageBatchValue | undefined;
    const img = value?.kind === 'ImageBatch' ? value.images[index] : undefined;
    if (!img) return undefined;
    const t = await thumbnail(img.name, img.tensor, maxSide);
    return Comlink.transfer(t, [t.rgba.buffer]);
  },

  memory(): MemoryInfo | undefined {
    return memoryNow();
  },

  /** Test hook: destroys the WebGPU device as a driver reset would (e2e checks the recovery). */
  loseDeviceForTest(): boolean {
    const device = tf.getBackend() === 'webgpu' ? (tf.backend() as unknown as { device?: GPUDevice }).device : undefined;
    device?.destroy();
    return Boolean(device);
  },
};

export type WorkerApi = typeof api;
Comlink.expose(api);
