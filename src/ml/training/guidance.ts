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

/**
 * RAVE: L = mean (<E(I_out), r> − thr)²; score = <E, r> (reaches thr when as well-lit as the mean).
 * With `gap` (> 0) the loss is measured in units of the gap to cover, L = mean ((<E, r> − thr)/gap)²:
 * a backlit image starts near 1 whatever the encoder space, so one guidance weight means the same in
 * the stats space (gap ≈ 0.8) and in CLIP space (gap ≈ 0.05). gap = undefined is the paper's loss.
 */
export function residualGuidance(r: tf.Tensor1D, thr: number, space: string, gap?: number): Guidance {
  const scale = gap !== undefined && gap > 0 ? 1 / (gap * gap) : 1;
  return {
    space,
    label: `residual vector (thr ${thr.toFixed(4)}${scale !== 1 ? `, loss in units of the gap ${gap!.toFixed(4)}` : ''})`,
    loss: (emb) => (scale === 1 ? raveLoss(emb, r, thr) : tf.tidy(() => tf.mul(raveLoss(emb, r, thr), scale) as tf.Scalar)),
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

/** Which target the residual guidance pulls projections to (see the Residual Vector node). */
export type ResidualTargetMode = 'mean-projection' | 'paper' | 'quantile';

/**
 * What a Residual Vector knows beyond r, v_pos, v_neg: the unnormalised set means and (when wired)
 * the well-lit embeddings, so the target can be recomputed for another r (Bias Correct).
 */
export interface ResidualCalibration {
  mode: ResidualTargetMode;
  quantile: number;
  /** mean E(well-lit) (unnormalised), [D]; absent when the input was not a Mean Embedding. */
  meanPos?: Float32Array;
  /** mean E(backlit) (unnormalised), [D]. */
  meanNeg?: Float32Array;
  /** The well-lit embeddings, row-major [N·D], when wired. */
  wellLitRows?: Float32Array;
}

const dotArr = (a: ArrayLike<number>, b: ArrayLike<number>, offset = 0) => {
  let s = 0;
  for (let i = 0; i < b.length; i++) s += a[offset + i] * b[i];
  return s;
};

/** Linear-interpolated quantile (numpy's default) of unsorted values. */
export function quantileOf(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  const pos = Math.min(Math.max(q, 0), 1) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** Projections <E(W_i), r> of the well-lit embeddings (row-major [N·D]). */
export function projections(rows: Float32Array, r: ArrayLike<number>): number[] {
  const d = r.length;
  return Array.from({ length: rows.length / d }, (_, i) => dotArr(rows, r, i * d));
}

/**
 * The guidance target for a unit direction r:
 *   paper            thr = <v_pos, r>, v_pos = norm(mean E(well-lit)) (RAVE);
 *   mean-projection  <mean E(well-lit), r> = ‖mean E‖·thr_paper: where the average well-lit photo projects;
 *   quantile         the q-quantile of the well-lit projections <E(W_i), r>.
 * Unit-norm embeddings that spread out have ‖mean E‖ < 1, so the paper's thr lies beyond most real
 * well-lit photos by a factor 1/‖mean E‖. Returns the target and the mode actually used.
 */
export function residualTarget(r: ArrayLike<number>, vPos: ArrayLike<number>, cal: ResidualCalibration): { thr: number; mode: ResidualTargetMode } {
  if (cal.mode === 'quantile' && cal.wellLitRows) return { thr: quantileOf(projections(cal.wellLitRows, r), cal.quantile), mode: 'quantile' };
  if (cal.mode === 'mean-projection' && cal.meanPos) return { thr: dotArr(cal.meanPos, r), mode: 'mean-projection' };
  return { thr: dotArr(vPos, r), mode: 'paper' };
}
