import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import encodeImages from './encodeImages';
import { BacklitError, type EmbeddingsValue, type ImageBatchValue } from '../src/engine';
import { MemoryHost } from '../src/engine/testing/memoryHost';
import { fakeContext } from '../src/engine/testing/build';
import { ClipEncoder } from '../src/ml/clip/encoder';
import type { ImageEncoder } from '../src/ml/encoder';
import { StatsEncoder } from '../src/ml/encoders/stats';
import { sharedDataDir, useTestBackend } from '../src/ml/testing';

const tinyDir = path.join(sharedDataDir, 'tiny-clip');

let clip: ClipEncoder;
let stats: StatsEncoder;
beforeAll(async () => {
  await useTestBackend('wasm');
  clip = ClipEncoder.fromBytes({ config: readFileSync(path.join(tinyDir, 'config.json'), 'utf8'), weights: readFileSync(path.join(tinyDir, 'model.safetensors')) }, { name: 'tiny-clip' });
  stats = new StatsEncoder();
});
afterAll(() => {
  clip?.dispose();
  stats?.dispose();
});

/** A deterministic [H,W,3] image in 0..1 with structure (gradients + a bright blob), different per seed. */
function picture(h: number, w: number, seed: number): tf.Tensor3D {
  return tf.tidy(() => {
    const ys = tf.linspace(0, 1, h).reshape([h, 1, 1]);
    const xs = tf.linspace(0, 1, w).reshape([1, w, 1]);
    const phase = tf.tensor1d([0, 1, 2].map((c) => c + seed)).reshape([1, 1, 3]);
    const waves = tf.sin(xs.mul(3 + seed).add(ys.mul(2)).add(phase)).mul(0.3).add(0.5);
    const blob = tf.exp(xs.sub(0.3).square().add(ys.sub(0.6).square()).mul(-20)).mul(0.4);
    return waves.add(blob).clipByValue(0, 1) as tf.Tensor3D;
  });
}

function batchOf(...images: Array<[string, tf.Tensor3D]>): ImageBatchValue {
  return { kind: 'ImageBatch', images: images.map(([name, tensor]) => ({ name, tensor })) };
}

async function encode(batch: ImageBatchValue, encoder: ImageEncoder, preprocess: 'dataset' | 'loss' = 'dataset') {
  const ctx = fakeContext(new MemoryHost(), 'emb');
  const out = await encodeImages.run({ inputs: { images: batch, encoder }, params: encodeImages.params.parse({ preprocess }), ctx });
  return { value: out.embeddings as EmbeddingsValue, ctx };
}

function rows(t: tf.Tensor2D): number[][] {
  return t.arraySync();
}

describe('encode-images node', () => {
  for (const which of ['stats', 'clip'] as const) {
    it(`${which}: [N,D] unit rows in the encoder's space, names kept, equal to encoder.encodeImages of the batch`, async () => {
      const encoder = which === 'clip' ? clip : stats;
      const images = [0, 1, 2].map((s) => picture(40, 56, s));
      const batch = batchOf(['b.png', images[0]], ['a.png', images[1]], ['c.jpg', images[2]]);
      const before = tf.memory().numTensors;
      const { value, ctx } = await encode(batch, encoder);
      expect(tf.memory().numTensors).toBe(before + 1); // just the output; per-image rows were freed
      expect(value.kind).toBe('Embeddings');
      expect(value.space).toBe(encoder.space);
      expect(value.names).toEqual(['b.png', 'a.png', 'c.jpg']); // input order, not sorted
      expect(value.tensor.shape).toEqual([3, encoder.dim]);
      const got = rows(value.tensor);
      for (const row of got) expect(Math.hypot(...row)).toBeCloseTo(1, 5);
      // The same numbers as one batched call (same-size images).
      const direct = tf.tidy(() => encoder.encodeImages(tf.stack(images) as tf.Tensor4D, 'dataset'));
      const want = rows(direct);
      got.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(want[i][j], 5)));
      // Different images really give different embeddings (the test would pass vacuously otherwise).
      expect(Math.abs(got[0].reduce((s, v, j) => s + v * got[1][j], 0))).toBeLessThan(0.9999);
      expect(ctx.steps.at(-1)).toEqual([3, 3]);
      tf.dispose([direct, value.tensor, ...images]);
    });
  }

  it('encodes images of different sizes in one batch, each as encoder.encodeImages alone would', async () => {
    const shapes: Array<[number, number]> = [[30, 50], [64, 20], [17, 17]];
    const images = shapes.map(([h, w], i) => picture(h, w, i + 3));
    const batch = batchOf(['wide', images[0]], ['tall', images[1]], ['square', images[2]]);
    for (const encoder of [clip, stats]) {
      for (const mode of ['dataset', 'loss'] as const) {
        const { value } = await encode(batch, encoder, mode);
        expect(value.tensor.shape).toEqual([3, encoder.dim]);
        expect(value.names).toEqual(['wide', 'tall', 'square']);
        const got = rows(value.tensor);
        for (let i = 0; i < images.length; i++) {
          const one = tf.tidy(() => encoder.encodeImages(images[i].expandDims(0) as tf.Tensor4D, mode));
          const want = rows(one)[0];
          one.dispose();
          expect(Math.hypot(...got[i])).toBeCloseTo(1, 5);
          want.forEach((v, j) => expect(got[i][j]).toBeCloseTo(v, 5));
        }
        value.tensor.dispose();
      }
    }
    tf.dispose(images);
  });

  it('"loss" and "dataset" preprocessing differ on a non-square image (crop vs whole image)', async () => {
    const img = picture(24, 80, 1);
    const batch = batchOf(['wide', img]);
    const a = (await encode(batch, stats, 'dataset')).value.tensor;
    const b = (await encode(batch, stats, 'loss')).value.tensor;
    const diff = (await tf.max(tf.abs(tf.sub(a, b))).data())[0];
    expect(diff).toBeGreaterThan(1e-3);
    tf.dispose([a, b, img]);
  });

  it('stops with a cancellation error, leaking nothing, when the run is cancelled', async () => {
    const images = [picture(20, 20, 0), picture(20, 20, 1)];
    const ctx = fakeContext(new MemoryHost(), 'emb');
    ctx.throwIfCancelled = () => {
      throw new BacklitError({ code: 'cancelled', message: 'The run was cancelled.', fix: '' });
    };
    const before = tf.memory().numTensors;
    await expect(encodeImages.run({ inputs: { images: batchOf(['a', images[0]], ['b', images[1]]), encoder: stats }, params: { preprocess: 'dataset' }, ctx })).rejects.toThrow(/cancelled/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(images);
  });
});
