import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import biasCorrect from './biasCorrect';
import compare from './compare';
import exposure from './exposure';
import imageLoader from './imageLoader';
import joinBatches from './joinBatches';
import metrics from './metrics';
import output from './output';
import { collectHandles, collectTensors, type AnyNodeDefinition, type ImageBatchValue, type PortValues, type ResidualValue } from '../src/engine';
import { fakeContext } from '../src/engine/testing/build';
import { MemoryHost } from '../src/engine/testing/memoryHost';
import { STATS_FEATURE_NAMES, StatsEncoder } from '../src/ml/encoders/stats';
import { useTestBackend } from '../src/ml/testing';

/**
 * Tensor-leak checks for the nodes whose own tests had none (issue 15): each node runs outside the
 * executor (whose scope would hide a leak), on success and on failure; afterwards only the tensors
 * it returned may remain, and disposing those brings the count back.
 */
let stats: StatsEncoder;
beforeAll(async () => {
  await useTestBackend('wasm');
  stats = new StatsEncoder();
});
afterAll(() => stats.dispose());

const image = (name: string, value: number, h = 12, w = 16): ImageBatchValue['images'][number] => ({
  name,
  tensor: tf.tidy(() => tf.randomUniform([h, w, 3], 0, value, 'float32', 3)) as tf.Tensor3D,
});
const batch = (...images: ImageBatchValue['images']): ImageBatchValue => ({ kind: 'ImageBatch', images });

/** Runs `def` and returns how many tensors it left behind besides its outputs (0 = no leak). */
async function leaked(def: AnyNodeDefinition, inputs: PortValues, params: Record<string, unknown>, host = new MemoryHost()): Promise<number> {
  const before = tf.memory().numTensors;
  let outputs: PortValues | undefined;
  try {
    outputs = await def.run({ inputs, params: def.params.parse(params) as never, ctx: fakeContext(host, def.type) });
  } catch {
    /* failures must not leak either */
  }
  const handles = outputs ? collectHandles(outputs) : [];
  for (const h of handles) h.dispose();
  const own = outputs ? [...collectTensors(outputs)].filter((t) => !t.isDisposed) : [];
  // Outputs may pass input tensors through; only tensors the node made count.
  const given = collectTensors(inputs);
  const made = own.filter((t) => !given.has(t));
  const after = tf.memory().numTensors - made.length;
  tf.dispose(made);
  return after - before;
}

describe('nodes leak no tensors (success and failure)', () => {
  it('Exposure', async () => {
    const b = batch(image('a.png', 0.5), image('b.png', 0.9));
    expect(await leaked(exposure, { images: b }, { stops: 1, gamma: 1.4 })).toBe(0);
    tf.dispose(b.images.map((i) => i.tensor));
  });

  it('Join Batches', async () => {
    const a = batch(image('a.png', 0.5), image('b.png', 0.9));
    expect(await leaked(joinBatches, { a, b: a }, {})).toBe(0);
    expect(await leaked(joinBatches, { a, b: a }, { onDuplicate: 'error' })).toBe(0); // fails: every name clashes
    tf.dispose(a.images.map((i) => i.tensor));
  });

  it('Output', async () => {
    const b = batch(image('a.png', 0.5));
    expect(await leaked(output, { images: b }, {})).toBe(0);
    tf.dispose(b.images.map((i) => i.tensor));
  });

  it('Image Loader (with a good, a bad and a huge file)', async () => {
    const host = new MemoryHost();
    host.addImage('in/a.raw', 8, 6, () => [200, 100, 50]);
    host.addFile('in/bad.raw', new Uint8Array([1, 2, 3]));
    host.addImage('in/c.raw', 40, 30, () => [10, 20, 30]);
    expect(await leaked(imageLoader, {}, { source: 'in/*', maxSide: 16 }, host)).toBe(0);
    expect(await leaked(imageLoader, {}, { source: 'in/bad.raw' }, host)).toBe(0); // fails: nothing readable
  });

  it('Compare', async () => {
    const input = batch(image('a.png', 0.3), image('b.png', 0.4));
    const a = batch(image('a.png', 0.7), image('b.png', 0.8));
    expect(await leaked(compare, { input, a, groundTruth: a }, { cellSize: 48 })).toBe(0);
    expect(await leaked(compare, { input, a: batch(image('zzz.png', 0.5)) }, { cellSize: 48 })).toBe(0);
    tf.dispose([...input.images, ...a.images].map((i) => i.tensor));
  });

  it('Metrics', async () => {
    const images = batch(image('a.png', 0.7), image('b.png', 0.8));
    const truth = batch(image('a.png', 0.6), image('b.png', 0.9));
    expect(await leaked(metrics, { images, groundTruth: truth, before: truth }, {})).toBe(0);
    expect(await leaked(metrics, { images, groundTruth: batch(image('other.png', 0.5)) }, {})).toBe(0);
    tf.dispose([...images.images, ...truth.images].map((i) => i.tensor));
  });

  it('Bias Correct', async () => {
    const n = STATS_FEATURE_NAMES.length;
    const r = tf.tidy(() => tf.randomNormal([n], 0, 1, 'float32', 7).div(10)) as tf.Tensor1D;
    const residual: ResidualValue = { kind: 'Residual', space: stats.space, r, vPos: tf.ones([n]) as tf.Tensor1D, vNeg: tf.zeros([n]) as tf.Tensor1D, thr: 0.2 };
    expect(await leaked(biasCorrect, { encoder: stats, residual }, { method: 'concepts', vocabulary: 'features', concepts: 'mean_r' })).toBe(0);
    expect(await leaked(biasCorrect, { encoder: stats, residual }, { method: 'concepts', vocabulary: 'features', concepts: 'no such concept' })).toBe(0);
    tf.dispose([r, residual.vPos, residual.vNeg]);
  });
});
