import * as tf from '@tensorflow/tfjs';
import { ClipEncoder } from '../ml/clip/encoder';
import type { ClipModel } from '../ml/clip/model';
import type { ImageEncoder } from '../ml/encoder';
import type { EnhancerNet } from '../ml/enhancer/network';
import { OnnxClipTower } from '../ml/onnx/clipRuntime';
import { setEnhanceEngine, setImageEncodeEngine, type EnhanceEngine, type ImageEncodeEngine } from '../ml/onnx/engine';
import { OnnxEnhancer, loadOrt } from '../ml/onnx/runtime';

/**
 * `--engine` for Enhance inference in the CLI. Measured (bench/infer.ts, bench/RESULTS.md):
 * onnxruntime-node runs the enhancer's forward several times faster than tfjs-wasm on the CPU, on
 * graphs exported from the same weights (equal within 1e-4). auto: onnxruntime when the tfjs
 * backend is a CPU one (wasm, cpu) and the native module loads; on webgpu/webgl the GPU stays.
 * The same choice runs Encode Images' CLIP vision tower on onnxruntime (clipExport.ts, same weights;
 * bench/clipTower.ts: several times faster than tfjs-wasm on the tiny tower).
 */
export const ENHANCE_ENGINES = ['auto', 'onnx', 'tfjs'] as const;
export type EnhanceEngineChoice = (typeof ENHANCE_ENGINES)[number];

/** Installs (or not) the onnx engines (Enhance, Encode Images' CLIP tower); returns a one-line description for the run header. */
export async function configureEnhanceEngine(choice: EnhanceEngineChoice, threads: number, backend = tf.getBackend()): Promise<string> {
  setEnhanceEngine(null);
  setImageEncodeEngine(null);
  if (choice === 'tfjs') return 'enhance: tfjs';
  if (choice === 'auto' && backend !== 'wasm' && backend !== 'cpu') return `enhance: tfjs (${backend}; --engine onnx runs it on the CPU instead)`;
  const loaded = await loadOrt();
  if ('error' in loaded) return `enhance: tfjs (onnxruntime-node did not load: ${loaded.error}; reinstall with ONNXRUNTIME_NODE_INSTALL=skip npm ci)`;
  const version = loaded.ort.env.versions?.common ?? '?';
  const name = `onnxruntime-node ${version} (${threads} thread${threads > 1 ? 's' : ''})`;
  setEnhanceEngine(onnxEngine(name, threads));
  setImageEncodeEngine(onnxClipEngine(name, threads));
  return `enhance: onnxruntime-node ${version}, ${threads} thread${threads > 1 ? 's' : ''} (also Encode Images' CLIP tower)`;
}

/** A CLIP encoder (duck-typed: node modules may be loaded apart from this one). */
function isClip(encoder: ImageEncoder): encoder is ClipEncoder {
  const e = encoder as Partial<ClipEncoder>;
  return encoder instanceof ClipEncoder || (encoder.space.startsWith('clip:') && typeof e.preprocessImages === 'function' && typeof e.model?.weight === 'function');
}

/** Encode Images on onnxruntime: preprocessing stays on tfjs, the vision tower runs on one session per model (weights are frozen). */
function onnxClipEngine(name: string, threads: number): ImageEncodeEngine {
  const towers = new WeakMap<ClipModel, Promise<OnnxClipTower>>();
  return {
    name,
    accepts: isClip,
    async encodeImages(encoder, images, mode) {
      if (!isClip(encoder)) throw new Error(`Encode Images (onnx): ${encoder.label} is not a CLIP encoder; the node should have used its tfjs path.`);
      let tower = towers.get(encoder.model);
      if (!tower) {
        tower = OnnxClipTower.create(encoder.model, { threads });
        towers.set(encoder.model, tower);
        tower.catch(() => towers.delete(encoder.model));
      }
      const pixels = encoder.preprocessImages(images, mode);
      const n = pixels.shape[0];
      let data: Float32Array;
      try {
        data = (await pixels.data()) as Float32Array;
      } finally {
        pixels.dispose();
      }
      return tf.tensor2d(await (await tower).normalizedEmbeds(data, n), [n, encoder.dim]);
    },
  };
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
