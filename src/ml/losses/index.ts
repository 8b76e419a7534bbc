import * as tf from '@tensorflow/tfjs';
import type { ImageEncoder } from '../encoder';

/**
 * Losses of METHODS.md (CLIP-LIT, latent prompts, RAVE) plus pixel losses for the paired regime.
 * All are differentiable tfjs functions returning scalars; callers wrap them in tf.tidy / a
 * training step. Embeddings are expected L2-normalised ([N,D]) unless stated otherwise.
 */

/** RAVE guidance: mean_batch (⟨emb, r⟩ − thr)², emb [N,D] normalised, r [D] unit, thr = ⟨v_pos, r⟩. */
export function raveLoss(emb: tf.Tensor2D, r: tf.Tensor1D, thr: number): tf.Scalar {
  if (emb.shape[1] !== r.shape[0]) throw new Error(`raveLoss: embedding width ${emb.shape[1]} ≠ residual vector length ${r.shape[0]}; both must come from the same encoder.`);
  return tf.tidy(() => tf.mean(tf.square(tf.sub(tf.squeeze(tf.matMul(emb, tf.reshape(r, [-1, 1])), [1]), thr))));
}

function l2norm(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.maximum(tf.norm(x, 'euclidean', 1, true), 1e-12));
}

/** CLIP's logit scale, used by every prompt loss of METHODS.md ("logits everywhere: 100·cos"). */
export const PROMPT_LOGIT_SCALE = 100;

/**
 * Logits scale·cos(E(x), g_i) for a prompt pair g [2,D] (index 0 negative/backlit, 1 positive);
 * scale 100 as METHODS.md unless given (encoders other than CLIP may need a softer one).
 */
export function promptLogits(emb: tf.Tensor2D, prompts: tf.Tensor2D, scale = PROMPT_LOGIT_SCALE): tf.Tensor2D {
  if (prompts.shape[0] !== 2 || prompts.shape[1] !== emb.shape[1]) {
    throw new Error(`promptLogits: prompts must be [2,${emb.shape[1]}] (negative, positive), got [${prompts.shape}].`);
  }
  return tf.tidy(() => tf.mul(tf.matMul(l2norm(emb), l2norm(prompts), false, true), scale));
}

/** s(x) = softmax(logits)[neg] per image, [N]. */
export function negativeScore(emb: tf.Tensor2D, prompts: tf.Tensor2D, scale = PROMPT_LOGIT_SCALE): tf.Tensor1D {
  return tf.tidy(() => tf.squeeze(tf.slice(tf.softmax(promptLogits(emb, prompts, scale)), [0, 0], [-1, 1]), [1]));
}

/** CLIP-LIT enhancement loss: mean_batch softmax(100·cos)[neg]. */
export function clipPromptLoss(emb: tf.Tensor2D, prompts: tf.Tensor2D, scale = PROMPT_LOGIT_SCALE): tf.Scalar {
  return tf.tidy(() => tf.mean(negativeScore(emb, prompts, scale)));
}

/** Prompt initialisation: softmax cross-entropy with labels 0 = backlit (negative), 1 = well-lit. */
export function promptInitLoss(emb: tf.Tensor2D, prompts: tf.Tensor2D, labels: number[], scale = PROMPT_LOGIT_SCALE): tf.Scalar {
  if (labels.length !== emb.shape[0]) throw new Error(`promptInitLoss: ${labels.length} labels for ${emb.shape[0]} embeddings.`);
  return tf.tidy(() => tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(labels, 'int32'), 2), promptLogits(emb, prompts, scale)) as tf.Scalar);
}

/**
 * Margin ranking hinge of the refinement stage: h(a,b,m) = mean_batch max(0, s(b) − s(a) + m),
 * with s = negative-prompt probability (a should look more backlit than b by margin m).
 */
export function marginHinge(sA: tf.Tensor1D, sB: tf.Tensor1D, margin: number): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.relu(tf.add(tf.sub(sB, sA), margin))));
}

/**
 * Identity / content loss: Σ_l w_l · MSE(F_l(out), F_l(in)). `reduction` 'sum' adds the per-image
 * MSEs over the batch (METHODS.md: Σ_batch), 'mean' averages them.
 */
export function identityLoss(featsOut: tf.Tensor[], featsIn: tf.Tensor[], weights: number[], reduction: 'sum' | 'mean' = 'sum'): tf.Scalar {
  if (featsOut.length !== featsIn.length || featsOut.length !== weights.length) {
    throw new Error(`identityLoss: ${featsOut.length} output features, ${featsIn.length} input features and ${weights.length} weights; they must match (one weight per layer).`);
  }
  return tf.tidy(() => {
    let total: tf.Tensor = tf.scalar(0);
    featsOut.forEach((fo, l) => {
      const fi = featsIn[l];
      if (fo.shape.join() !== fi.shape.join()) throw new Error(`identityLoss: layer ${l} shapes differ ([${fo.shape}] vs [${fi.shape}]).`);
      const n = fo.shape[0];
      const perImage = tf.mean(tf.reshape(tf.squaredDifference(fo, fi), [n, -1]), 1);
      total = tf.add(total, tf.mul(reduction === 'sum' ? tf.sum(perImage) : tf.mean(perImage), weights[l]));
    });
    return total as tf.Scalar;
  });
}

export const IDENTITY_WEIGHTS_MAIN = [1, 1, 1, 1, 0.5];
export const IDENTITY_WEIGHTS_WARMUP = [1, 1, 1, 1, 1];

/** Identity loss through an encoder's intermediate features (gradients flow only into `out`). */
export function encoderIdentityLoss(encoder: ImageEncoder, out: tf.Tensor4D, input: tf.Tensor4D, weights: number[] = IDENTITY_WEIGHTS_MAIN): tf.Scalar {
  if (!encoder.imageFeatures) throw new Error(`encoder '${encoder.label}' exposes no imageFeatures; pick an encoder with intermediate features for the identity loss.`);
  const features = encoder.imageFeatures.bind(encoder);
  return tf.tidy(() => {
    const fo = features(out);
    const fi = features(input);
    const w = weights.length === fo.length ? weights : fo.map((_, i) => weights[Math.min(i, weights.length - 1)]);
    return identityLoss(fo, fi, w);
  });
}

/** Reconstruction warm-up (first ~1000 iterations): 25 · L_id with all weights 1. */
export function reconstructionLoss(encoder: ImageEncoder, out: tf.Tensor4D, input: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => tf.mul(encoderIdentityLoss(encoder, out, input, IDENTITY_WEIGHTS_WARMUP), 25));
}

/** Mean absolute error. */
export function l1Loss(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.abs(tf.sub(a, b))));
}

/** Normalised 1-D Gaussian taps (size 11, σ 1.5 → skimage/Wang et al. window). */
export function gaussianTaps(size = 11, sigma = 1.5): Float32Array {
  const r = (size - 1) / 2;
  const g = Float32Array.from({ length: size }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const s = g.reduce((a, b) => a + b, 0);
  return g.map((v) => v / s);
}

/**
 * Mean SSIM over the interior ('valid' windows), Gaussian 11×11 σ 1.5, population covariance,
 * data range 1, averaged over channels — equals skimage structural_similarity(gaussian_weights=True,
 * sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1). Differentiable.
 * Separable convs on channels-as-batch keep it to ops wasm can differentiate.
 */
export function ssimIndex(a: tf.Tensor4D, b: tf.Tensor4D, opts: { size?: number; sigma?: number } = {}): tf.Scalar {
  const size = opts.size ?? 11;
  if (a.shape.join() !== b.shape.join()) throw new Error(`ssim: shapes differ ([${a.shape}] vs [${b.shape}]).`);
  if (a.shape[1] < size || a.shape[2] < size) throw new Error(`ssim: images must be at least ${size}×${size}, got ${a.shape[1]}×${a.shape[2]}.`);
  return tf.tidy(() => {
    const taps = gaussianTaps(size, opts.sigma ?? 1.5);
    const kh = tf.tensor4d(taps, [size, 1, 1, 1]);
    const kw = tf.tensor4d(taps, [1, size, 1, 1]);
    const [n, h, w, c] = a.shape;
    const planes = (x: tf.Tensor4D) => tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n * c, h, w, 1]) as tf.Tensor4D;
    const blur = (x: tf.Tensor4D) => tf.conv2d(tf.conv2d(x, kh, 1, 'valid'), kw, 1, 'valid');
    const x = planes(a);
    const y = planes(b);
    const mx = blur(x);
    const my = blur(y);
    const vx = tf.sub(blur(tf.square(x)), tf.square(mx));
    const vy = tf.sub(blur(tf.square(y)), tf.square(my));
    const cxy = tf.sub(blur(tf.mul(x, y)), tf.mul(mx, my));
    const C1 = 0.01 ** 2;
    const C2 = 0.03 ** 2;
    const num = tf.mul(tf.add(tf.mul(tf.mul(mx, my), 2), C1), tf.add(tf.mul(cxy, 2), C2));
    const den = tf.mul(tf.add(tf.add(tf.square(mx), tf.square(my)), C1), tf.add(tf.add(vx, vy), C2));
    return tf.mean(tf.div(num, den));
  });
}

/** SSIM loss = 1 − SSIM (images in 0..1). */
export function ssimLoss(a: tf.Tensor4D, b: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => tf.sub(1, ssimIndex(a, b)));
}

/**
 * Highlight guard (not in the papers; off unless asked for): penalises pixels the enhancer pushes
 * past `threshold` that were below it in the input. With I_out = clamp(I/L, 0, 1) a pixel clips when
 * I > threshold·L, so the penalty is mean over pixels of max_c relu(I_c − threshold·L_c) where
 * max_c I < threshold: linear in L with a bounded gradient (a penalty on I/L itself explodes where L
 * is small and kicked a probe run into an all-black state), and it acts before the clamp, which
 * passes no gradient from a clipped pixel, so neither the guidance nor the identity loss could pull a
 * blown highlight back. (A second term that kept already-bright pixels from brightening was tried and
 * dropped: at weight 1 it stalled training at the identity, at 0.1 the same 100-step run clipped 20 %
 * of held-out pixels instead of 4 % — but that run's training images had no pixel above luma 0.9, so
 * the term had nothing to act on; see highlightPreserveLoss.)
 */
export function highlightGuardLoss(input: tf.Tensor4D, L: tf.Tensor4D, threshold = 0.98): tf.Scalar {
  return tf.tidy(() => {
    const excess = tf.max(tf.relu(tf.sub(input, tf.mul(L, threshold))), -1);
    const wasBelow = tf.cast(tf.less(tf.max(input, -1), threshold), 'float32');
    return tf.mean(tf.mul(excess, wasBelow)) as tf.Scalar;
  });
}

/**
 * Highlight preservation (not in the papers; off unless asked for): already-bright input pixels should
 * not be brightened. With I_out = I/L a pixel brightens iff L < 1, so the penalty is
 * mean over pixels of s(Y)·relu(1 − L), s(Y) = clamp((Y − lo)/(hi − lo), 0, 1) on the input luma
 * (0 below lo, 1 from hi). The clip term above only fires on pixels about to cross 0.98 at training
 * resolution; this one keeps a margin for every bright region (skies, lamps) so a near-white sky
 * does not creep to white, while dark pixels (s = 0) are free to brighten. Linear in L, bounded
 * gradient. Needs training images that contain bright regions (Synthetic Backlight `background`).
 */
export function highlightPreserveLoss(input: tf.Tensor4D, L: tf.Tensor4D, lo = 0.7, hi = 0.9): tf.Scalar {
  return tf.tidy(() => {
    const luma = tf.sum(tf.mul(input, tf.tensor1d([0.299, 0.587, 0.114])), -1, true);
    const bright = tf.clipByValue(tf.div(tf.sub(luma, lo), hi - lo), 0, 1);
    return tf.mean(tf.mul(bright, tf.relu(tf.sub(1, L)))) as tf.Scalar;
  });
}
