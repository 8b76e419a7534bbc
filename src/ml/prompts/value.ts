import * as tf from '@tensorflow/tfjs';
import type { ImageEncoder } from '../encoder';
import type { PromptPairStats } from './train';

/**
 * A PromptPair port value (structurally the engine's PromptPairValue) plus what the Prompt Learner
 * adds: the token embeddings of text prompts (so a later learner can continue them) and plain-number
 * statistics for the editor's view.
 */
export interface LearnedPromptPair {
  kind: 'PromptPair';
  space: string;
  mode: 'text' | 'latent';
  /** Unit rows [2, D]: 0 = negative (backlit), 1 = positive (well-lit). */
  prompts: tf.Tensor2D;
  /** Text mode: learnt token embeddings [2, L, hidden]. */
  tokens?: tf.Tensor3D;
  eotPositions?: number[];
  /** Logit scale the prompts were learnt with (100 = METHODS.md); the Enhancer Trainer guides with it. */
  logitScale?: number;
  stats?: PromptPairStats;
}

/**
 * L2-normalised embeddings [N, D] of images of any sizes (one at a time: sizes may differ),
 * with the dataset preprocessing (short side resize + centre crop).
 */
export function encodeSet(encoder: ImageEncoder, images: tf.Tensor3D[]): tf.Tensor2D {
  if (images.length === 0) throw new Error('encodeSet: no images.');
  return tf.tidy(() => tf.concat(images.map((im) => encoder.encodeImages(tf.expandDims(im, 0) as tf.Tensor4D, 'dataset')), 0) as tf.Tensor2D);
}
