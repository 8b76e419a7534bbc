import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { useTestBackend } from './testing';
import { adam, ADAM_EPSILON, pickFastest } from './backend';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const wasmDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../node_modules/@tensorflow/tfjs-backend-wasm/dist/');

describe('backend', () => {
  it('runs a matMul on wasm in Node', async () => {
    await useTestBackend('wasm');
    expect(tf.getBackend()).toBe('wasm');
    const y = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(Array.from(await y.data())).toEqual([11]);
    y.dispose();
  });

  it('pickFastest times the probe on each candidate, keeps the fastest active and says why', async () => {
    const before = tf.memory().numTensors;
    const r = await pickFastest(['cpu', 'wasm'], { wasmDir, skip: { webgpu: 'not here' } });
    expect(typeof r.measured.cpu).toBe('number');
    expect(typeof r.measured.wasm).toBe('number');
    expect(r.measured.webgpu).toBe('not here');
    const fastest = (r.measured.cpu as number) < (r.measured.wasm as number) ? 'cpu' : 'wasm';
    expect(r.chosen).toBe(fastest);
    expect(tf.getBackend()).toBe(fastest);
    expect(r.reason).toMatch(/^fastest measured here \((cpu|wasm) [\d.]+ ms; .*webgpu: not here/);
    expect(tf.memory().numTensors).toBe(before); // the probe frees its tensors
  });

  it('pickFastest names every reason when nothing starts', async () => {
    await expect(pickFastest(['webgpu'], { skip: { webgpu: 'no adapter' } })).rejects.toThrow(/No tfjs backend could start here \(webgpu: no adapter\)/);
  });

  it("adam() steps the same whatever the backend's epsilon() says (webgl says 1e-4 with float32 on)", async () => {
    await useTestBackend('wasm');
    const backend = tf.backend() as unknown as { epsilon(): number };
    const own = Object.getOwnPropertyDescriptor(backend, 'epsilon');
    const lr = 1e-3;
    const g = 1e-6; // the size of many enhancer weight gradients
    const firstStep = (opt: tf.Optimizer) => {
      const v = tf.variable(tf.scalar(0));
      opt.applyGradients({ [v.name]: tf.scalar(g) });
      const moved = -v.dataSync()[0];
      v.dispose();
      opt.dispose();
      return moved;
    };
    try {
      backend.epsilon = () => 1e-4; // what tfjs-backend-webgl 4.22 reports
      // tfjs's own default follows the backend: a 1e-6 gradient moves ~1 % of lr…
      expect(firstStep(tf.train.adam(lr)) / lr).toBeLessThan(0.02);
      // …ours does not: lr·g/(|g| + 1e-7), as on cpu, wasm and webgpu.
      expect(firstStep(adam(lr)) / lr).toBeCloseTo(g / (g + ADAM_EPSILON), 4);
    } finally {
      if (own) Object.defineProperty(backend, 'epsilon', own);
      else delete (backend as Partial<typeof backend>).epsilon;
    }
    expect(backend.epsilon()).toBe(1e-7);
  });
});
