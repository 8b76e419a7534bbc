import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installNodeWebGPU, prepareWebGPU } from '../../src/cli/webgpu';
import { useBackend } from '../../src/ml/backend';
import { enhanceTiled } from '../../src/ml/enhancer/inference';
import { EnhancerNet, type PadMode } from '../../src/ml/enhancer/network';
import { trainStepLazy } from '../../src/ml/enhancer/train';
import { heapKernelsAvailable } from '../../src/ml/kernels';
import { readPth } from '../../src/ml/pth';
import { sharedDataDir } from '../../src/ml/testing';

/**
 * The enhancer's training path on tfjs-backend-webgpu in Node (Dawn; SwiftShader without a GPU):
 * the fused layers fall back from the wasm heap kernels to plain tf ops there, and must still give
 * PyTorch's gradients; repeated steps must hold tf.memory() flat and compile no new pipelines.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fx = path.join(ROOT, 'src/ml/enhancer/fixtures');

let skip: string | undefined;
let pipelines = 0;

beforeAll(async () => {
  const gpu = await prepareWebGPU();
  if (!gpu.ok) {
    skip = gpu.error;
    return;
  }
  await installNodeWebGPU();
  // Count pipeline compilations (the expensive part of a WebGPU step when shapes change).
  const proto = (globalThis as unknown as { GPUDevice: { prototype: Record<string, (...a: unknown[]) => unknown> } }).GPUDevice.prototype;
  for (const name of ['createComputePipeline', 'createComputePipelineAsync']) {
    const orig = proto[name];
    proto[name] = function (this: unknown, ...a: unknown[]) {
      pipelines++;
      return orig.apply(this, a);
    };
  }
  await useBackend('webgpu');
}, 180_000);

afterAll(() => {
  if (skip) console.warn(`webgpu training tests skipped: ${skip}`);
});

const maybe = (name: string, fn: () => Promise<void>, timeout: number) => it(name, async () => {
  if (skip) return;
  expect(tf.getBackend()).toBe('webgpu');
  await fn();
}, timeout);

describe('enhancer training on webgpu', () => {
  maybe('the fused layers run on plain tf ops there (no wasm heap kernels)', async () => {
    expect(heapKernelsAvailable()).toBe(false);
  }, 10_000);

  maybe('fused-layer gradients of the released RAVE network match PyTorch autograd (≤1e-4 relative)', async () => {
    interface Meta { input: { file: string; shape: [number, number, number, number] }; grad: { pth: string; padMode: PadMode; loss: number; grads: Record<string, { shape: number[]; values: number[] }> } }
    const meta = JSON.parse(readFileSync(path.join(fx, 'enhancer_reference.json'), 'utf8')) as Meta;
    const b = readFileSync(path.join(fx, meta.input.file));
    const input = tf.tensor4d(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), meta.input.shape);
    const net = EnhancerNet.fromStateDict(readPth(readFileSync(path.join(sharedDataDir, meta.grad.pth))));
    const { value, grads } = tf.variableGrads(() => {
      const { L, out } = net.forward(input, { padMode: meta.grad.padMode });
      return tf.add(tf.mean(tf.square(out)), tf.mean(L)) as tf.Scalar;
    }, net.trainableVariables());
    expect(Math.abs((await value.data())[0] - meta.grad.loss)).toBeLessThan(1e-5);
    for (const [name, want] of Object.entries(meta.grad.grads)) {
      const g = grads[net.weights.get(name)!.name];
      expect(g.shape, name).toEqual(want.shape);
      const got = await g.data();
      const scale = Math.max(...want.values.map(Math.abs));
      let m = 0;
      for (let i = 0; i < got.length; i++) m = Math.max(m, Math.abs(got[i] - want.values[i]));
      expect(m / scale, name).toBeLessThan(1e-4);
    }
    tf.dispose([input, value, ...Object.values(grads)]);
    net.dispose();
  }, 600_000);

  maybe('repeated training steps keep tf.memory() flat and compile no new pipelines after the first', async () => {
    const net = EnhancerNet.create(3);
    const opt = tf.train.adam(1e-3);
    const input = tf.randomUniform([1, 16, 16, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const loss = (r: { out: tf.Tensor4D; L: tf.Tensor4D }) => tf.add(tf.mean(tf.square(tf.sub(r.out, 0.6))), tf.mean(tf.abs(tf.sub(r.L, 0.8)))) as tf.Scalar;
    const step = async () => {
      const l = trainStepLazy(net, opt, input, loss, { weightDecay: 1e-3 });
      const v = (await l.data())[0];
      l.dispose();
      return v;
    };
    const first = await step(); // warm-up: compiles every pipeline, creates Adam's moments
    await step();
    const mem = tf.memory();
    const compiled = pipelines;
    let last = first;
    for (let i = 0; i < 3; i++) last = await step();
    expect(tf.memory().numTensors).toBe(mem.numTensors);
    expect(tf.memory().numBytes).toBe(mem.numBytes);
    expect(pipelines - compiled, 'pipelines compiled after warm-up').toBe(0);
    expect(Number.isFinite(last)).toBe(true);
    expect(last).toBeLessThan(first);
    input.dispose();
    opt.dispose();
    net.dispose();
  }, 600_000);

  maybe('tiled Enhance keeps its tiles on the device and equals the full pass (no seams)', async () => {
    const net = EnhancerNet.create(4);
    const image = tf.randomUniform([1, 44, 60, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
    const full = net.forward(image, { padMode: 'reflect' });
    const before = tf.memory().numTensors;
    const tiled = enhanceTiled(net, image, { tile: 32, halo: 24 }); // 2×2 tiles
    expect(tf.memory().numTensors).toBe(before + 2); // L and out only
    const [a, b] = await Promise.all([tiled.out.data(), full.out.data()]);
    let m = 0;
    for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
    expect(m).toBeLessThan(1e-4);
    tf.dispose([image, full.L, full.out, tiled.L, tiled.out]);
    net.dispose();
  }, 600_000);
});
