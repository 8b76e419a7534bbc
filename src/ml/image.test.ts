import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { centerCrop, matMulConstant, resampleMatrix, resizeImages, shortSideSize } from './image';
import { useTestBackend } from './testing';

interface PilFixture {
  width: number;
  height: number;
  rgb: number[];
  cases: { width: number; height: number; filter: 'bicubic' | 'bilinear'; rgb: number[] }[];
}
const pil = JSON.parse(readFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), 'clip/fixtures/pil_resize.json'), 'utf8')) as PilFixture;

beforeAll(async () => {
  await useTestBackend('wasm');
});

describe('resampleMatrix', () => {
  it('rows sum to 1 for up- and downscaling', () => {
    for (const [i, o] of [[11, 5], [7, 16], [224, 224], [1000, 224]]) {
      const m = resampleMatrix(i, o);
      for (let r = 0; r < o; r++) {
        let s = 0;
        for (let c = 0; c < i; c++) s += m[r * i + c];
        expect(s).toBeCloseTo(1, 5);
      }
    }
  });
});

describe('resizeImages vs Pillow 9.4 (fixture from clip/fixtures/make_pil_resize.py)', () => {
  const input = () => tf.div(tf.tensor4d(pil.rgb, [1, pil.height, pil.width, 3]), 255) as tf.Tensor4D;
  for (const c of pil.cases) {
    it(`${c.filter} ${pil.width}×${pil.height} → ${c.width}×${c.height}: exact with quantize, ≤1 level in float`, () => {
      const x = input();
      const exact = resizeImages(x, c.height, c.width, { filter: c.filter, quantize: true });
      const float = resizeImages(x, c.height, c.width, { filter: c.filter });
      const exactLevels = Array.from(exact.mul(255).round().dataSync());
      const floatLevels = float.mul(255).dataSync();
      let maxExactDiff = 0;
      let maxFloatDiff = 0;
      for (let i = 0; i < c.rgb.length; i++) {
        maxExactDiff = Math.max(maxExactDiff, Math.abs(exactLevels[i] - c.rgb[i]));
        maxFloatDiff = Math.max(maxFloatDiff, Math.abs(Math.min(255, Math.max(0, floatLevels[i])) - c.rgb[i]));
      }
      // Pillow uses 22-bit fixed-point weights; a rare half-level tie may round the other way.
      expect(maxExactDiff).toBeLessThanOrEqual(1);
      expect(maxFloatDiff).toBeLessThanOrEqual(1.01);
      tf.dispose([x, exact, float]);
    });
  }

  it('is differentiable on wasm (matMul-only gradient)', () => {
    const x = input();
    const g = tf.grad((img: tf.Tensor) => resizeImages(img as tf.Tensor4D, 3, 5).sum())(x);
    // Each output pixel's weights sum to 1, so d(sum)/d(input) sums to the number of outputs.
    expect(g.sum().dataSync()[0]).toBeCloseTo(3 * 5 * 3, 3);
    tf.dispose([x, g]);
  });

  it('does not leak tensors', () => {
    const x = input();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) resizeImages(x, 4, 4, { quantize: true }).dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});

describe('shortSideSize / centerCrop', () => {
  it('matches HF get_resize_output_image_size (long side truncated)', () => {
    expect(shortSideSize(480, 640, 224)).toEqual({ height: 224, width: 298 });
    expect(shortSideSize(1000, 333, 224)).toEqual({ height: 672, width: 224 });
    expect(shortSideSize(16, 16, 8)).toEqual({ height: 8, width: 8 });
  });

  it('crops the centre with floor offsets', () => {
    const x = tf.tensor4d(Array.from({ length: 5 * 4 * 3 }, (_, i) => i), [1, 5, 4, 3]);
    const c = centerCrop(x, 2, 2);
    // top = floor(3/2) = 1, left = floor(2/2) = 1 → rows 1..2, cols 1..2
    expect(Array.from(c.dataSync().filter((_, i) => i % 3 === 0))).toEqual([15, 18, 27, 30]);
    expect(() => centerCrop(x, 6, 2)).toThrow(/larger than the image/);
    tf.dispose([x, c]);
  });
});

describe('matMulConstant', () => {
  it('matches tf.matMul forward and its gradient w.r.t. x', () => {
    const x = tf.randomNormal([5, 4], 0, 1, 'float32', 1) as tf.Tensor2D;
    const w = tf.randomNormal([4, 3], 0, 1, 'float32', 2) as tf.Tensor2D;
    const up = tf.randomNormal([5, 3], 0, 1, 'float32', 3);
    const ours = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(matMulConstant(a as tf.Tensor2D, w), up)))(x);
    const reference = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.matMul(a as tf.Tensor2D, w), up)))(x);
    const forward = tf.sub(matMulConstant(x, w), tf.matMul(x, w));
    expect(tf.max(tf.abs(forward)).dataSync()[0]).toBeLessThan(1e-6);
    expect(tf.max(tf.abs(tf.sub(ours, reference))).dataSync()[0]).toBeLessThan(1e-5);
    tf.dispose([x, w, up, ours, reference, forward]);
  });
});
