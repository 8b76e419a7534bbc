/**
 * Full-reference image metrics, computed the way RAVE's `compute_metrics.py` does (read at
 * Atmyre/RAVE@19eccbd): both images are read with `cv2.imread` (BGR order, uint8) and converted
 * with `cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)` — i.e. the RGB weights are applied to B,G,R, so the
 * effective gray is 0.114·R + 0.587·G + 0.299·B (OpenCV 4.6's 15-bit fixed point, rounded to uint8),
 * not ITU-R 601 and not skimage's rgb2gray (0.2125/0.7154/0.0721). Then
 * - PSNR = `cv2.PSNR(gt, enh)`: 20·log10(255 / (RMSE + DBL_EPSILON)) on the uint8 gray images;
 * - SSIM = `skimage.metrics.structural_similarity(gt, enh, data_range = enh.max() − enh.min())`:
 *   7×7 uniform window, sample covariance (N/(N−1)), K1 0.01, K2 0.03, mean over the interior
 *   where the window fits. Note the data range comes from the *enhanced* image (second argument).
 * Plain typed arrays in, numbers out (no tfjs): metrics need no gradients.
 */

export interface RgbImage {
  width: number;
  height: number;
  /** Interleaved RGB, 0..255 (uint8 semantics; floats are rounded like a PNG save). */
  data: ArrayLike<number>;
}

export interface GrayImage {
  width: number;
  height: number;
  data: ArrayLike<number>;
}

const DBL_EPSILON = 2.220446049250313e-16;

function check(a: { width: number; height: number }, b: { width: number; height: number }, what: string): void {
  if (a.width !== b.width || a.height !== b.height) {
    throw new Error(`${what}: images differ in size (${a.width}×${a.height} vs ${b.width}×${b.height}); resize the enhanced image to the reference first.`);
  }
}

/** Round/clamp to uint8 like saving a PNG (RAVE evaluates saved files). */
export function toUint8(x: ArrayLike<number>, scale = 255): Uint8Array {
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.min(255, Math.max(0, Math.round(x[i] * scale)));
  return out;
}

/**
 * RAVE's gray: OpenCV RGB2GRAY fixed point (9798, 19235, 3735, shift 15 — what cv2 4.6 computes
 * bit-exactly; the 14-bit table differs on ~0.2% of pixels) applied to BGR data, i.e. for RGB input
 * Y = (3735·R + 19235·G + 9798·B + 16384) >> 15.
 */
export function raveGray(img: RgbImage): GrayImage {
  const n = img.width * img.height;
  if (img.data.length !== n * 3) throw new Error(`raveGray: expected ${n * 3} RGB values for ${img.width}×${img.height}, got ${img.data.length}.`);
  const d = img.data;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const r = Math.min(255, Math.max(0, Math.round(d[3 * i])));
    const g = Math.min(255, Math.max(0, Math.round(d[3 * i + 1])));
    const b = Math.min(255, Math.max(0, Math.round(d[3 * i + 2])));
    out[i] = (3735 * r + 19235 * g + 9798 * b + 16384) >> 15;
  }
  return { width: img.width, height: img.height, data: out };
}

/** cv2.PSNR semantics: 20·log10(R / (RMSE + DBL_EPSILON)); identical images give ≈361 dB, not ∞. */
export function psnr(a: GrayImage | RgbImage, b: GrayImage | RgbImage, dataRange = 255): number {
  check(a, b, 'psnr');
  if (a.data.length !== b.data.length) throw new Error(`psnr: images have ${a.data.length} and ${b.data.length} values; compare gray with gray, RGB with RGB.`);
  let se = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = a.data[i] - b.data[i];
    se += d * d;
  }
  return 20 * Math.log10(dataRange / (Math.sqrt(se / a.data.length) + DBL_EPSILON));
}

export interface SsimOptions {
  /** Value range; default as RAVE: max − min of the second (enhanced) image. */
  dataRange?: number;
  /** Odd window side (skimage default 7). */
  winSize?: number;
}

/** Mean of a single-channel plane's window sums via an integral image (float64). */
function boxMeans(p: Float64Array, w: number, h: number, win: number): Float64Array {
  const W1 = w + 1;
  const I = new Float64Array(W1 * (h + 1));
  for (let y = 0; y < h; y++) {
    let row = 0;
    for (let x = 0; x < w; x++) {
      row += p[y * w + x];
      I[(y + 1) * W1 + x + 1] = I[y * W1 + x + 1] + row;
    }
  }
  const ow = w - win + 1;
  const oh = h - win + 1;
  const out = new Float64Array(ow * oh);
  const np = win * win;
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const s = I[(y + win) * W1 + x + win] - I[y * W1 + x + win] - I[(y + win) * W1 + x] + I[y * W1 + x];
      out[y * ow + x] = s / np;
    }
  }
  return out;
}

/** skimage structural_similarity (uniform window, sample covariance) of one channel. */
function ssimPlane(a: Float64Array, b: Float64Array, w: number, h: number, R: number, win: number): number {
  if (w < win || h < win) throw new Error(`ssim: image ${w}×${h} is smaller than the ${win}×${win} window.`);
  const n = w * h;
  const aa = new Float64Array(n);
  const bb = new Float64Array(n);
  const ab = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    aa[i] = a[i] * a[i];
    bb[i] = b[i] * b[i];
    ab[i] = a[i] * b[i];
  }
  const ux = boxMeans(a, w, h, win);
  const uy = boxMeans(b, w, h, win);
  const uxx = boxMeans(aa, w, h, win);
  const uyy = boxMeans(bb, w, h, win);
  const uxy = boxMeans(ab, w, h, win);
  const np = win * win;
  const covNorm = np / (np - 1);
  const C1 = (0.01 * R) ** 2;
  const C2 = (0.03 * R) ** 2;
  let s = 0;
  for (let i = 0; i < ux.length; i++) {
    const vx = covNorm * (uxx[i] - ux[i] * ux[i]);
    const vy = covNorm * (uyy[i] - uy[i] * uy[i]);
    const vxy = covNorm * (uxy[i] - ux[i] * uy[i]);
    s += ((2 * ux[i] * uy[i] + C1) * (2 * vxy + C2)) / ((ux[i] * ux[i] + uy[i] * uy[i] + C1) * (vx + vy + C2));
  }
  return s / ux.length;
}

function planes(img: GrayImage | RgbImage, channels: number): Float64Array[] {
  const n = img.width * img.height;
  if (img.data.length !== n * channels) throw new Error(`ssim: expected ${n * channels} values for ${img.width}×${img.height}×${channels}, got ${img.data.length}.`);
  return Array.from({ length: channels }, (_, c) => {
    const p = new Float64Array(n);
    for (let i = 0; i < n; i++) p[i] = img.data[i * channels + c];
    return p;
  });
}

function range(data: ArrayLike<number>): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < data.length; i++) {
    if (data[i] < lo) lo = data[i];
    if (data[i] > hi) hi = data[i];
  }
  return hi - lo;
}

/** SSIM of two gray images, skimage defaults; channel-averaged for RGB when `channels` = 3. */
export function ssim(a: GrayImage | RgbImage, b: GrayImage | RgbImage, opts: SsimOptions & { channels?: 1 | 3 } = {}): number {
  check(a, b, 'ssim');
  const ch = opts.channels ?? 1;
  const win = opts.winSize ?? 7;
  if (win % 2 !== 1) throw new Error(`ssim: winSize must be odd, got ${win}.`);
  const R = opts.dataRange ?? range(b.data);
  const pa = planes(a, ch);
  const pb = planes(b, ch);
  let s = 0;
  for (let c = 0; c < ch; c++) s += ssimPlane(pa[c], pb[c], a.width, a.height, R, win);
  return s / ch;
}

export interface MetricPair { psnr: number; ssim: number }

/**
 * Why a RAVE SSIM is NaN, in words (undefined otherwise): the data range comes from the image scored,
 * so a flat one (max = min, e.g. a collapsed enhancer's output) makes SSIM 0/0, as in RAVE's script;
 * nodes log this so the NaN in their table is never silent.
 */
export function undefinedSsimNote(what: string, m: MetricPair): string | undefined {
  if (!Number.isNaN(m.ssim)) return undefined;
  return `SSIM of ${what} is undefined (NaN): that image is flat (max = min) and RAVE's SSIM takes its data range from the image scored; look at it: an enhancer that collapsed outputs a flat image.`;
}

/** PSNR and SSIM exactly as RAVE's compute_metrics.py (gray, see module comment). */
export function raveMetrics(gt: RgbImage, enhanced: RgbImage): MetricPair {
  check(gt, enhanced, 'raveMetrics');
  const g = raveGray(gt);
  const e = raveGray(enhanced);
  return { psnr: psnr(g, e), ssim: ssim(g, e) };
}

/**
 * Colour variants on uint8 RGB: PSNR over all channels (range 255) and skimage's
 * channel-averaged SSIM (`channel_axis=-1`, data_range 255, 7×7 uniform window).
 */
export function colorMetrics(gt: RgbImage, enhanced: RgbImage): MetricPair {
  check(gt, enhanced, 'colorMetrics');
  const a = { ...gt, data: toUint8(gt.data, 1) };
  const b = { ...enhanced, data: toUint8(enhanced.data, 1) };
  return { psnr: psnr(a, b, 255), ssim: ssim(a, b, { channels: 3, dataRange: 255 }) };
}

/** The PSNR half of `colorMetrics` alone (the colour SSIM costs three gray ones). */
export function colorPsnr(gt: RgbImage, enhanced: RgbImage): number {
  check(gt, enhanced, 'colorPsnr');
  return psnr({ ...gt, data: toUint8(gt.data, 1) }, { ...enhanced, data: toUint8(enhanced.data, 1) }, 255);
}
