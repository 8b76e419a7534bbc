import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels } from '../kernels/wasmTraining';
import { readPth } from '../pth';
import { sharedDataDir, useTestBackend, maxAbsDiff } from '../testing';
import { adaptivePoolMatrix, EnhancerNet, upsampleMatrix, type PadMode } from './network';
import { trainStep } from './train';

const fx = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
interface Meta {
  input: { file: string; shape: [number, number, number, number] };
  cases: { pth: string; padMode: PadMode; tag: string; L: string; out: string }[];
  grad: { pth: string; padMode: PadMode; loss: number; grads: Record<string, { shape: number[]; values: number[] }> };
}
const meta = JSON.parse(readFileSync(path.join(fx, 'enhancer_reference.json'), 'utf8')) as Meta;
const bin = (f: string) => {
  const b = readFileSync(path.join(fx, f));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const load = (rel: string) => EnhancerNet.fromStateDict(readPth(readFileSync(path.join(sharedDataDir, rel))));

beforeAll(async () => {
  await useTestBackend('wasm');
  registerWasmTrainingKernels();
});

describe('EnhancerNet structure', () => {
  it('has the ~0.28 M parameters of METHODS.md and the checkpoint key names', () => {
    const net = EnhancerNet.create(1);
    expect(net.numParams).toBe(278_790);
    const keys = [...readPth(readFileSync(path.join(sharedDataDir, 'cliplit-weights/enhancement_model.pth'))).keys()].map((k) => k.replace(/^module\./, ''));
    expect([...net.weights.keys()].sort()).toEqual(keys.sort());
    net.dispose();
  });

  it('seeded init is reproducible and N(0, 0.02)', () => {
    const a = EnhancerNet.create(7);
    const b = EnhancerNet.create(7);
    const wa = a.weights.get('ResidualBlock3.conv1.weight')!.dataSync();
    expect(Array.from(wa)).toEqual(Array.from(b.weights.get('ResidualBlock3.conv1.weight')!.dataSync()));
    const std = Math.sqrt(Array.from(wa).reduce((s, v) => s + v * v, 0) / wa.length);
    expect(std).toBeGreaterThan(0.018);
    expect(std).toBeLessThan(0.022);
    a.dispose();
    b.dispose();
  });

  it('adaptive pool bins follow PyTorch (floor/ceil, overlapping when uneven)', () => {
    // n=5, b=3: bins [0,2), [1,4), [3,5)
    expect(Array.from(adaptivePoolMatrix(3, 5)).map((v) => +v.toFixed(4))).toEqual([0.5, 0.5, 0, 0, 0, 0, 0.3333, 0.3333, 0.3333, 0, 0, 0, 0, 0.5, 0.5]);
    // align_corners: 2 → 3 gives rows [1,0], [.5,.5], [0,1]
    expect(Array.from(upsampleMatrix(3, 2))).toEqual([1, 0, 0.5, 0.5, 0, 1]);
  });

  it('refuses a state_dict with a wrong shape, naming the key', () => {
    const sd = readPth(readFileSync(path.join(sharedDataDir, 'rave-weights/rave_unpaired.pth')));
    const t = sd.get('module.condx.bias')!;
    sd.set('module.condx.bias', { ...t, shape: [32], data: t.data.slice(0, 32) });
    expect(() => EnhancerNet.fromStateDict(sd)).toThrow(/'condx.bias' has shape \[32\], expected \[64\]/);
    sd.delete('module.condx.bias');
    expect(() => EnhancerNet.fromStateDict(sd)).toThrow(/missing 1 key\(s\): condx.bias/);
  });
});

describe('EnhancerNet matches the independent PyTorch reference (max abs ≤ 1e-4)', () => {
  const x = () => tf.tensor4d(bin(meta.input.file), meta.input.shape);
  for (const c of meta.cases) {
    it(`${c.tag} (${c.pth}, ${c.padMode} padding)`, () => {
      const net = load(c.pth);
      const input = x();
      const { L, out } = net.forward(input, { padMode: c.padMode });
      const wantL = bin(c.L);
      expect(Math.max(...wantL)).toBeGreaterThan(0.05); // the fixture is not degenerate
      expect(maxAbsDiff(L.dataSync(), wantL)).toBeLessThan(1e-4);
      expect(maxAbsDiff(out.dataSync(), bin(c.out))).toBeLessThan(1e-4);
      tf.dispose([input, L, out]);
      net.dispose();
    });
  }

  it('training-mode gradients of mean(out²)+mean(L) match PyTorch autograd (≤1e-4 relative)', () => {
    const net = load(meta.grad.pth);
    const input = x();
    const { value, grads } = tf.variableGrads(() => {
      const { L, out } = net.forward(input, { padMode: meta.grad.padMode });
      return tf.add(tf.mean(tf.square(out)), tf.mean(L)) as tf.Scalar;
    }, net.trainableVariables());
    expect(Math.abs(value.dataSync()[0] - meta.grad.loss)).toBeLessThan(1e-5);
    for (const [name, want] of Object.entries(meta.grad.grads)) {
      const g = grads[net.weights.get(name)!.name];
      expect(g.shape, name).toEqual(want.shape);
      const scale = Math.max(...want.values.map(Math.abs));
      expect(scale, name).toBeGreaterThan(0);
      expect(maxAbsDiff(g.dataSync(), want.values) / scale, name).toBeLessThan(1e-4);
    }
    tf.dispose([input, value, ...Object.values(grads)]);
    net.dispose();
  });
});

describe('EnhancerNet training', () => {
  it('trainStep lowers a loss and does not leak tensors', () => {
    const net = EnhancerNet.create(3);
    const opt = tf.train.adam(1e-4);
    const input = tf.randomUniform([2, 24, 20, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const loss = (r: { out: tf.Tensor4D; L: tf.Tensor4D }) => tf.mean(tf.square(tf.sub(r.L, 0.5))) as tf.Scalar;
    const first = trainStep(net, opt, input, loss, { weightDecay: 1e-3 });
    const before = tf.memory().numTensors;
    let last = first;
    for (let i = 0; i < 5; i++) last = trainStep(net, opt, input, loss, { weightDecay: 1e-3 });
    expect(tf.memory().numTensors).toBe(before);
    expect(last).toBeLessThan(first);
    input.dispose();
    opt.dispose();
    net.dispose();
  });
});

describe('micro-batched training', () => {
  it('accumulated gradients over 1-image chunks give the same update as the full batch', () => {
    const input = tf.randomUniform([3, 16, 18, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
    const loss = (r: { out: tf.Tensor4D; L: tf.Tensor4D }) => tf.add(tf.mean(tf.square(tf.sub(r.L, 0.5))), tf.mean(r.out)) as tf.Scalar;
    const run = (microBatch?: number) => {
      const net = EnhancerNet.create(4);
      const opt = tf.train.sgd(0.1);
      const v = trainStep(net, opt, input, loss, { microBatch, weightDecay: 1e-3 });
      const w = net.weights.get('ResidualBlock3.conv1.weight')!.dataSync().slice();
      opt.dispose();
      net.dispose();
      return { v, w };
    };
    const full = run();
    const before = tf.memory().numTensors;
    const micro = run(1);
    expect(tf.memory().numTensors).toBe(before);
    expect(Math.abs(micro.v - full.v)).toBeLessThan(1e-6);
    expect(maxAbsDiff(micro.w, full.w)).toBeLessThan(1e-6);
    input.dispose();
  });
});
