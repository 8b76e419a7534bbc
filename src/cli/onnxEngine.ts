import * as tf from '@tensorflow/tfjs';
import type { EnhancerNet } from '../ml/enhancer/network';
import { setEnhanceEngine, type EnhanceEngine } from '../ml/onnx/engine';
import { OnnxEnhancer, loadOrt } from '../ml/onnx/runtime';

/**
 * `--engine` for Enhance inference in the CLI. Measured (bench/infer.ts, bench/RESULTS.md):
 * onnxruntime-node runs the enhancer's forward several times faster than tfjs-wasm on the CPU, on
 * graphs exported from the same weights (equal within 1e-4). auto: onnxruntime when the tfjs
 * backend is a CPU one (wasm, cpu) and the native module loads; on webgpu/webgl the GPU stays.
 */
export const ENHANCE_ENGINES = ['auto', 'onnx', 'tfjs'] as const;
export type EnhanceEngineChoice = (typeof ENHANCE_ENGINES)[number];

/** Installs (or not) the onnx engine; returns a one-line description for the run header. */
export async function configureEnhanceEngine(choice: EnhanceEngineChoice, threads: number, backend = tf.getBackend()): Promise<string> {
  setEnhanceEngine(null);
  if (choice === 'tfjs') return 'enhance: tfjs';
  if (choice === 'auto' && backend !== 'wasm' && backend !== 'cpu') return `enhance: tfjs (${backend}; --engine onnx runs it on the CPU instead)`;
  const loaded = await loadOrt();
  if ('error' in loaded) return `enhance: tfjs (onnxruntime-node did not load: ${loaded.error}; reinstall with ONNXRUNTIME_NODE_INSTALL=skip npm ci)`;
  const version = loaded.ort.env.versions?.common ?? '?';
  setEnhanceEngine(onnxEngine(`onnxruntime-node ${version} (${threads} thread${threads > 1 ? 's' : ''})`, threads));
  return `enhance: onnxruntime-node ${version}, ${threads} thread${threads > 1 ? 's' : ''}`;
}

/** One OnnxEnhancer per network, rebuilt when its weights change (a trainer node can update the same net). */
function onnxEngine(name: string, threads: number): EnhanceEngine {
  const cache = new WeakMap<EnhancerNet, { fingerprint: number; onnx: OnnxEnhancer }>();
  return {
    name,
    async enhance(net, image, opts) {
      const fingerprint = weightsFingerprint(net);
      let hit = cache.get(net);
      if (!hit || hit.fingerprint !== fingerprint) {
        if (hit) await hit.onnx.release();
        hit = { fingerprint, onnx: await OnnxEnhancer.create(net, { threads, padMode: 'reflect' }) };
        cache.set(net, hit);
      }
      return hit.onnx.enhance(image, opts);
    },
  };
}

/** FNV-1a over the weights' float bits (≈0.3 M values: a few ms). */
function weightsFingerprint(net: EnhancerNet): number {
  let h = 0x811c9dc5;
  for (const v of net.weights.values()) {
    const bits = new Uint32Array((v.dataSync() as Float32Array).slice().buffer);
    for (let i = 0; i < bits.length; i++) h = Math.imul(h ^ bits[i], 0x01000193) >>> 0;
  }
  return h;
}
