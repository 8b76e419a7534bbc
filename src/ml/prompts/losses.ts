import * as tf from '@tensorflow/tfjs';
import { marginHinge, negativeScore, promptInitLoss, PROMPT_LOGIT_SCALE } from '../losses';

/**
 * Prompt-learning losses of METHODS.md (CLIP-LIT and latent prompts share them). Scores are
 * s(x) = softmax(scale·cos(E(x), g))[negative] per image, scale = 100 unless given.
 */

/** Multiplier of the margin ranking sum in the refinement stage (CLIP-LIT). */
export const REFINE_WEIGHT = 200;

/** Per-image negative scores s(x) of the sets that take part in a prompt step. */
export interface PromptScores {
  backlit: tf.Tensor1D;
  wellLit: tf.Tensor1D;
  /** e1: enhanced outputs of an earlier round (round 1's). */
  previous?: tf.Tensor1D;
  /** e2: enhanced outputs of the later round (round 2's), expected between e1 and well-lit. */
  previous2?: tf.Tensor1D;
}

/**
 * The refinement (margin ranking) loss, ×200:
 * - no previous outputs:      h(B,W,1.0)
 * - e1 = previous:            h(B,W,.9) + h(B,e1,.9) + h(e1,W,.2)
 * - e1 = previous, e2 = previous2: h(B,W,.9) + h(B,e1,.9) + h(e1,e2,.1) + h(e2,W,.1)
 * with h(a,b,m) = mean max(0, s(b) − s(a) + m): a must look more backlit than b by m.
 *
 * e1 is the older output (more backlit), e2 the newer one: in a graph, `previous` stays wired to
 * round 1's output and `previous2` to round 2's when a third round is added.
 */
export function refinementLoss(s: PromptScores): tf.Scalar {
  if (s.previous2 && !s.previous) throw new Error('refinementLoss: previous2 (e2) needs previous (e1).');
  return tf.tidy(() => {
    const { backlit: B, wellLit: W, previous: e1, previous2: e2 } = s;
    let sum: tf.Scalar;
    if (!e1) sum = marginHinge(B, W, 1.0);
    else if (!e2) sum = tf.addN([marginHinge(B, W, 0.9), marginHinge(B, e1, 0.9), marginHinge(e1, W, 0.2)]) as tf.Scalar;
    else sum = tf.addN([marginHinge(B, W, 0.9), marginHinge(B, e1, 0.9), marginHinge(e1, e2, 0.1), marginHinge(e2, W, 0.1)]) as tf.Scalar;
    return tf.mul(sum, REFINE_WEIGHT) as tf.Scalar;
  });
}

/** Embeddings (L2-normalised, [n,D]) of one prompt step's batch. */
export interface PromptBatch {
  backlit: tf.Tensor2D;
  wellLit: tf.Tensor2D;
  previous?: tf.Tensor2D;
  previous2?: tf.Tensor2D;
}

/** Initial stage: softmax cross-entropy (logits 100·cos), backlit → negative (0), well-lit → positive (1). */
export function initStageLoss(batch: PromptBatch, prompts: tf.Tensor2D, scale = PROMPT_LOGIT_SCALE): tf.Scalar {
  return tf.tidy(() => {
    const labels = [...new Array<number>(batch.backlit.shape[0]).fill(0), ...new Array<number>(batch.wellLit.shape[0]).fill(1)];
    return promptInitLoss(tf.concat([batch.backlit, batch.wellLit], 0) as tf.Tensor2D, prompts, labels, scale);
  });
}

/** Refinement stage on a batch: the margin ranking loss on the scores of each set. */
export function refineStageLoss(batch: PromptBatch, prompts: tf.Tensor2D, scale = PROMPT_LOGIT_SCALE): tf.Scalar {
  return tf.tidy(() =>
    refinementLoss({
      backlit: negativeScore(batch.backlit, prompts, scale),
      wellLit: negativeScore(batch.wellLit, prompts, scale),
      previous: batch.previous ? negativeScore(batch.previous, prompts, scale) : undefined,
      previous2: batch.previous2 ? negativeScore(batch.previous2, prompts, scale) : undefined,
    }),
  );
}
