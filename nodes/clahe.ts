import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { defineNode, type ImageBatchValue, type NamedImage } from '../src/engine';

const BINS = 256;

/** OpenCV's borderInterpolate for BORDER_REFLECT_101 (gfedcb|abcdefgh|gfedcba), repeated for wide borders. */
function reflect(p: number, len: number): number {
  if (len === 1) return 0;
  while (p < 0 || p >= len) p = p < 0 ? -p : 2 * (len - 1) - p;
  return p;
}

/** OpenCV's cvRound / saturate_cast<uchar>(float): round half to even (lrint), then clamp to 0..255. */
function roundU8(v: number): number {
  let r = Math.round(v);
  if (r - v === 0.5 && r % 2 !== 0) r -= 1; // Math.round rounds .5 up; lrint goes to even
  return r < 0 ? 0 : r > 255 ? 255 : r;
}

/**
 * CLAHE of an 8-bit plane, OpenCV 4's `cv::createCLAHE(clipLimit, Size(tilesX, tilesY))->apply`
 * step by step (imgproc/src/clahe.cpp), so its results can be checked against cv2:
 * - if the size is not a multiple of the grid, the plane is padded on the bottom and right with
 *   BORDER_REFLECT_101 by `tiles − size % tiles` in *both* directions (OpenCV pads a full extra
 *   tile row/column on the divisible side too; kept for bit-compatibility);
 * - per tile: 256-bin histogram, clip at max(int(clipLimit·tileArea/256), 1), hand the excess out
 *   evenly, the remainder one count every max(256/residual, 1) bins from bin 0;
 *   LUT[i] = saturate_cast<uchar>(cumsum[i] · (255/tileArea)) in float32;
 * - per pixel: bilinear between the four nearest tile LUTs (tile centres at (t + 0.5)·tileSize,
 *   clamped at the borders), in float32.
 * Returns the interpolated values *before* OpenCV's final rounding (0..255 floats), so a float
 * pipeline keeps the sub-level precision; `roundU8` of them equals cv2's output.
 * clipLimit ≤ 0 disables clipping (plain adaptive histogram equalisation).
 */
export function claheU8(src: Uint8Array, width: number, height: number, clipLimit: number, tilesX: number, tilesY: number): Float32Array {
  if (src.length !== width * height) throw new Error(`clahe: expected ${width * height} values for ${width}×${height}, got ${src.length}.`);
  // The plane the LUTs are computed from (maybe padded, reflect-101: …, 2, 1 | 0, 1, 2, …, n−1 | n−2, n−3, …).
  let lw = width;
  let lh = height;
  let lut = src;
  if (width % tilesX !== 0 || height % tilesY !== 0) {
    lw = width + tilesX - (width % tilesX);
    lh = height + tilesY - (height % tilesY);
    if (width < 1 || height < 1) throw new Error(`clahe: empty ${width}×${height} image.`);
    lut = new Uint8Array(lw * lh);
    for (let y = 0; y < lh; y++) {
      const sy = reflect(y, height) * width;
      for (let x = 0; x < lw; x++) lut[y * lw + x] = src[sy + reflect(x, width)];
    }
  }
  const tw = lw / tilesX;
  const th = lh / tilesY;
  const area = tw * th;
  const limit = clipLimit > 0 ? Math.max(Math.trunc((clipLimit * area) / BINS), 1) : 0;
  const lutScale = Math.fround((BINS - 1) / area);
  const luts = new Uint8Array(tilesX * tilesY * BINS);
  const hist = new Int32Array(BINS);
  for (let ty = 0; ty < tilesY; ty++) {
    for (let tx = 0; tx < tilesX; tx++) {
      hist.fill(0);
      for (let y = ty * th; y < (ty + 1) * th; y++) {
        const row = y * lw;
        for (let x = tx * tw; x < (tx + 1) * tw; x++) hist[lut[row + x]]++;
      }
      if (limit > 0) {
        let clipped = 0;
        for (let i = 0; i < BINS; i++) {
          if (hist[i] > limit) {
            clipped += hist[i] - limit;
            hist[i] = limit;
          }
        }
        const batch = Math.trunc(clipped / BINS);
        let residual = clipped - batch * BINS;
        for (let i = 0; i < BINS; i++) hist[i] += batch;
        if (residual !== 0) {
          const step = Math.max(Math.trunc(BINS / residual), 1);
          for (let i = 0; i < BINS && residual > 0; i += step, residual--) hist[i]++;
        }
      }
      const base = (ty * tilesX + tx) * BINS;
      let sum = 0;
      for (let i = 0; i < BINS; i++) {
        sum += hist[i];
        luts[base + i] = roundU8(Math.fround(sum * lutScale));
      }
    }
  }
  const f = Math.fround;
  const invTw = f(1 / tw);
  const invTh = f(1 / th);
  const xa = new Float32Array(width);
  const ind1 = new Int32Array(width);
  const ind2 = new Int32Array(width);
  for (let x = 0; x < width; x++) {
    const txf = f(f(x * invTw) - 0.5);
    const tx1 = Math.floor(txf);
    xa[x] = f(txf - tx1);
    ind1[x] = Math.max(tx1, 0) * BINS;
    ind2[x] = Math.min(tx1 + 1, tilesX - 1) * BINS;
  }
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const tyf = f(f(y * invTh) - 0.5);
    const ty1 = Math.floor(tyf);
    const ya = f(tyf - ty1);
    const ya1 = f(1 - ya);
    const p1 = Math.max(ty1, 0) * tilesX * BINS;
    const p2 = Math.min(ty1 + 1, tilesY - 1) * tilesX * BINS;
    for (let x = 0; x < width; x++) {
      const v = src[y * width + x];
      const xa1 = f(1 - xa[x]);
      const top = f(f(luts[p1 + ind1[x] + v] * xa1) + f(luts[p1 + ind2[x] + v] * xa[x]));
      const bottom = f(f(luts[p2 + ind1[x] + v] * xa1) + f(luts[p2 + ind2[x] + v] * xa[x]));
      out[y * width + x] = f(f(top * ya1) + f(bottom * ya));
    }
  }
  return out;
}

/** OpenCV's uint8 result: `claheU8` rounded like saturate_cast<uchar>. */
export function claheU8Rounded(src: Uint8Array, width: number, height: number, clipLimit: number, tilesX: number, tilesY: number): Uint8Array {
  const f = claheU8(src, width, height, clipLimit, tilesX, tilesY);
  const out = new Uint8Array(f.length);
  for (let i = 0; i < f.length; i++) out[i] = roundU8(f[i]);
  return out;
}

/**
 * CLAHE on the luma of an RGB image in 0..1 (interleaved, length 3·w·h), colour kept the YCrCb way:
 * Y = 0.299 R + 0.587 G + 0.114 B (BT.601, as OpenCV's RGB2YCrCb) is quantised to 8 bits for the
 * histograms and LUT lookup, the equalised Y′ replaces Y with Cr/Cb unchanged, i.e. every channel
 * moves by Y′ − Y; clamped to 0..1. This is the common "cvtColor(YCrCb) → CLAHE on Y → back" recipe
 * without its uint8 rounding of Cr/Cb (so it differs from cv2 by at most a couple of levels).
 */
export function claheRgb(rgb: ArrayLike<number>, width: number, height: number, clipLimit: number, tilesX: number, tilesY: number): Float32Array {
  const n = width * height;
  const y = new Float32Array(n);
  const q = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = 0.299 * rgb[3 * i] + 0.587 * rgb[3 * i + 1] + 0.114 * rgb[3 * i + 2];
    q[i] = roundU8(y[i] * 255);
  }
  const eq = claheU8(q, width, height, clipLimit, tilesX, tilesY);
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    const d = eq[i] / 255 - y[i];
    for (let c = 0; c < 3; c++) out[3 * i + c] = Math.min(1, Math.max(0, rgb[3 * i + c] + d));
  }
  return out;
}

/** Contrast-limited adaptive histogram equalisation: a standard non-learned local tone baseline. */
export default defineNode({
  type: 'clahe',
  title: 'CLAHE',
  category: 'Image',
  description:
    "Contrast-limited adaptive histogram equalisation on luma (OpenCV's algorithm: per-tile clipped histograms, bilinear between tiles), colour kept as in YCrCb. A standard non-learned local tone baseline to compare learned enhancers with.",
  inputs: { images: { kind: 'ImageBatch', label: 'Images' } },
  outputs: { images: { kind: 'ImageBatch', label: 'Images' } },
  params: z.object({
    clipLimit: z.number().min(0).max(100).default(2).describe('Contrast limit as in OpenCV (histogram bins clipped at clipLimit × the mean bin count; 0 = no limit, plain AHE). Higher = stronger local contrast and more noise.'),
    tileGrid: z.number().int().min(1).max(64).default(8).describe('Tiles per side (OpenCV tileGridSize n×n): more tiles = more local.'),
  }),
  async run({ inputs, params, ctx }) {
    const batch = inputs.images as ImageBatchValue;
    const images: NamedImage[] = [];
    for (let i = 0; i < batch.images.length; i++) {
      ctx.throwIfCancelled();
      const img = batch.images[i];
      ctx.progress(i, batch.images.length, { message: img.name });
      const [h, w] = img.tensor.shape;
      const tiles = Math.min(params.tileGrid, w, h);
      if (tiles < params.tileGrid) ctx.log(`${img.name} is ${w}×${h}: using a ${tiles}×${tiles} grid instead of ${params.tileGrid}×${params.tileGrid}.`);
      let out: Float32Array;
      try {
        out = claheRgb(await img.tensor.data(), w, h, params.clipLimit, tiles, tiles);
      } catch (err) {
        return ctx.fail('tileGrid', `${img.name}: ${(err as Error).message}`, 'lower tileGrid (or load the image larger).');
      }
      images.push({ name: img.name, tensor: tf.tensor3d(out, [h, w, 3]) });
    }
    ctx.progress(batch.images.length, batch.images.length);
    const value: ImageBatchValue = { kind: 'ImageBatch', images };
    return { images: value };
  },
});
