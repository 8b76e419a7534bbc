import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { StatsEncoder } from '../encoders/stats';
import { EnhancerNet, parameterSpecs } from '../enhancer/network';
import { sharedDataDir, useTestBackend, maxAbsDiff } from '../testing';
import { OPTIMIZER_PREFIX, decodeEnhancer, decodeEnhancerTfjs, encodeEnhancer, encodeEnhancerTfjs, type TrainingState } from './enhancerFiles';
import { trainEnhancer, type EnhancerTrainingConfig } from './enhancerTraining';
import { residualGuidance } from './guidance';

beforeAll(async () => {
  await useTestBackend('wasm');
});

const fx = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../enhancer/fixtures');
const bin = (f: string) => {
  const b = readFileSync(path.join(fx, f));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

/** Every parameter of `b` bit-identical to `a`'s. */
function expectSameWeights(a: EnhancerNet, b: EnhancerNet): void {
  const sa = a.stateDict();
  const sb = b.stateDict();
  expect([...sb.keys()]).toEqual([...sa.keys()]);
  for (const [k, t] of sa) {
    expect(sb.get(k)!.shape, k).toEqual(t.shape);
    expect(Buffer.from(sb.get(k)!.data.buffer).equals(Buffer.from(t.data.buffer)), k).toBe(true);
  }
}

function forwardOut(net: EnhancerNet, x: tf.Tensor4D): Float32Array {
  return tf.tidy(() => net.forward(x, { padMode: 'reflect' }).out.dataSync() as Float32Array);
}

const CONFIG: EnhancerTrainingConfig = {
  iterations: 3,
  warmupIterations: 1,
  lr: 1e-3,
  weightDecay: 1e-3,
  batchSize: 2,
  imageSize: 16,
  guidanceWeight: 20,
  identityWeight: 22.5,
  pixelWeight: 0,
  augment: true,
  seed: 4,
  checkpointEvery: 0,
  microBatch: 2,
};

describe('encodeEnhancer / decodeEnhancer (safetensors)', () => {
  it('round-trips weights bit-exactly and the training state (step, metadata, every Adam moment)', async () => {
    const net = EnhancerNet.create(3);
    const encoder = new StatsEncoder({ workingSize: 16 });
    const r = tf.tidy(() => tf.div(tf.range(1, encoder.dim + 1), tf.norm(tf.range(1, encoder.dim + 1))) as tf.Tensor1D);
    const inputs = [1, 2, 3].map((s) => tf.randomUniform([16, 16, 3], 0, 1, 'float32', s) as tf.Tensor3D);
    let saved: { step: number; optimizer: TrainingState['optimizer'] } | undefined;
    await trainEnhancer(net, encoder, residualGuidance(r, 0.5, encoder.space), { inputs }, CONFIG, { saveCheckpoint: async (s) => void (saved = s) });
    expect(saved!.step).toBe(3);
    const adam = saved!.optimizer!;
    // Adam's step counter plus m and v for every parameter, under names without the per-instance prefix.
    expect(adam.size).toBe(1 + 2 * parameterSpecs().length);
    expect(adam.has('cond1.weight/m') && adam.has('PPM1.fuse.1.weight/v')).toBe(true);
    expect([...adam.keys()].some((k) => /^enhancer\d+\//.test(k))).toBe(false);

    const bytes = encodeEnhancer(net, { step: saved!.step, optimizer: adam, metadata: { run: 'abc123', iterations: '3' } });
    const decoded = decodeEnhancer('ckpt.safetensors', bytes);
    expectSameWeights(net, decoded.net);
    expect(decoded.state).toBeDefined();
    expect(decoded.state!.step).toBe(3);
    expect(decoded.state!.metadata).toMatchObject({ run: 'abc123', iterations: '3', format: 'backlit-enhancer', step: '3' });
    expect([...decoded.state!.optimizer!.keys()].sort()).toEqual([...adam.keys()].sort());
    for (const [k, t] of adam) {
      const back = decoded.state!.optimizer!.get(k)!;
      expect(back.shape, k).toEqual(t.shape);
      // Exact float32 values (Adam's step counter comes out of tfjs as int32 and is stored as F32).
      expect(back.data).toBeInstanceOf(Float32Array);
      expect(Array.from(back.data), k).toEqual(Array.from(t.data));
    }
    // The moments are real (not all zero) and the step counter is 3.
    expect(Math.max(...Array.from(adam.get('cond1.weight/v')!.data))).toBeGreaterThan(0);
    expect(Array.from(adam.get('iter')?.data ?? [NaN])).toEqual([3]);
    tf.dispose([r, ...inputs]);
    encoder.dispose();
    net.dispose();
    decoded.net.dispose();
  });

  it('plain weights (no state) decode with state undefined; the file carries PyTorch names, no optimizer tensors', () => {
    const net = EnhancerNet.create(5);
    const bytes = encodeEnhancer(net);
    const decoded = decodeEnhancer('w.safetensors', bytes);
    expectSameWeights(net, decoded.net);
    expect(decoded.state).toBeUndefined();
    // safetensors header: 8-byte length, then JSON with the tensor names.
    const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
    expect(Object.keys(header)).toContain('cond1.weight');
    expect(Object.keys(header).some((k) => k.startsWith(OPTIMIZER_PREFIX))).toBe(false);
    // PyTorch layout (OIHW): cond1 is [32, 3, 3, 3].
    expect(header['cond1.weight'].shape).toEqual([32, 3, 3, 3]);
    net.dispose();
    decoded.net.dispose();
  });

  it('an unknown extension fails with a message naming the accepted types', () => {
    expect(() => decodeEnhancer('weights.onnx', new Uint8Array(8))).toThrow(/\.safetensors.*\.pth.*model\.json/);
  });
});

describe('tfjs export (model.json + weights.bin)', () => {
  it('round-trips to identical weights and an identical forward output', async () => {
    const net = EnhancerNet.create(7);
    const { modelJson, weightsBin } = await encodeEnhancerTfjs(net);
    const manifest = JSON.parse(modelJson);
    expect(manifest.weightsManifest[0].paths).toEqual(['weights.bin']);
    expect(manifest.weightsManifest[0].weights).toHaveLength(parameterSpecs().length);
    const back = decodeEnhancerTfjs(modelJson, weightsBin);
    expectSameWeights(net, back);
    const x = tf.randomUniform([1, 20, 28, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
    expect(maxAbsDiff(forwardOut(back, x), forwardOut(net, x))).toBe(0);
    // weights.bin inside a bigger buffer (as a file read often is) decodes the same.
    const padded = new Uint8Array(weightsBin.byteLength + 16);
    padded.set(weightsBin, 8);
    const offset = decodeEnhancerTfjs(modelJson, padded.subarray(8, 8 + weightsBin.byteLength));
    expectSameWeights(net, offset);
    tf.dispose(x);
    [net, back, offset].forEach((n) => n.dispose());
  });

  it('a model.json without a weights manifest fails clearly', () => {
    expect(() => decodeEnhancerTfjs('{"format":"x"}', new Uint8Array(4))).toThrow(/weightsManifest/);
  });
});

describe('released RAVE weights (.pth)', () => {
  it('rave_unpaired.pth loads through decodeEnhancer and matches the PyTorch reference output; re-exports losslessly', async () => {
    const bytes = new Uint8Array(readFileSync(path.join(sharedDataDir, 'rave-weights/rave_unpaired.pth')));
    const { net, state } = decodeEnhancer('rave_unpaired.pth', bytes);
    expect(state).toBeUndefined();
    const meta = JSON.parse(readFileSync(path.join(fx, 'enhancer_reference.json'), 'utf8')) as {
      input: { file: string; shape: [number, number, number, number] };
      cases: Array<{ tag: string; out: string; padMode: string }>;
    };
    const ref = meta.cases.find((c) => c.tag === 'rave_unpaired')!;
    expect(ref.padMode).toBe('reflect');
    const x = tf.tensor4d(bin(meta.input.file), meta.input.shape);
    const out = forwardOut(net, x);
    expect(maxAbsDiff(out, bin(ref.out))).toBeLessThan(1e-4);
    // Our formats carry the released weights unchanged.
    const viaSafetensors = decodeEnhancer('rave.safetensors', encodeEnhancer(net)).net;
    const tfjs = await encodeEnhancerTfjs(net);
    const viaTfjs = decodeEnhancerTfjs(tfjs.modelJson, tfjs.weightsBin);
    expect(maxAbsDiff(forwardOut(viaSafetensors, x), out)).toBe(0);
    expect(maxAbsDiff(forwardOut(viaTfjs, x), out)).toBe(0);
    tf.dispose(x);
    [net, viaSafetensors, viaTfjs].forEach((n) => n.dispose());
  });
});
