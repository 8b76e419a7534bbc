import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import exposure from './exposure';
import imageLoader from './imageLoader';
import output from './output';
import { Executor, NodeRegistry, type AnyNodeDefinition, type ImageBatchValue } from '../src/engine';
import { MemoryHost, pixelAt } from '../src/engine/testing/memoryHost';
import { fakeContext, graph, node, wire } from '../src/engine/testing/build';
import { useTestBackend } from '../src/ml/testing';

const registry = new NodeRegistry([imageLoader, exposure, output] as AnyNodeDefinition[]);

beforeAll(async () => {
  await useTestBackend('wasm');
});

async function runExposure(values: number[], params: { stops: number; gamma: number }): Promise<number[]> {
  const input = tf.tensor3d(values, [1, values.length / 3, 3]);
  const batch: ImageBatchValue = { kind: 'ImageBatch', images: [{ name: 'p.raw', tensor: input }] };
  const out = await exposure.run({ inputs: { images: batch }, params, ctx: fakeContext(new MemoryHost()) });
  const result = out.images as ImageBatchValue;
  expect(result.images[0].name).toBe('p.raw');
  expect(result.images[0].tensor.shape).toEqual([1, values.length / 3, 3]);
  const data = Array.from(await result.images[0].tensor.data());
  expect(Array.from(await input.data())).toEqual(Array.from(new Float32Array(values))); // input untouched
  tf.dispose([input, result.images[0].tensor]);
  return data;
}

describe('exposure node', () => {
  it('multiplies by 2^stops, clamps, then applies 1/gamma (hand-computed pixel)', async () => {
    // stops +1: 0.2→0.4, 0.6→1.2→1 (clamped), 0.05→0.1; gamma 2: square roots.
    const out = await runExposure([0.2, 0.6, 0.05], { stops: 1, gamma: 2 });
    expect(out[0]).toBeCloseTo(0.632456, 5);
    expect(out[1]).toBeCloseTo(1, 6);
    expect(out[2]).toBeCloseTo(0.316228, 5);
  });

  it('darkens with negative stops and is the identity at stops 0, gamma 1', async () => {
    const dark = await runExposure([0.2, 0.6, 0.05], { stops: -1, gamma: 1 });
    [0.1, 0.3, 0.025].forEach((v, i) => expect(dark[i]).toBeCloseTo(v, 6));
    const same = await runExposure([0, 0.5, 1], { stops: 0, gamma: 1 });
    [0, 0.5, 1].forEach((v, i) => expect(same[i]).toBeCloseTo(v, 6));
  });

  it('end to end on 8-bit pixels: (64,128,16) at +1 stop, gamma 2 → (181,255,90)', async () => {
    const host = new MemoryHost().addImage('in/p.raw', 2, 1, () => [64, 128, 16]);
    const ex = new Executor(registry, host);
    const summary = await ex.run(
      graph([node('load', 'image-loader', { source: 'in/p.raw' }), node('exp', 'exposure', { stops: 1, gamma: 2 }), node('save', 'output')], [wire('load.images', 'exp.images'), wire('exp.images', 'save.images')]),
    );
    expect(summary.ok).toBe(true);
    // 64/255·2 = 0.50196, √ = 0.70849 → 180.67 → 181; 128/255·2 > 1 → 255; 16/255·2 = 0.12549, √ = 0.35425 → 90.33 → 90.
    expect(pixelAt(host.readWritten('p.png'), 1, 0)).toEqual([181, 255, 90, 255]);
    ex.dispose();
  });

  it('migrates the v0 param "ev" to "stops" and leaves other params alone', () => {
    const [up] = exposure.migrations!;
    expect(up({ ev: 3, gamma: 2 })).toEqual({ stops: 3, gamma: 2 });
    expect(up({ stops: 1, gamma: 2 })).toEqual({ stops: 1, gamma: 2 });
  });

  it('refuses out-of-range params', () => {
    expect(exposure.params.safeParse({ stops: 9 }).success).toBe(false);
    expect(exposure.params.safeParse({ gamma: 0 }).success).toBe(false);
    expect(exposure.params.parse({})).toEqual({ stops: 1, gamma: 1 });
  });
});
