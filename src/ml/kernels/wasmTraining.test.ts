import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestBackend } from '../testing';
import { conv2dBackpropFilterNHWC, registerWasmTrainingKernels } from './wasmTraining';
import { reflectPad2d } from './reflectPad';

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
interface Case { x: [number, number, number, number]; w: [number, number, number, number]; stride: number; pad: Pad }

const cases: Case[] = [
  { x: [2, 9, 11, 3], w: [3, 3, 3, 5], stride: 1, pad: 'same' },
  { x: [1, 12, 10, 8], w: [3, 3, 8, 4], stride: 1, pad: 'valid' },
  { x: [1, 7, 9, 4], w: [3, 3, 4, 6], stride: 1, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { x: [3, 6, 6, 5], w: [1, 1, 5, 7], stride: 1, pad: 'valid' },
  { x: [1, 13, 12, 3], w: [5, 5, 3, 4], stride: 1, pad: 'same' },
  { x: [2, 11, 10, 3], w: [3, 3, 3, 4], stride: 2, pad: 'same' },
  { x: [1, 16, 16, 3], w: [4, 4, 3, 2], stride: 4, pad: 'valid' },
];

function rand(shape: number[], seed: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

/** Gradients of Σ conv(x,w)·g w.r.t. x and w on the active backend, as plain arrays. */
function convGrads(c: Case, seed: number): { dx: Float32Array; dw: Float32Array } {
  const x = tf.tensor4d(rand(c.x, seed), c.x);
  const w = tf.tensor4d(rand(c.w, seed + 1), c.w);
  const y = tf.conv2d(x, w, c.stride, c.pad);
  const g = tf.tensor(rand(y.shape, seed + 2), y.shape);
  const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), g)))([x, w]);
  const out = { dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  tf.dispose([x, w, y, g, dx, dw]);
  return out;
}

function relErr(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-12);
}

describe('wasm training kernels', () => {
  const reference: { dx: Float32Array; dw: Float32Array }[] = [];
  beforeAll(async () => {
    await useTestBackend('cpu');
    cases.forEach((c, i) => reference.push(convGrads(c, 100 + i)));
    await useTestBackend('wasm');
    registerWasmTrainingKernels();
    registerWasmTrainingKernels(); // idempotent
  });

  it('Conv2DBackpropFilter is registered for wasm', () => {
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
  });

  cases.forEach((c, i) => {
    it(`conv2d grads match cpu: x ${c.x} w ${c.w} stride ${c.stride} pad ${JSON.stringify(c.pad)}`, () => {
      const got = convGrads(c, 100 + i);
      expect(relErr(got.dw, reference[i].dw)).toBeLessThan(1e-4);
      expect(relErr(got.dx, reference[i].dx)).toBeLessThan(1e-4);
    });
  });

  it('row-chunked filter gradient equals the single-chunk one', () => {
    const x = tf.tensor4d(rand([2, 10, 8, 4], 7), [2, 10, 8, 4]);
    const dy = tf.tensor4d(rand([2, 10, 8, 3], 8), [2, 10, 8, 3]);
    const a = conv2dBackpropFilterNHWC(x, dy, [3, 3, 4, 3], { strides: 1, pad: 'same' });
    const b = conv2dBackpropFilterNHWC(x, dy, [3, 3, 4, 3], { strides: 1, pad: 'same' }, 1); // 1 row per chunk
    expect(relErr(b.dataSync() as Float32Array, a.dataSync() as Float32Array)).toBeLessThan(1e-5);
    tf.dispose([x, dy, a, b]);
  });

  it('does not leak tensors across repeated backward passes', () => {
    const x = tf.tensor4d(rand([1, 8, 8, 3], 1), [1, 8, 8, 3]);
    const w = tf.variable(tf.tensor4d(rand([3, 3, 3, 4], 2), [3, 3, 3, 4]));
    const step = () => tf.tidy(() => tf.variableGrads(() => tf.sum(tf.square(tf.conv2d(tf.conv2d(x, w, 1, 'same'), tf.ones([3, 3, 4, 3]) as tf.Tensor4D, 1, 'same')))).grads[w.name].dataSync());
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w]);
  });
});

describe('reflectPad2d', () => {
  beforeAll(async () => {
    await useTestBackend('wasm');
  });

  it('forward equals tf.mirrorPad reflect', () => {
    const x = tf.tensor4d(rand([2, 5, 6, 3], 3), [2, 5, 6, 3]);
    for (const p of [1, 2]) {
      const a = reflectPad2d(x, p).dataSync();
      const b = tf.mirrorPad(x, [[0, 0], [p, p], [p, p], [0, 0]], 'reflect').dataSync();
      expect(Array.from(a)).toEqual(Array.from(b));
    }
    x.dispose();
  });

  it('gradient counts each mirrored use (3×3, pad 1: row/col multiplicities 1,3,1)', () => {
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
    const g = tf.grad((a: tf.Tensor) => tf.sum(reflectPad2d(a as tf.Tensor4D, 1)))(x);
    // Padded 5×5: row/col source multiplicities are [1,3,1] (index 1 is used by both mirrors).
    expect(Array.from(g.dataSync())).toEqual([1, 3, 1, 3, 9, 3, 1, 3, 1]);
    tf.dispose([x, g]);
  });

  it('gradient matches finite differences of a weighted sum (pad 2)', () => {
    const shape: [number, number, number, number] = [1, 4, 5, 2];
    const xv = rand(shape, 11);
    const wt = tf.tensor4d(rand([1, 8, 9, 2], 12), [1, 8, 9, 2]);
    const f = (a: tf.Tensor) => tf.sum(tf.mul(reflectPad2d(a as tf.Tensor4D, 2), wt));
    const x = tf.tensor4d(xv, shape);
    const g = tf.grad(f)(x).dataSync();
    const eps = 1e-2;
    for (const idx of [0, 3, 9, 17, 39]) {
      const p = xv.slice(); p[idx] += eps;
      const m = xv.slice(); m[idx] -= eps;
      const fd = (f(tf.tensor4d(p, shape)).dataSync()[0] - f(tf.tensor4d(m, shape)).dataSync()[0]) / (2 * eps);
      expect(Math.abs(fd - g[idx])).toBeLessThan(1e-3);
    }
    tf.dispose([x, wt]);
  });
});
