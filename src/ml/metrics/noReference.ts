/**
 * No-reference exposure statistics of one image, on luma Y = 0.299 R + 0.587 G + 0.114 B (BT.601 on
 * the gamma-encoded values, 0..1): what eyes notice first in a backlit photo and its enhancement.
 * - clipped: fraction of pixels with Y > 0.98 (blown highlights);
 * - dark: fraction with Y < 0.1 (crushed / unreadable shadows);
 * - meanLuma: mean Y;
 * - localContrast: mean over pixels of the standard deviation of Y in a (2k+1)² box around each pixel
 *   (population std, box clipped at the borders), k = max(1, round(min(h, w)/64)) unless given —
 *   about 17 px on a 512 px image: the scale of edges and textures, not of the whole scene. A global
 *   curve that lifts shadows but flattens mid-tones and highlights (haze) lowers it; a local operator
 *   or a good enhancer keeps or raises it.
 * - wellExposedContrast = localContrast · (1 − clipped − dark): local contrast counted only on the
 *   share of the image that is neither blown nor crushed. The one-number no-reference score the
 *   Metrics node offers: on the 25 shared backlit photos it ranks the released CLIP-LIT enhancer
 *   first on 20, CLAHE on 4, Exposure +1 stop on 1 and Gamma 2.2 on none, where the guidance
 *   projection <E(x), r> (stats space) ranked Gamma 2.2 first on 13 (README, "Metrics"). It is a
 *   heuristic, not a perceptual model: it ignores noise, colour casts and halos.
 * - contrastRatio (when `before` is given): localContrast(after) / localContrast(before), and the
 *   fraction of pixels newly clipped (clipped after but not before).
 * Plain typed arrays, float64 sums (integral images); no tfjs.
 */

export interface FloatRgb {
  width: number;
  height: number;
  /** Interleaved RGB in 0..1. */
  data: ArrayLike<number>;
}

export interface ExposureStats {
  meanLuma: number;
  clipped: number;
  dark: number;
  localContrast: number;
  wellExposedContrast: number;
}

export const CLIP_LUMA = 0.98;
export const DARK_LUMA = 0.1;

export function luma(img: FloatRgb): Float64Array {
  const n = img.width * img.height;
  if (img.data.length !== 3 * n) throw new Error(`luma: expected ${3 * n} RGB values for ${img.width}×${img.height}, got ${img.data.length}.`);
  const y = new Float64Array(n);
  const d = img.data;
  for (let i = 0; i < n; i++) y[i] = 0.299 * d[3 * i] + 0.587 * d[3 * i + 1] + 0.114 * d[3 * i + 2];
  return y;
}

/** Default box radius of the local-contrast window: max(1, round(min side / 64)). */
export function contrastRadius(width: number, height: number): number {
  return Math.max(1, Math.round(Math.min(width, height) / 64));
}

/** Mean over pixels of the population std of y in the (2k+1)² box around each pixel, clipped to the image. */
export function localContrast(y: ArrayLike<number>, width: number, height: number, k = contrastRadius(width, height)): number {
  const W1 = width + 1;
  const s1 = new Float64Array(W1 * (height + 1));
  const s2 = new Float64Array(W1 * (height + 1));
  for (let r = 0; r < height; r++) {
    let a = 0;
    let b = 0;
    for (let c = 0; c < width; c++) {
      const v = y[r * width + c];
      a += v;
      b += v * v;
      s1[(r + 1) * W1 + c + 1] = s1[r * W1 + c + 1] + a;
      s2[(r + 1) * W1 + c + 1] = s2[r * W1 + c + 1] + b;
    }
  }
  let total = 0;
  for (let r = 0; r < height; r++) {
    const r0 = Math.max(0, r - k);
    const r1 = Math.min(height, r + k + 1);
    for (let c = 0; c < width; c++) {
      const c0 = Math.max(0, c - k);
      const c1 = Math.min(width, c + k + 1);
      const n = (r1 - r0) * (c1 - c0);
      const sum = s1[r1 * W1 + c1] - s1[r0 * W1 + c1] - s1[r1 * W1 + c0] + s1[r0 * W1 + c0];
      const sq = s2[r1 * W1 + c1] - s2[r0 * W1 + c1] - s2[r1 * W1 + c0] + s2[r0 * W1 + c0];
      const mean = sum / n;
      total += Math.sqrt(Math.max(0, sq / n - mean * mean));
    }
  }
  return total / (width * height);
}

export function exposureStats(img: FloatRgb, k?: number): ExposureStats {
  const y = luma(img);
  let sum = 0;
  let clipped = 0;
  let dark = 0;
  for (let i = 0; i < y.length; i++) {
    sum += y[i];
    if (y[i] > CLIP_LUMA) clipped++;
    if (y[i] < DARK_LUMA) dark++;
  }
  const n = y.length;
  const lc = localContrast(y, img.width, img.height, k);
  return { meanLuma: sum / n, clipped: clipped / n, dark: dark / n, localContrast: lc, wellExposedContrast: lc * (1 - clipped / n - dark / n) };
}

/** Fraction of pixels clipped in `after` that were not clipped in `before` (same size). */
export function newlyClipped(before: FloatRgb, after: FloatRgb): number {
  if (before.width !== after.width || before.height !== after.height) {
    throw new Error(`newlyClipped: images differ in size (${before.width}×${before.height} vs ${after.width}×${after.height}).`);
  }
  const a = luma(before);
  const b = luma(after);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (b[i] > CLIP_LUMA && !(a[i] > CLIP_LUMA)) n++;
  return n / a.length;
}

export interface Distribution {
  n: number;
  mean: number;
  std: number;
  min: number;
  p25: number;
  median: number;
  p75: number;
  max: number;
}

/** Linear-interpolated quantile (numpy's default) of values sorted ascending. */
function quantileSorted(s: number[], q: number): number {
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** Summary of a set of values (population std). */
export function distribution(values: number[]): Distribution {
  if (!values.length) throw new Error('distribution: no values.');
  const s = [...values].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  const std = Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / s.length);
  return { n: s.length, mean, std, min: s[0], p25: quantileSorted(s, 0.25), median: quantileSorted(s, 0.5), p75: quantileSorted(s, 0.75), max: s[s.length - 1] };
}

/** Fraction of `reference` values ≤ x (0..1): where x sits in, say, the well-lit photos' projections. */
export function percentileRank(x: number, reference: ArrayLike<number>): number {
  let below = 0;
  for (let i = 0; i < reference.length; i++) if (reference[i] <= x) below++;
  return below / reference.length;
}
