import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import syntheticBacklight, { backlight } from './syntheticBacklight';
import type { ImageBatchValue } from '../src/engine';
import { MemoryHost } from '../src/engine/testing/memoryHost';
import { fakeContext } from '../src/engine/testing/build';
import { useTestBackend } from '../src/ml/testing';

beforeAll(async () => {
  await useTestBackend('wasm');
});

type Params = { darkness?: number; glow?: number; haze?: number; warmth?: number; seed?: number; keepHighlights?: number };
const OFF = { darkness: 0, glow: 0, haze: 0, warmth: 0 };

function batchOf(...images: Array<[string, tf.Tensor3D]>): ImageBatchValue {
  return { kind: 'ImageBatch', images: images.map(([name, tensor]) => ({ name, tensor })) };
}

async function run(batch: ImageBatchValue, params: Params = {}): Promise<ImageBatchValue> {
  const ctx = fakeContext(new MemoryHost(), 'bl');
  const out = await syntheticBacklight.run({ inputs: { images: batch }, params: syntheticBacklight.params.parse(params), ctx });
  return out.images as ImageBatchValue;
}

/** A structured test photo in 0..1 (not flat: exposes any spatial mix-up). */
function photo(h: number, w: number, seed = 0): tf.Tensor3D {
  return tf.randomUniform([h, w, 3], 0, 1, 'float32', seed) as tf.Tensor3D;
}

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
const luma = (img: tf.Tensor3D) => tf.sum(tf.mul(img, tf.tensor1d([0.299, 0.587, 0.114])), -1) as tf.Tensor2D;

/** Mean luminance of rows [y0, y1) × columns [x0, x1) given as fractions of the image. */
function regionLuma(img: tf.Tensor3D, y0: number, y1: number, x0: number, x1: number): number {
  return tf.tidy(() => {
    const [h, w] = img.shape;
    const [r0, r1, c0, c1] = [Math.round(y0 * h), Math.round(y1 * h), Math.round(x0 * w), Math.round(x1 * w)];
    return tf.mean(luma(img).slice([r0, c0], [r1 - r0, c1 - c0])).dataSync()[0];
  });
}

describe('synthetic-backlight node', () => {
  it('keeps names, order and sizes; leaves its input untouched; leaks nothing', async () => {
    const inputs: Array<[string, tf.Tensor3D]> = [['z.jpg', photo(30, 50, 1)], ['a.png', photo(64, 24, 2)], ['tiny.png', photo(1, 7, 3)]];
    const copies = inputs.map(([, t]) => t.clone());
    const before = tf.memory().numTensors;
    const out = await run(batchOf(...inputs));
    expect(tf.memory().numTensors).toBe(before + 3); // just the three outputs
    expect(out.kind).toBe('ImageBatch');
    expect(out.images.map((i) => i.name)).toEqual(['z.jpg', 'a.png', 'tiny.png']);
    expect(out.images.map((i) => i.tensor.shape)).toEqual([[30, 50, 3], [64, 24, 3], [1, 7, 3]]);
    inputs.forEach(([, t], i) => expect(maxAbsDiff(t, copies[i])).toBe(0));
    tf.dispose([...out.images.map((i) => i.tensor), ...inputs.map(([, t]) => t), ...copies]);
  });

  it('is deterministic for a seed, differs for another seed, and varies the layout per image', async () => {
    const img = photo(40, 60, 5);
    const batch = batchOf(['a', img], ['b', img]); // the same picture twice
    const first = await run(batch, { seed: 3 });
    const again = await run(batch, { seed: 3 });
    const other = await run(batch, { seed: 4 });
    for (let i = 0; i < 2; i++) {
      expect(Array.from(first.images[i].tensor.dataSync())).toEqual(Array.from(again.images[i].tensor.dataSync()));
      expect(maxAbsDiff(first.images[i].tensor, other.images[i].tensor)).toBeGreaterThan(0.05);
    }
    expect(maxAbsDiff(first.images[0].tensor, first.images[1].tensor)).toBeGreaterThan(0.05);
    tf.dispose([img, ...[first, again, other].flatMap((b) => b.images.map((i) => i.tensor))]);
  });

  it('stays in 0..1 for extreme params on noise, black and white images', async () => {
    const batch = batchOf(['noise', photo(33, 47, 9)], ['black', tf.zeros([20, 20, 3]) as tf.Tensor3D], ['white', tf.ones([20, 30, 3]) as tf.Tensor3D]);
    for (const params of [{ darkness: 0.95, glow: 1, haze: 0.8, warmth: 1 }, {}, { darkness: 0.95, glow: 0, haze: 0, warmth: 0 }, { ...OFF, glow: 1 }]) {
      for (const seed of [0, 1, 2]) {
        const out = await run(batch, { ...params, seed });
        for (const im of out.images) {
          const [lo, hi] = tf.tidy(() => [tf.min(im.tensor).dataSync()[0], tf.max(im.tensor).dataSync()[0]]);
          expect(lo).toBeGreaterThanOrEqual(0);
          expect(hi).toBeLessThanOrEqual(1);
          expect(Number.isFinite(lo) && Number.isFinite(hi)).toBe(true);
          im.tensor.dispose();
        }
      }
    }
    tf.dispose(batch.images.map((i) => i.tensor));
  });

  it('on a mid-grey image (defaults): the centre/lower region darkens a lot and stays well below the top', async () => {
    for (const seed of [0, 1, 2, 3, 17]) {
      for (const [h, w] of [[60, 80], [80, 60]]) {
        const grey = tf.fill([h, w, 3], 0.5) as tf.Tensor3D;
        const [out] = (await run(batchOf(['grey', grey]), { seed })).images;
        const top = regionLuma(out.tensor, 0, 0.15, 0, 1);
        const lowerCentre = regionLuma(out.tensor, 0.5, 0.9, 0.3, 0.7);
        // Input luminance is 0.5 everywhere. The whole frame is underexposed (the camera meters for
        // the sky), the subject most: measured 0.148–0.158 here, top 0.29–0.53.
        expect(lowerCentre).toBeLessThan(0.2);
        expect(top).toBeGreaterThan(1.5 * lowerCentre);
        tf.dispose([grey, out.tensor]);
      }
    }
  });

  it('on a mid-grey image, glow alone (darkness 0, haze 0) brightens the top and leaves the lower centre near 0.5', async () => {
    for (const seed of [0, 1, 2, 3, 17]) {
      for (const [h, w] of [[60, 80], [80, 60]]) {
        const grey = tf.fill([h, w, 3], 0.5) as tf.Tensor3D;
        const [out] = (await run(batchOf(['grey', grey]), { darkness: 0, haze: 0, seed })).images;
        const top = regionLuma(out.tensor, 0, 0.15, 0, 1);
        const lowerCentre = regionLuma(out.tensor, 0.5, 0.9, 0.3, 0.7);
        expect(top).toBeGreaterThan(0.53);
        expect(lowerCentre).toBeGreaterThanOrEqual(0.5 - 1e-6); // a screen blend never darkens
        expect(lowerCentre).toBeLessThan(0.53);
        expect(top - lowerCentre).toBeGreaterThan(0.02);
        tf.dispose([grey, out.tensor]);
      }
    }
  });

  it('keepHighlights 0 is the default rendering; keepHighlights 1 keeps a bright sky bright (> 0.9) while the subject and mid tones still darken', async () => {
    // Top rows white-ish (a sky at 0.95), the rest mid-grey (the subject's surroundings).
    const h = 60;
    const w = 80;
    const img = tf.tidy(() => tf.concat([tf.fill([12, w, 3], 0.95), tf.fill([h - 12, w, 3], 0.5)], 0)) as tf.Tensor3D;
    for (const seed of [0, 1, 3]) {
      const [plain] = (await run(batchOf(['p', img]), { seed })).images;
      const [zero] = (await run(batchOf(['p', img]), { seed, keepHighlights: 0 })).images;
      expect(maxAbsDiff(plain.tensor, zero.tensor)).toBe(0);
      const [kept] = (await run(batchOf(['p', img]), { seed, keepHighlights: 1 })).images;
      // Default: the sky is dimmed with everything else (gain ≤ 1 − 0.45·0.6, haze 0.2 wash) — below 0.85.
      expect(regionLuma(plain.tensor, 0, 0.15, 0, 1)).toBeLessThan(0.85);
      expect(regionLuma(kept.tensor, 0, 0.15, 0, 1)).toBeGreaterThan(0.9);
      // The subject (lower centre, input 0.5) is still clearly darkened.
      expect(regionLuma(kept.tensor, 0.55, 0.85, 0.35, 0.65)).toBeLessThan(0.4);
      tf.dispose([plain.tensor, zero.tensor, kept.tensor]);
    }
    img.dispose();
  });

  it('darkness = glow = haze = warmth = 0 is the identity (the gamma is 1 + darkness = 1, the gain 1 − 0.45·darkness = 1): |out − in| ≤ 1e-6', async () => {
    const img = photo(25, 35, 11);
    for (const seed of [1, 2]) {
      const [out] = (await run(batchOf(['p', img]), { ...OFF, seed })).images;
      expect(maxAbsDiff(out.tensor, img)).toBeLessThanOrEqual(1e-6);
      out.tensor.dispose();
    }
    // Warmth alone only tints glow and haze, both off: still the identity.
    const [warm] = (await run(batchOf(['p', img]), { ...OFF, warmth: 1 })).images;
    expect(maxAbsDiff(warm.tensor, img)).toBeLessThanOrEqual(1e-6);
    tf.dispose([img, warm.tensor]);
  });

  it('haze alone is a layout-free wash: out = x·(1 − h) + 0.15·h·tint, tint = (1, 1 − 0.12w, 1 − 0.35w)', async () => {
    const img = photo(12, 16, 4);
    const x = img.arraySync();
    for (const [haze, warmth] of [[0.2, 0], [0.8, 1], [0.5, 0.3]]) {
      const [out] = (await run(batchOf(['p', img]), { ...OFF, haze, warmth, seed: 5 })).images;
      const got = out.tensor.arraySync();
      const tint = [1, 1 - 0.12 * warmth, 1 - 0.35 * warmth];
      let worst = 0;
      for (let yy = 0; yy < 12; yy++) for (let xx = 0; xx < 16; xx++) for (let c = 0; c < 3; c++) {
        worst = Math.max(worst, Math.abs(got[yy][xx][c] - (x[yy][xx][c] * (1 - haze) + 0.15 * haze * tint[c])));
      }
      expect(worst).toBeLessThanOrEqual(1e-6);
      out.tensor.dispose();
    }
    // e.g. mid-grey at haze 0.2, no warmth: 0.5·0.8 + 0.03 = 0.43.
    const grey = tf.fill([3, 3, 3], 0.5) as tf.Tensor3D;
    const [g] = (await run(batchOf(['g', grey]), { ...OFF, haze: 0.2 })).images;
    expect(g.tensor.dataSync()[0]).toBeCloseTo(0.43, 6);
    tf.dispose([img, grey, g.tensor]);
  });
});

describe('backlight() with a fixed layout (hand-computed pixels)', () => {
  // 5×5 image: linspace puts pixel (col 2, row 3) exactly at x = 0.5, y = 0.75.
  const layout = { sunX: 0.5, sunY: 0, subjectX: 0.5, subjectY: 0.75, subjectSize: 0.3 };
  const grey = () => tf.fill([5, 5, 3], 0.5) as tf.Tensor3D;
  const at = (t: tf.Tensor3D, row: number, col: number) => t.arraySync()[row][col];

  it('darkness alone at the subject centre: x^(1+d) · (1 − 0.45d − 0.5d)', () => {
    const img = grey();
    const half = backlight(img, { ...OFF, darkness: 0.5 }, layout);
    // 0.5^1.5 · (1 − 0.225 − 0.25) = 0.353553 · 0.525 = 0.185616
    at(half, 3, 2).forEach((v) => expect(v).toBeCloseTo(0.5 ** 1.5 * 0.525, 6));
    const most = backlight(img, { ...OFF, darkness: 0.95 }, layout);
    // 0.5^1.95 · (1 − 0.95·0.95) = 0.258816 · 0.0975 = 0.025235 (the gain's 0.03 floor is not reached for darkness ≤ 0.95)
    at(most, 3, 2).forEach((v) => expect(v).toBeCloseTo(0.5 ** 1.95 * 0.0975, 6));
    tf.dispose([img, half, most]);
  });

  it('darkness alone far from a small subject is just the gamma 1 + d and a flat gain 1 − 0.45d', () => {
    const img = grey();
    const out = backlight(img, { ...OFF, darkness: 0.5 }, { ...layout, subjectSize: 0.05 });
    // Top-left corner: subject mask = exp(−(0.25 + 0.5625)/(2·0.0025)) ≈ 0 → 0.5^1.5 · 0.775 = 0.274004
    at(out, 0, 0).forEach((v) => expect(v).toBeCloseTo(0.5 ** 1.5 * 0.775, 6));
    tf.dispose([img, out]);
  });

  it('glow alone screens the tinted glow over the image (top centre pixel under the sun)', () => {
    const img = grey();
    const out = backlight(img, { ...OFF, glow: 0.2, warmth: 0.5 }, layout);
    // At (x 0.5, y 0): halo = 1, sky = 1 → 1 + 0.6; subject = exp(−0.5625/(2·0.09)); glow = (1.6·(1 − subject))²·0.2 = 0.468.
    const subject = Math.exp(-0.5625 / (2 * 0.3 * 0.3));
    const g = (1.6 * (1 - subject)) ** 2 * 0.2;
    const tint = [1, 1 - 0.12 * 0.5, 1 - 0.35 * 0.5];
    at(out, 0, 2).forEach((v, c) => expect(v).toBeCloseTo(1 - (1 - 0.5) * (1 - g * tint[c]), 5));
    // No glow through the subject: at its centre the mask is 1, so (1 − subject)² = 0 and the pixel stays 0.5.
    at(out, 3, 2).forEach((v) => expect(v).toBeCloseTo(0.5, 6));
    expect(at(out, 0, 2)[0]).toBeGreaterThan(0.7);
    tf.dispose([img, out]);
  });
});
