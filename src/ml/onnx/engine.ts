import type * as tf from '@tensorflow/tfjs';
import type { TiledRunOptions } from '../enhancer/inference';
import type { EnhanceResult, EnhancerNet } from '../enhancer/network';
import type { ImageEncoder } from '../encoder';

/**
 * An alternative engine for Enhance inference (the network's forward only; training always runs
 * on tfjs). The CLI installs one (onnxruntime-node, src/cli/onnxEngine.ts) when it is measured
 * faster on this machine's CPU; the browser never does. This module imports no runtime, so the
 * Enhance node can ask for it in any host.
 */
export interface EnhanceEngine {
  /** For run headers and notes, e.g. 'onnxruntime-node 1.30.0 (2 threads)'. */
  readonly name: string;
  /** Same contract as enhanceTiledAsync (mode 'tiled') or net.forward with reflect padding (mode 'full'). */
  enhance(net: EnhancerNet, image: tf.Tensor4D, opts: TiledRunOptions & { mode: 'tiled' | 'full' }): Promise<EnhanceResult>;
}

let active: EnhanceEngine | null = null;

export function setEnhanceEngine(engine: EnhanceEngine | null): void {
  active = engine;
}

/** The installed engine, or null: use tfjs. */
export function enhanceEngine(): EnhanceEngine | null {
  return active;
}

/**
 * An alternative engine for Encode Images (the non-differentiable "dataset" embeddings; losses and
 * training keep the encoder's own tfjs path). The CLI installs one with the Enhance engine
 * (onnxruntime-node running the CLIP vision tower exported from the same weights); the browser never does.
 */
export interface ImageEncodeEngine {
  /** For notes, e.g. 'onnxruntime-node 1.30.0 (2 threads)'. */
  readonly name: string;
  /** Whether it runs this encoder (else the node uses encoder.encodeImages on tfjs). */
  accepts(encoder: ImageEncoder): boolean;
  /** Same contract as encoder.encodeImages (within 1e-4), not differentiable: L2-normalised [N, D]. */
  encodeImages(encoder: ImageEncoder, images: tf.Tensor4D, mode: 'dataset' | 'loss'): Promise<tf.Tensor2D>;
}

let activeEncode: ImageEncodeEngine | null = null;

export function setImageEncodeEngine(engine: ImageEncodeEngine | null): void {
  activeEncode = engine;
}

/** The installed engine for Encode Images, or null: use tfjs. */
export function imageEncodeEngine(): ImageEncodeEngine | null {
  return activeEncode;
}
