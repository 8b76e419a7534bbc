import * as tf from '@tensorflow/tfjs';
import { clipPromptLoss, negativeScore, PROMPT_LOGIT_SCALE, raveLoss } from '../losses';

/**
 * What guides the enhancer: anything that turns embeddings of enhanced images into a loss. The
 * trainer only sees this interface, so RAVE's residual vector and CLIP-LIT's prompt pairs (text or
 * latent) plug in alike.
 */
export interface Guidance {
  /** Embedding space it lives in; the encoder used in training must match. */
  readonly space: string;
  readonly label: string;
  /** Loss on L2-normalised embeddings [N,D] of enhanced images (differentiable). */
  loss(embeddings: tf.Tensor2D): tf.Scalar;
  /** Per-image score, higher = closer to well-lit (for plots and no-reference metrics). */
  score(embeddings: tf.Tensor2D): tf.Tensor1D;
}

/** RAVE: L = mean (<E(I_out), r> − thr)²; score = <E, r> (reaches thr when as well-lit as the mean). */
export function residualGuidance(r: tf.Tensor1D, thr: number, space: string): Guidance {
  return {
    space,
    label: `residual vector (thr ${thr.toFixed(4)})`,
    loss: (emb) => raveLoss(emb, r, thr),
    score: (emb) => tf.tidy(() => tf.squeeze(tf.matMul(emb, tf.reshape(r, [-1, 1])), [1]) as tf.Tensor1D),
  };
}

/** CLIP-LIT / latent prompts: L = mean softmax(100·cos(E, g))[negative]; score = P(positive). */
export function promptGuidance(prompts: tf.Tensor2D, space: string, mode: 'text' | 'latent', logitScale = PROMPT_LOGIT_SCALE): Guidance {
  return {
    space,
    label: `${mode} prompt pair${logitScale !== PROMPT_LOGIT_SCALE ? ` (logit scale ${logitScale})` : ''}`,
    loss: (emb) => clipPromptLoss(emb, prompts, logitScale),
    score: (emb) => tf.tidy(() => tf.sub(1, negativeScore(emb, prompts, logitScale)) as tf.Tensor1D),
  };
}
