import type * as tf from '@tensorflow/tfjs';

/**
 * A differentiable image encoder: the only thing guidance losses need (DESIGN §1 "Encoders").
 * CLIP is one implementation; an encoder without a text tower is a first-class citizen
 * (latent prompts and residual vectors never need text).
 */
export interface ImageEncoder {
  /** Embedding-space id, e.g. `clip:tiny-clip` or `stats:v1`. Embeddings of different spaces never mix. */
  readonly space: string;
  /** Embedding width D. */
  readonly dim: number;
  /** Human label for UIs and errors. */
  readonly label: string;
  /**
   * Images [N,H,W,3] in 0..1 → L2-normalised embeddings [N,D]. Differentiable w.r.t. `images`.
   * `mode` picks the preprocessing of METHODS.md: `dataset` = short side to the encoder size + centre
   * crop; `loss` = whole image resized to the encoder size (no crop).
   */
  encodeImages(images: tf.Tensor4D, mode: 'dataset' | 'loss'): tf.Tensor2D;
  /** Intermediate image features (for identity/content losses). Differentiable. */
  imageFeatures?(images: tf.Tensor4D): tf.Tensor[];
  /** Present only when the encoder has a text tower: texts → L2-normalised [N,D]. */
  encodeText?(texts: string[]): tf.Tensor2D;
  dispose(): void;
}
