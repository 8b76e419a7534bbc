/**
 * StatsEncoder (space `stats:v1`): a weight-free, differentiable image encoder built from image
 * statistics that matter for exposure — so the whole pipeline (latent prompts, residual vectors)
 * runs offline without CLIP weights. No text tower.
 *
 * Feature vector (37-d before normalisation):
 *   16  soft luminance histogram (Gaussian kernel density, bins on 0..1)
 *    3  per-channel means      3  per-channel standard deviations
 *    8  soft saturation histogram
 *    3  local contrast: mean smooth|Y − blur_σ(Y)| for σ = 1, 2, 4 px (at the working size)
 *    2  highlight / shadow fractions (sigmoid-soft thresholds at 0.9 / 0.1)
 *    2  gradient magnitude mean and standard deviation
 * standardised with the fixed constants below, then L2-normalised. Changing any constant changes the
 * space: bump the version in the space id.
 *
 * Only ops whose gradients exist on every tfjs backend (wasm included) are used: blurs and resizes
 * are matrix products, no conv2d.
 */
import * as tf from '@tensorflow/tfjs';
import type { ImageEncoder } from '../encoder';
import { centerCrop, matMulConstant, resizeImages, shortSideSize, transposeMatrix } from '../image';

const LUMA = [0.299, 0.587, 0.114];
const LUMA_BINS = 16;
const SATURATION_BINS = 8;
const BLUR_SIGMAS = [1, 2, 4];
const HIGHLIGHT = 0.9;
const SHADOW = 0.1;
const SOFTNESS = 0.02;
const SMOOTH_EPS = 1e-6;

/**
 * Standardisation constants (centre, spread) per feature group: hand-set to the rough spread of
 * natural photos so that no group dominates the cosine; fixed so the space never drifts.
 */
const STANDARDISE = {
  lumaHistogram: [1 / LUMA_BINS, 1 / LUMA_BINS],
  channelMean: [0.45, 0.2],
  channelStd: [0.22, 0.08],
  saturationHistogram: [1 / SATURATION_BINS, 1 / SATURATION_BINS],
  localContrast: [0.03, 0.03],
  fractions: [0.1, 0.15],
  gradient: [0.05, 0.05],
} as const;

export const STATS_FEATURE_NAMES: readonly string[] = [
  ...Array.from({ length: LUMA_BINS }, (_, i) => `luma_hist_${i}`),
  'mean_r', 'mean_g', 'mean_b', 'std_r', 'std_g', 'std_b',
  ...Array.from({ length: SATURATION_BINS }, (_, i) => `sat_hist_${i}`),
  ...BLUR_SIGMAS.map((s) => `local_contrast_s${s}`),
  'highlight_fraction', 'shadow_fraction', 'gradient_mean', 'gradient_std',
];

export interface StatsEncoderOptions {
  /** Images are resized to this square size first (default 128): fixed cost, scale-free stats. */
  workingSize?: number;
}

/** Row-normalised Gaussian blur matrix [n, n] (border weights renormalised, no padding). */
function gaussianMatrix(n: number, sigma: number): Float32Array {
  const m = new Float32Array(n * n);
  const radius = Math.ceil(3 * sigma);
  for (let i = 0; i < n; i++) {
    let total = 0;
    for (let j = Math.max(0, i - radius); j <= Math.min(n - 1, i + radius); j++) {
      const w = Math.exp(-((i - j) ** 2) / (2 * sigma * sigma));
      m[i * n + j] = w;
      total += w;
    }
    for (let j = 0; j < n; j++) m[i * n + j] /= total;
  }
  return m;
}

/** Soft histogram: Gaussian kernel per bin, normalised per pixel, averaged → [N, bins]. x: [N, P]. */
function softHistogram(x: tf.Tensor2D, bins: number): tf.Tensor2D {
  const centres = tf.tensor1d(Array.from({ length: bins }, (_, k) => (k + 0.5) / bins));
  const width = 1 / bins;
  const d = tf.sub(tf.expandDims(x, 2), centres); // [N, P, bins]
  const kernel = tf.exp(tf.div(tf.neg(tf.square(d)), 2 * width * width));
  const perPixel = tf.div(kernel, tf.add(tf.sum(kernel, 2, true), 1e-12));
  return tf.mean(perPixel, 1) as tf.Tensor2D;
}

function standardise(x: tf.Tensor, [centre, spread]: readonly [number, number]): tf.Tensor {
  return tf.div(tf.sub(x, centre), spread);
}

const smoothAbs = (x: tf.Tensor) => tf.sqrt(tf.add(tf.square(x), SMOOTH_EPS));

export class StatsEncoder implements ImageEncoder {
  readonly space = 'stats:v1';
  readonly dim = STATS_FEATURE_NAMES.length;
  readonly label = 'Image statistics (offline, no weights)';
  readonly workingSize: number;
  private readonly blurMatrices: tf.Tensor2D[];

  constructor(options: StatsEncoderOptions = {}) {
    this.workingSize = options.workingSize ?? 128;
    const n = this.workingSize;
    // Stored transposed ([in, out]): matMul with transposeB is ~5× slower on wasm.
    this.blurMatrices = BLUR_SIGMAS.map((s) => tf.tensor2d(transposeMatrix(gaussianMatrix(n, s), n, n), [n, n]));
  }

  private resize(images: tf.Tensor4D, mode: 'dataset' | 'loss'): tf.Tensor4D {
    const n = this.workingSize;
    const [, h, w] = images.shape;
    if (mode === 'loss') return resizeImages(images, n, n, { filter: 'bilinear' });
    const target = shortSideSize(h, w, n);
    return centerCrop(resizeImages(images, target.height, target.width, { filter: 'bicubic' }), n, n);
  }

  /** Separable blur of luminance maps [N, S, S] with one of the (transposed) Gaussian matrices. */
  private blur(luma: tf.Tensor3D, matrixT: tf.Tensor2D): tf.Tensor3D {
    const [n, s] = luma.shape;
    const rows = tf.reshape(matMulConstant(tf.reshape(luma, [n * s, s]), matrixT), [n, s, s]);
    const cols = matMulConstant(tf.reshape(tf.transpose(rows, [0, 2, 1]), [n * s, s]), matrixT);
    return tf.transpose(tf.reshape(cols, [n, s, s]), [0, 2, 1]) as tf.Tensor3D;
  }

  private luminance(images: tf.Tensor4D): tf.Tensor3D {
    return tf.sum(tf.mul(images, tf.tensor1d(LUMA)), -1) as tf.Tensor3D;
  }

  /** Unstandardised raw features [N, 37] of already-resized images (exposed for inspection). */
  rawFeatures(resized: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const [n, s] = resized.shape;
      const luma = this.luminance(resized);
      const lumaFlat = tf.reshape(luma, [n, s * s]) as tf.Tensor2D;
      const pixels = tf.reshape(resized, [n, s * s, 3]);
      const channelMean = tf.mean(pixels, 1);
      const channelStd = tf.sqrt(tf.add(tf.mean(tf.square(tf.sub(pixels, tf.expandDims(channelMean, 1))), 1), SMOOTH_EPS));
      const max = tf.max(pixels, -1);
      const min = tf.min(pixels, -1);
      const saturation = tf.div(tf.sub(max, min), tf.add(max, 1e-3)) as tf.Tensor2D;
      const contrast = this.blurMatrices.map((m) => tf.reshape(tf.mean(smoothAbs(tf.sub(luma, this.blur(luma, m))), [1, 2]), [n, 1]));
      const highlight = tf.mean(tf.sigmoid(tf.div(tf.sub(lumaFlat, HIGHLIGHT), SOFTNESS)), 1, true);
      const shadow = tf.mean(tf.sigmoid(tf.div(tf.sub(SHADOW, lumaFlat), SOFTNESS)), 1, true);
      const dx = tf.slice(tf.sub(tf.slice(luma, [0, 0, 1], [-1, -1, -1]), tf.slice(luma, [0, 0, 0], [-1, -1, s - 1])), [0, 0, 0], [-1, s - 1, -1]);
      const dy = tf.slice(tf.sub(tf.slice(luma, [0, 1, 0], [-1, -1, -1]), tf.slice(luma, [0, 0, 0], [-1, s - 1, -1])), [0, 0, 0], [-1, -1, s - 1]);
      const magnitude = tf.reshape(tf.sqrt(tf.add(tf.add(tf.square(dx), tf.square(dy)), SMOOTH_EPS)), [n, -1]);
      const gradientMean = tf.mean(magnitude, 1, true);
      const gradientStd = tf.sqrt(tf.add(tf.mean(tf.square(tf.sub(magnitude, gradientMean)), 1, true), SMOOTH_EPS));
      return tf.concat(
        [softHistogram(lumaFlat, LUMA_BINS), channelMean, channelStd, softHistogram(saturation, SATURATION_BINS), ...contrast, highlight, shadow, gradientMean, gradientStd],
        1,
      ) as tf.Tensor2D;
    });
  }

  private standardised(raw: tf.Tensor2D): tf.Tensor2D {
    const groups: [number, readonly [number, number]][] = [
      [LUMA_BINS, STANDARDISE.lumaHistogram],
      [3, STANDARDISE.channelMean],
      [3, STANDARDISE.channelStd],
      [SATURATION_BINS, STANDARDISE.saturationHistogram],
      [BLUR_SIGMAS.length, STANDARDISE.localContrast],
      [2, STANDARDISE.fractions],
      [2, STANDARDISE.gradient],
    ];
    const parts = tf.split(raw, groups.map(([size]) => size), 1);
    return tf.concat(parts.map((p, i) => standardise(p, groups[i][1])), 1) as tf.Tensor2D;
  }

  /** Standardised features before L2 normalisation [N, 37] (names in STATS_FEATURE_NAMES). */
  features(images: tf.Tensor4D, mode: 'dataset' | 'loss'): tf.Tensor2D {
    return tf.tidy(() => this.standardised(this.rawFeatures(this.resize(images, mode))));
  }

  encodeImages(images: tf.Tensor4D, mode: 'dataset' | 'loss'): tf.Tensor2D {
    return tf.tidy(() => {
      const f = this.features(images, mode);
      return tf.div(f, tf.sqrt(tf.add(tf.sum(tf.square(f), -1, true), 1e-12))) as tf.Tensor2D;
    });
  }

  /** Luminance at the working size and its blurs (σ = 1, 2, 4), each [N, S, S, 1], for identity losses. */
  imageFeatures(images: tf.Tensor4D): tf.Tensor[] {
    return tf.tidy(() => {
      const luma = this.luminance(this.resize(images, 'loss'));
      return [luma, ...this.blurMatrices.map((m) => this.blur(luma, m))].map((t) => tf.expandDims(t, -1));
    });
  }

  dispose(): void {
    tf.dispose(this.blurMatrices);
  }
}
