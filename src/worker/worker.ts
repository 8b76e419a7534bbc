/// <reference lib="webworker" />
import * as Comlink from 'comlink';
import * as tf from '@tensorflow/tfjs';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { Executor, thumbnail, type ExecutorEvent, type Graph, type ImageBatchValue, type RunSummary, type Thumbnail } from '../engine';
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

/** What the editor can ask of the worker. Tensors never cross: views carry typed arrays only. */
const api = {
  async init(preferred?: BackendName): Promise<BackendReport> {
    backend = await pickFastestBackend(WASM_PATHS, preferred);
    return backend;
  },

  async run(graph: Graph, opts: { targets?: string[] }, onEvent: (events: ExecutorEvent[]) => void): Promise<RunSummary> {
    if (!backend) await api.init();
    controller = new AbortController();
    host.clearOutputs();
    executor.prune(graph);
    // Batch events per animation-frame-ish tick so progress from tight loops does not flood the UI.
    let queue: ExecutorEvent[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      timer = undefined;
      if (queue.length) onEvent(queue);
      queue = [];
    };
    const summary = await executor.run(graph, {
      signal: controller.signal,
      targets: opts.targets,
      views: true,
      onEvent(e) {
        if (e.type === 'progress') queue = queue.filter((q) => !(q.type === 'progress' && q.nodeId === e.nodeId));
        queue.push(e);
        if (e.type === 'run-end' || e.type === 'status') flush();
        else timer ??= setTimeout(flush, 50);
      },
    });
    if (timer) clearTimeout(timer);
    flush();
    controller = undefined;
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

  memory(): { numTensors: number; numBytes: number; backend: string } | undefined {
    if (!backend) return undefined; // tf.memory() throws before a backend is up
    const m = tf.memory();
    return { numTensors: m.numTensors, numBytes: m.numBytes, backend: tf.getBackend() };
  },
};

export type WorkerApi = typeof api;
Comlink.expose(api);
