import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ImageEncoder } from '../encoder';
import { registerWasmTrainingKernels } from '../kernels/wasmTraining';
import { sharedDataDir, useTestBackend } from '../testing';
import {
  clipPromptLoss, encoderIdentityLoss, identityLoss, l1Loss, marginHinge, negativeScore, promptInitLoss, raveLoss,
  reconstructionLoss, ssimIndex, ssimLoss, highlightGuardLoss, highlightPreserveLoss,
} from './index';

beforeAll(async () => {
  await useTestBackend('wasm');
  registerWasmTrainingKernels();
});

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  });
}

/** Central finite differences of f at a few coordinates vs tf.grad (float32: eps 1e-2/1e-3). */
function gradCheck(f: (x: tf.Tensor) => tf.Scalar, x0: Float32Array, shape: number[], idx: number[], eps = 1e-2, tol = 2e-2): void {
  const g = tf.tidy(() => tf.grad(f)(tf.tensor(x0, shape)).dataSync());
  const val = (v: Float32Array) => tf.tidy(() => f(tf.tensor(v, shape)).dataSync()[0]);
  let scale = 0;
  for (const v of g) scale = Math.max(scale, Math.abs(v));
  expect(scale).toBeGreaterThan(0);
  for (const i of idx) {
    const p = x0.slice(); p[i] += eps;
    const m = x0.slice(); m[i] -= eps;
    const fd = (val(p) - val(m)) / (2 * eps);
    expect(Math.abs(fd - g[i]), `coordinate ${i}: fd ${fd} vs grad ${g[i]}`).toBeLessThan(tol * scale);
  }
}

const unit = (v: number[]) => { const n = Math.hypot(...v); return v.map((x) => x / n); };

describe('raveLoss', () => {
  it('hand-computed value', () => {
    const emb = tf.tensor2d([unit([1, 0, 0]), unit([0, 1, 1])]);
    const r = tf.tensor1d([0, 1, 0]);
    // projections 0 and 1/√2; thr 0.5 → ((0−.5)² + (.7071−.5)²)/2
    const want = (0.25 + (Math.SQRT1_2 - 0.5) ** 2) / 2;
    expect(raveLoss(emb, r, 0.5).dataSync()[0]).toBeCloseTo(want, 6);
  });
  it('gradient matches finite differences', () => {
    const r = tf.tensor1d(unit([0.3, -0.5, 0.8, 0.1]));
    gradCheck((x) => raveLoss(x as tf.Tensor2D, r, 0.2), rand(8, 1), [2, 4], [0, 3, 5, 7], 1e-2, 1e-2);
  });
  it('refuses mismatched widths', () => {
    expect(() => raveLoss(tf.zeros([1, 4]) as tf.Tensor2D, tf.zeros([3]) as tf.Tensor1D, 0)).toThrow(/embedding width 4 ≠ residual vector length 3/);
  });
});

describe('CLIP prompt losses', () => {
  it('clipPromptLoss: softmax over 100·cos, mean probability of the negative prompt', () => {
    const prompts = tf.tensor2d([[1, 0], [0, 1]]); // neg = x axis, pos = y axis
    const emb = tf.tensor2d([[1, 0], unit([1, 1])]);
    // image 1: logits (100, 0) → p_neg = 1/(1+e^-100) ≈ 1; image 2: equal logits → 0.5
    expect(clipPromptLoss(emb, prompts).dataSync()[0]).toBeCloseTo(0.75, 6);
    const cosDiff = 0.01; // logits differ by 1 → p = σ(1)
    const e3 = tf.tensor2d([[Math.cos(Math.PI / 4 - cosDiff), Math.sin(Math.PI / 4 - cosDiff)]]);
    const l = 100 * (Math.cos(Math.PI / 4 - cosDiff) - Math.sin(Math.PI / 4 - cosDiff));
    expect(negativeScore(e3, prompts).dataSync()[0]).toBeCloseTo(1 / (1 + Math.exp(-l)), 5);
  });
  it('clipPromptLoss gradient matches finite differences (w.r.t. embeddings and prompts)', () => {
    const prompts = tf.tensor2d(rand(8, 3), [2, 4]);
    gradCheck((x) => clipPromptLoss(x as tf.Tensor2D, prompts), rand(12, 4).map((v) => v * 0.02 + 0.5), [3, 4], [0, 5, 11], 1e-3, 3e-2);
    const emb = tf.tensor2d(rand(12, 5), [3, 4]);
    gradCheck((p) => clipPromptLoss(emb, p as tf.Tensor2D), rand(8, 6).map((v) => v * 0.05 + 0.5), [2, 4], [1, 6], 1e-3, 3e-2);
  });
  it('promptInitLoss is the 2-way cross-entropy (equal logits → ln 2)', () => {
    const prompts = tf.tensor2d([[1, 0], [0, 1]]);
    expect(promptInitLoss(tf.tensor2d([unit([1, 1])]), prompts, [0]).dataSync()[0]).toBeCloseTo(Math.LN2, 5);
  });
  it('marginHinge: mean max(0, s(b) − s(a) + m), gradient by finite differences', () => {
    const h = marginHinge(tf.tensor1d([0.9, 0.2]), tf.tensor1d([0.5, 0.4]), 0.3);
    expect(h.dataSync()[0]).toBeCloseTo((0 + 0.5) / 2, 6); // 0.5−0.9+0.3 < 0 → 0; 0.4−0.2+0.3 = 0.5
    const sb = tf.tensor1d([0.5, 0.4, 0.1]);
    gradCheck((a) => marginHinge(a as tf.Tensor1D, sb, 0.3), new Float32Array([0.9, 0.2, 0.25]), [3], [0, 1, 2], 1e-3, 1e-2);
  });
});

describe('identity and reconstruction losses', () => {
  it('identityLoss: Σ_l w_l · Σ_batch MSE (hand-computed)', () => {
    const fo = [tf.tensor2d([[1, 1], [0, 0]]), tf.tensor3d([[[2]], [[2]]])];
    const fi = [tf.tensor2d([[0, 0], [0, 0]]), tf.tensor3d([[[0]], [[1]]])];
    // layer 0: per-image MSE 1 and 0 → sum 1; layer 1: 4 and 1 → 5; weights (1, 0.5)
    expect(identityLoss(fo, fi, [1, 0.5]).dataSync()[0]).toBeCloseTo(1 + 2.5, 6);
    expect(identityLoss(fo, fi, [1, 0.5], 'mean').dataSync()[0]).toBeCloseTo(0.5 + 1.25, 6);
    expect(() => identityLoss(fo, fi, [1])).toThrow(/one weight per layer/);
  });

  // A tiny differentiable stand-in encoder: features = avg-pooled image and its square.
  const encoder: ImageEncoder = {
    space: 'test:pool', dim: 3, label: 'pool test encoder',
    encodeImages: (x) => tf.tidy(() => tf.mean(x, [1, 2]) as tf.Tensor2D),
    imageFeatures: (x) => [tf.avgPool(x, 2, 2, 'valid'), tf.square(tf.avgPool(x, 4, 4, 'valid'))],
    dispose: () => undefined,
  };
  it('encoderIdentityLoss / reconstructionLoss: zero for identical images, 25× scale, FD gradient', () => {
    const x = tf.tensor4d(rand(2 * 8 * 8 * 3, 9), [2, 8, 8, 3]);
    expect(encoderIdentityLoss(encoder, x, x, [1, 1]).dataSync()[0]).toBe(0);
    const y = tf.add(x, 0.1) as tf.Tensor4D;
    const id = encoderIdentityLoss(encoder, y, x, [1, 1]).dataSync()[0];
    expect(reconstructionLoss(encoder, y, x).dataSync()[0]).toBeCloseTo(25 * id, 4);
    gradCheck((o) => encoderIdentityLoss(encoder, o as tf.Tensor4D, x, [1, 0.5]), rand(2 * 8 * 8 * 3, 10), [2, 8, 8, 3], [0, 77, 300], 1e-2, 2e-2);
    const noFeatures: ImageEncoder = { ...encoder, imageFeatures: undefined };
    expect(() => encoderIdentityLoss(noFeatures, y, x)).toThrow(/exposes no imageFeatures/);
  });
});

describe('pixel losses', () => {
  it('l1Loss hand value and gradient', () => {
    expect(l1Loss(tf.tensor1d([1, 2, 3]), tf.tensor1d([1, 0, 4])).dataSync()[0]).toBeCloseTo(1, 6);
    const t = tf.tensor1d([0.5, 0.5, 0.5]);
    gradCheck((x) => l1Loss(x, t), new Float32Array([0.1, 0.7, 0.3]), [3], [0, 1, 2], 1e-3, 1e-3);
  });

  it('ssimIndex: 1 for identical, closed form for constants', () => {
    const a = tf.tensor4d(rand(16 * 16 * 3, 2), [1, 16, 16, 3]);
    expect(ssimIndex(a, a).dataSync()[0]).toBeCloseTo(1, 5);
    const c1 = tf.fill([1, 12, 12, 1], 0.6) as tf.Tensor4D;
    const c2 = tf.fill([1, 12, 12, 1], 0.3) as tf.Tensor4D;
    const C1 = 1e-4;
    // float32 E[x²]−μ² leaves ~1e-8 variance noise against C2 = 9e-4
    expect(ssimIndex(c1, c2).dataSync()[0]).toBeCloseTo((2 * 0.18 + C1) / (0.36 + 0.09 + C1), 4);
  });

  it('ssimIndex equals skimage gaussian SSIM on real and synthetic pairs (≤1e-3)', async () => {
    const fx = path.join(path.dirname(fileURLToPath(import.meta.url)), '../metrics/fixtures');
    const refs = JSON.parse(readFileSync(path.join(fx, 'metrics_reference.json'), 'utf8')) as Record<string, { gt: string; enhanced: string; gaussian_ssim_rgb01: number }>;
    const load = async (rel: string) => {
      const file = rel.includes('/') ? path.join(sharedDataDir, rel) : path.join(fx, rel);
      const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      return tf.tidy(() => tf.div(tf.tensor4d(new Uint8Array(data), [1, info.height, info.width, 3], 'int32'), 255)) as tf.Tensor4D;
    };
    for (const [name, r] of Object.entries(refs)) {
      const a = await load(r.gt);
      const b = await load(r.enhanced);
      expect(Math.abs(ssimIndex(a, b).dataSync()[0] - r.gaussian_ssim_rgb01), name).toBeLessThan(1e-3);
      tf.dispose([a, b]);
    }
  });

  it('ssimLoss gradient matches finite differences', () => {
    const t = tf.tensor4d(rand(14 * 13 * 2, 21), [1, 14, 13, 2]);
    gradCheck((x) => ssimLoss(x as tf.Tensor4D, t), rand(14 * 13 * 2, 22), [1, 14, 13, 2], [0, 40, 181, 300], 1e-2, 3e-2);
  });

  it('losses release their intermediates', () => {
    const a = tf.tensor4d(rand(2 * 16 * 16 * 3, 3), [2, 16, 16, 3]);
    const b = tf.tensor4d(rand(2 * 16 * 16 * 3, 4), [2, 16, 16, 3]);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.tidy(() => { tf.grad((x) => tf.add(ssimLoss(x as tf.Tensor4D, b), l1Loss(x, b)))(a).dataSync(); });
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, b]);
  });
});

describe('highlightGuardLoss (not in the papers)', () => {
  const img = (v: number[]) => tf.tensor4d(v.flatMap((x) => [x, x, x]), [1, 1, v.length, 3]);
  it('hand-computed: newly clipped pixels cost I − 0.98·L, bright pixels are free; nothing when L ≥ 1', () => {
    // pixels (gray): 0.5 with L 0.4 (clips: 0.5 − 0.392 = 0.108), 0.8 with L 0.9 (0.8 < 0.882: free),
    // 0.99 with L 0.5 (already ≥ 0.98: free), 0.2 with L 1.
    const input = img([0.5, 0.8, 0.99, 0.2]);
    const L = img([0.4, 0.9, 0.5, 1]);
    const v = highlightGuardLoss(input, L);
    expect(v.dataSync()[0]).toBeCloseTo(0.108 / 4, 5);
    const none = highlightGuardLoss(input, img([1, 1, 1.2, 1]));
    expect(none.dataSync()[0]).toBeCloseTo(0, 7);
    tf.dispose([input, L, v, none]);
  });
  it('has a bounded gradient w.r.t. L even where L → 0 (no blow-up like I/L)', () => {
    const input = img([0.5, 0.3]);
    const L = img([1e-6, 0.2]);
    const g = tf.grad((l: tf.Tensor) => highlightGuardLoss(input, l as tf.Tensor4D))(L);
    const max = tf.max(tf.abs(g)).dataSync()[0];
    expect(max).toBeGreaterThan(0);
    expect(max).toBeLessThanOrEqual(0.98 / 2 + 1e-6);
    tf.dispose([input, L, g]);
  });
});

describe('highlightPreserveLoss (not in the papers)', () => {
  const img = (v: number[]) => tf.tensor4d(v.flatMap((x) => [x, x, x]), [1, 1, v.length, 3]);
  const ell = (v: number[]) => tf.tensor4d(v, [1, 1, v.length, 1]);
  it('hand-computed: s(Y)·relu(1 − L) with s ramping 0.7 → 0.9; dark pixels brighten for free; nothing when L ≥ 1', () => {
    // gray 0.95 (s 1) with L 0.8 → 0.2; 0.8 (s 0.5) with L 0.6 → 0.2; 0.3 (s 0) with L 0.2 → 0; 0.9 (s 1) with L 1.1 → 0.
    const input = img([0.95, 0.8, 0.3, 0.9]);
    const v = highlightPreserveLoss(input, ell([0.8, 0.6, 0.2, 1.1]));
    expect(v.dataSync()[0]).toBeCloseTo((0.2 + 0.5 * 0.4) / 4, 5);
    const none = highlightPreserveLoss(input, ell([1, 1, 0.1, 1]));
    expect(none.dataSync()[0]).toBeCloseTo(0, 7);
    tf.dispose([input, v, none]);
  });
  it('its gradient w.r.t. L is −s(Y)/n on brightening pixels and 0 elsewhere', () => {
    const input = img([0.95, 0.3]);
    const L = ell([0.5, 0.5]);
    const g = tf.grad((l: tf.Tensor) => highlightPreserveLoss(input, l as tf.Tensor4D))(L).dataSync();
    expect(g[0]).toBeCloseTo(-0.5, 6);
    expect(g[1]).toBeCloseTo(0, 7);
    tf.dispose([input, L]);
  });
});
