import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { useTestBackend } from '../testing';
import { activationGrad, foldAxis, reflectFold, sliceRows, splitChannels } from './heapKernels';
import { conv2dBackpropFilterLegacy, conv2dBackpropFilterNHWC, registerWasmTrainingKernels, setTrainingKernelImpl } from './wasmTraining';

function rand(shape: number[], seed: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return tf.tensor(out, shape);
}

const maxAbs = (a: tf.Tensor, b: tf.Tensor) => {
  expect(a.shape).toEqual(b.shape);
  const x = a.dataSync();
  const y = b.dataSync();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
};

afterAll(() => setTrainingKernelImpl('heap'));

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`heap kernels on ${backend}`, () => {
    it('reflectFold equals the composite adjoint (p 1 and 2), with mask and addend', async () => {
      await useTestBackend(backend);
      for (const p of [1, 2]) {
        const g = rand([2, 7 + 2 * p, 6 + 2 * p, 3], 10 + p) as tf.Tensor4D;
        const ref = rand([2, 7, 6, 3], 20) as tf.Tensor4D;
        const add = rand([2, 7, 6, 3], 30) as tf.Tensor4D;
        const want = tf.tidy(() => foldAxis(foldAxis(g, 1, p, 7), 2, p, 6));
        expect(maxAbs(reflectFold(g, p), want)).toBeLessThan(1e-6);
        const wantFused = tf.tidy(() => tf.add(tf.where(tf.greater(ref, 0), want, tf.mul(want, 0.2)), add));
        expect(maxAbs(reflectFold(g, p, { ref, alpha: 0.2, addend: add }), wantFused)).toBeLessThan(1e-6);
        tf.dispose([g, ref, add, want, wantFused]);
      }
    });

    it('reflectFold is the adjoint of mirrorPad: <mirrorPad(x), g> = <x, fold(g)>', async () => {
      await useTestBackend(backend);
      const x = rand([1, 5, 4, 2], 1) as tf.Tensor4D;
      const g = rand([1, 7, 6, 2], 2) as tf.Tensor4D;
      const lhs = tf.sum(tf.mul(tf.mirrorPad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], 'reflect'), g)).dataSync()[0];
      const rhs = tf.sum(tf.mul(x, reflectFold(g, 1))).dataSync()[0];
      expect(Math.abs(lhs - rhs)).toBeLessThan(1e-5);
      tf.dispose([x, g]);
    });

    it('activationGrad matches tfjs autograd for relu, leaky relu and PReLU ([1] and per-channel)', async () => {
      await useTestBackend(backend);
      const z = rand([2, 4, 5, 3], 3) as tf.Tensor4D;
      const dy = rand([2, 4, 5, 3], 4) as tf.Tensor4D;
      const vjp = (f: (t: tf.Tensor) => tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), dy)))(z);
      expect(maxAbs(activationGrad(dy, tf.relu(z), 0), vjp((t) => tf.relu(t)))).toBeLessThan(1e-7);
      expect(maxAbs(activationGrad(dy, tf.leakyRelu(z, 0.2), 0.2), vjp((t) => tf.leakyRelu(t, 0.2)))).toBeLessThan(1e-7);
      for (const alpha of [tf.tensor1d([0.25]), tf.tensor1d([0.1, 0.3, -0.2])]) {
        const prelu = (t: tf.Tensor, a: tf.Tensor) => tf.add(tf.relu(t), tf.mul(a, tf.minimum(t, 0)));
        const [gz, ga] = tf.grads((t: tf.Tensor, a: tf.Tensor) => tf.sum(tf.mul(prelu(t, a), dy)))([z, alpha]);
        const [dx, da] = activationGrad(dy, z, alpha);
        expect(maxAbs(dx, gz)).toBeLessThan(1e-7);
        expect(maxAbs(da, ga)).toBeLessThan(1e-5);
      }
      tf.dispose([z, dy]);
    });

    it('splitChannels and sliceRows equal tf.split / tf.slice', async () => {
      await useTestBackend(backend);
      const x = rand([2, 3, 4, 13], 5);
      const parts = splitChannels(x, [4, 8, 1]);
      const want = tf.split(x, [4, 8, 1], 3);
      parts.forEach((p, i) => expect(maxAbs(p, want[i])).toBe(0));
      const m = rand([9, 5], 6) as tf.Tensor2D;
      expect(maxAbs(sliceRows(m, 2, 4), tf.slice(m, [2, 0], [4, 5]))).toBe(0);
      expect(maxAbs(sliceRows(m, 0, 9), m)).toBe(0);
      tf.dispose([x, m, ...parts, ...want]);
    });

    it('in-place im2col filter gradient equals tfjs autograd (strides, dilation, padding, batch, chunks)', async () => {
      await useTestBackend(backend);
      if (backend === 'wasm') registerWasmTrainingKernels();
      const cases: { x: number[]; w: number[]; s: number; d: number; pad: 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]] }[] = [
        { x: [2, 9, 11, 3], w: [3, 3, 3, 5], s: 1, d: 1, pad: 'same' },
        { x: [1, 12, 10, 4], w: [3, 3, 4, 2], s: 2, d: 1, pad: 'valid' },
        { x: [1, 11, 12, 2], w: [3, 3, 2, 3], s: 1, d: 2, pad: 'same' },
        { x: [3, 7, 9, 4], w: [3, 3, 4, 6], s: 1, d: 1, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
        { x: [1, 6, 5, 1], w: [2, 2, 1, 3], s: 1, d: 1, pad: 'same' },
      ];
      for (const [i, c] of cases.entries()) {
        const x = rand(c.x, 40 + i) as tf.Tensor4D;
        const w = rand(c.w, 50 + i) as tf.Tensor4D;
        const y = tf.conv2d(x, w, c.s, c.pad, 'NHWC', c.d);
        const dy = rand(y.shape, 60 + i) as tf.Tensor4D;
        const attrs = { strides: c.s, pad: c.pad, dilations: c.d };
        const mine = conv2dBackpropFilterNHWC(x, dy, c.w as [number, number, number, number], attrs);
        const chunked = conv2dBackpropFilterNHWC(x, dy, c.w as [number, number, number, number], attrs, 1);
        const legacy = conv2dBackpropFilterLegacy(x, dy, c.w as [number, number, number, number], attrs);
        // On cpu `want` is tfjs's own Conv2DBackpropFilter; on wasm tf.grad goes through the registered
        // kernel (this one), so there the independent check is legacy (and wasmTraining.test.ts vs cpu).
        // tfjs has no conv gradient for dilation > 1: there the original implementation is the reference.
        const want = c.d === 1 ? tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, t as tf.Tensor4D, c.s, c.pad), dy)))(w) : legacy.clone();
        const scale = tf.max(tf.abs(want)).dataSync()[0];
        expect(maxAbs(mine, want) / scale).toBeLessThan(1e-5);
        expect(maxAbs(chunked, want) / scale).toBeLessThan(1e-5);
        expect(maxAbs(legacy, want) / scale).toBeLessThan(1e-5);
        tf.dispose([x, w, y, dy, mine, chunked, legacy, want]);
      }
    });
  });
}

describe('wasm Identity shares data instead of copying', () => {
  it('clones are equal, independent of the source being disposed, and legacy mode still copies', async () => {
    await useTestBackend('wasm');
    registerWasmTrainingKernels();
    const a = tf.tensor1d([1, 2, 3]);
    const b = tf.clone(a);
    a.dispose();
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3]);
    b.dispose();
    setTrainingKernelImpl('legacy');
    const c = tf.tensor1d([4, 5]);
    const d = tf.clone(c);
    expect(Array.from(d.dataSync())).toEqual([4, 5]);
    tf.dispose([c, d]);
    setTrainingKernelImpl('heap');
  });
});
