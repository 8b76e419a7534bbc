import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { reflectPad2d } from '../kernels/reflectPad';
import { registerWasmTrainingKernels } from '../kernels/wasmTraining';
import { useTestBackend } from '../testing';
import { convLayer, resBlock, type Activation, type LayerPad } from './layers';
import { EnhancerNet, type ForwardOptions } from './network';
import { trainStep } from './train';

function rand(shape: number[], seed: number, scale = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * scale;
  }
  return tf.tensor(out, shape);
}

/** max |a−b| / max |b| */
const rel = (a: tf.Tensor, b: tf.Tensor) => {
  expect(a.shape).toEqual(b.shape);
  const x = a.dataSync();
  const y = b.dataSync();
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    num = Math.max(num, Math.abs(x[i] - y[i]));
    den = Math.max(den, Math.abs(y[i]));
  }
  return num / Math.max(den, 1e-12);
};

/** The same layers written with plain tf ops (tfjs autograd). */
function refConv(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor | null, pad: LayerPad, act: Activation, alpha?: tf.Tensor): tf.Tensor4D {
  let z = pad === 'reflect' ? tf.conv2d(reflectPad2d(x, 1), w, 1, 'valid') : tf.conv2d(x, w, 1, 'same');
  if (b) z = tf.add(z, b);
  if (act === 'relu') return tf.relu(z);
  if (act === 'lrelu') return tf.leakyRelu(z, 0.2);
  if (act === 'prelu') return tf.add(tf.relu(z), tf.mul(alpha as tf.Tensor, tf.minimum(z, 0)));
  return z;
}

function refResBlock(x: tf.Tensor4D, w1: tf.Tensor4D, w2: tf.Tensor4D): tf.Tensor4D {
  const h = tf.leakyRelu(refConv(x, w1, null, 'reflect', 'none'), 0.2);
  return tf.leakyRelu(tf.add(refConv(h, w2, null, 'reflect', 'none'), x) as tf.Tensor4D, 0.2);
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`fused enhancer layers equal the tf-op composition (${backend})`, () => {
    const setup = async () => {
      await useTestBackend(backend);
      if (backend === 'wasm') registerWasmTrainingKernels();
    };

    const acts: [Activation, LayerPad, boolean][] = [['lrelu', 'reflect', true], ['lrelu', 'zero', true], ['relu', 'zero', true], ['none', 'reflect', true], ['prelu', 'zero', false]];
    for (const [act, pad, bias] of acts) {
      it(`convLayer ${act}, ${pad} padding${bias ? ', bias' : ''}: value and all gradients within 1e-5`, async () => {
        await setup();
        const x = rand([2, 7, 6, 4], 1) as tf.Tensor4D;
        const w = rand([3, 3, 4, 5], 2, 0.5) as tf.Tensor4D;
        const b = rand([5], 3, 0.2);
        const alpha = tf.tensor1d([0.25]);
        const dy = rand([2, 7, 6, 5], 4);
        // tf.grads needs every argument connected: pass only the ones this variant uses.
        const args: tf.Tensor[] = [x, w, ...(bias ? [b] : []), ...(act === 'prelu' ? [alpha] : [])];
        const unpack = (t: tf.Tensor[]) => ({ xx: t[0] as tf.Tensor4D, ww: t[1] as tf.Tensor4D, bb: bias ? t[2] : null, aa: act === 'prelu' ? t[t.length - 1] : undefined });
        const fused = (...t: tf.Tensor[]) => {
          const { xx, ww, bb, aa } = unpack(t);
          return tf.sum(tf.mul(convLayer(xx, ww, { pad, act, bias: bb as tf.Tensor1D | null, alpha: aa }), dy));
        };
        const ref = (...t: tf.Tensor[]) => {
          const { xx, ww, bb, aa } = unpack(t);
          return tf.sum(tf.mul(refConv(xx, ww, bb, pad, act, aa), dy));
        };
        const want = tf.grads(ref)(args);
        const got = tf.grads(fused)(args);
        expect(rel(fused(...args), ref(...args))).toBeLessThan(1e-5);
        got.forEach((g, i) => expect(rel(g, want[i]), `grad ${i}`).toBeLessThan(1e-5));
        tf.dispose([x, w, b, alpha, dy, ...want, ...got]);
      });
    }

    it('convLayer over a channel concat (PPM fuse: [f1, contexts…], per-channel PReLU) splits gradients back', async () => {
      await setup();
      const parts = [rand([1, 6, 5, 4], 5), rand([1, 6, 5, 2], 6), rand([1, 6, 5, 2], 7)] as tf.Tensor4D[];
      const w = rand([3, 3, 8, 3], 8, 0.5) as tf.Tensor4D;
      const alpha = tf.tensor1d([0.1, 0.25, -0.3]);
      const dy = rand([1, 6, 5, 3], 9);
      const fused = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, ww: tf.Tensor, aa: tf.Tensor) => tf.sum(tf.mul(convLayer([a, b, c] as tf.Tensor4D[], ww as tf.Tensor4D, { pad: 'zero', act: 'prelu', bias: null, alpha: aa }), dy));
      const ref = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, ww: tf.Tensor, aa: tf.Tensor) => tf.sum(tf.mul(refConv(tf.concat([a, b, c], 3) as tf.Tensor4D, ww as tf.Tensor4D, null, 'zero', 'prelu', aa), dy));
      const args = [...parts, w, alpha];
      const want = tf.grads(ref)(args);
      const got = tf.grads(fused)(args);
      got.forEach((g, i) => expect(rel(g, want[i]), `grad ${i}`).toBeLessThan(1e-5));
      tf.dispose([...args, dy, ...want, ...got]);
    });

    for (const checkpoint of [false, true]) {
      it(`resBlock${checkpoint ? ' (checkpointed)' : ''}: value and gradients within 1e-5`, async () => {
        await setup();
        const x = rand([2, 6, 7, 4], 10) as tf.Tensor4D;
        const w1 = rand([3, 3, 4, 4], 11, 0.5) as tf.Tensor4D;
        const w2 = rand([3, 3, 4, 4], 12, 0.5) as tf.Tensor4D;
        const dy = rand([2, 6, 7, 4], 13);
        const fused = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(resBlock(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, { checkpoint }), dy));
        const ref = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(refResBlock(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D), dy));
        const want = tf.grads(ref)([x, w1, w2]);
        const before = tf.memory().numTensors;
        const got = tf.grads(fused)([x, w1, w2]);
        expect(tf.memory().numTensors).toBe(before + 3); // only the three gradients survive
        got.forEach((g, i) => expect(rel(g, want[i]), `grad ${i}`).toBeLessThan(1e-5));
        tf.dispose([x, w1, w2, dy, ...want, ...got]);
      });
    }

    // The cpu backend takes ~15 s per backward of the whole network even at 13×11: wasm only.
    const itWasm = backend === 'wasm' ? it : it.skip;
    itWasm('whole network: fused, fused+checkpoint and reference give the same L, output and weight gradients (1e-5)', async () => {
      await setup();
      const net = EnhancerNet.create(5);
      const input = tf.randomUniform([2, 13, 11, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
      const run = (o: ForwardOptions) => tf.variableGrads(() => {
        const { L, out } = net.forward(input, o);
        return tf.add(tf.mean(tf.square(out)), tf.mean(tf.mul(L, L))) as tf.Scalar;
      }, net.trainableVariables());
      for (const padMode of ['zero', 'reflect'] as const) {
        const ref = run({ impl: 'reference', padMode });
        for (const o of [{ impl: 'fused' as const }, { impl: 'fused' as const, checkpoint: true }]) {
          const got = run({ ...o, padMode });
          expect(Math.abs(got.value.dataSync()[0] - ref.value.dataSync()[0])).toBeLessThan(1e-6);
          for (const [name, g] of Object.entries(ref.grads)) {
            const gs = g.dataSync();
            if (Math.max(...Array.from(gs, Math.abs)) === 0) continue;
            expect(rel(got.grads[name], g), `${padMode} ${JSON.stringify(o)} ${name}`).toBeLessThan(1e-5);
          }
          tf.dispose([got.value, ...Object.values(got.grads)]);
        }
        const a = net.forward(input, { padMode, impl: 'reference' });
        const b = net.forward(input, { padMode });
        expect(rel(b.L, a.L)).toBeLessThan(1e-5);
        expect(rel(b.out, a.out)).toBeLessThan(1e-5);
        tf.dispose([ref.value, ...Object.values(ref.grads), a.L, a.out, b.L, b.out]);
      }
      input.dispose();
      net.dispose();
    }, 60_000);

    itWasm('checkpointed trainStep does not leak tensors', async () => {
      await setup();
      const net = EnhancerNet.create(6);
      const opt = tf.train.adam(1e-4);
      const input = tf.randomUniform([2, 12, 10, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
      const loss = (r: { out: tf.Tensor4D; L: tf.Tensor4D }) => tf.mean(tf.square(tf.sub(r.L, 0.5))) as tf.Scalar;
      trainStep(net, opt, input, loss, { checkpoint: true, microBatch: 1 });
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) trainStep(net, opt, input, loss, { checkpoint: true, microBatch: 1 });
      expect(tf.memory().numTensors).toBe(before);
      input.dispose();
      opt.dispose();
      net.dispose();
    }, 60_000);
  });
}
