import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestBackend } from '../testing';
import { STATS_FEATURE_NAMES, StatsEncoder } from './stats';

let encoder: StatsEncoder;
beforeAll(async () => {
  await useTestBackend('wasm');
  encoder = new StatsEncoder();
});
afterAll(() => encoder?.dispose());

const feature = (name: string) => STATS_FEATURE_NAMES.indexOf(name);

describe('StatsEncoder (stats:v1)', () => {
  it('returns unit-norm [N, 37] embeddings in both modes, without leaking', () => {
    const images = tf.randomUniform([3, 40, 60, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    for (const mode of ['loss', 'dataset'] as const) {
      const e = encoder.encodeImages(images, mode);
      expect(e.shape).toEqual([3, 37]);
      const norms = tf.tidy(() => e.square().sum(-1).sqrt().dataSync());
      for (const n of norms) expect(n).toBeCloseTo(1, 5);
      e.dispose();
    }
    tf.dispose(encoder.imageFeatures(images));
    expect(tf.memory().numTensors).toBe(before);
    expect(encoder.dim).toBe(37);
    expect(encoder.space).toBe('stats:v1');
    images.dispose();
  });

  it('raw features are right on a constant image', () => {
    const grey = tf.fill([1, 128, 128, 3], 0.5) as tf.Tensor4D;
    const raw = encoder.rawFeatures(grey).dataSync();
    expect(raw[feature('mean_g')]).toBeCloseTo(0.5, 5);
    expect(raw[feature('std_r')]).toBeLessThan(2e-3); // sqrt(eps) floor
    expect(raw[feature('local_contrast_s2')]).toBeLessThan(2e-3);
    expect(raw[feature('highlight_fraction')]).toBeLessThan(1e-6);
    // Luminance 0.5 sits on the edge of bins 7 and 8: they share most of the mass equally.
    expect(raw[feature('luma_hist_7')]).toBeCloseTo(raw[feature('luma_hist_8')], 5);
    expect(raw[feature('luma_hist_7')] + raw[feature('luma_hist_8')]).toBeGreaterThan(0.7);
    grey.dispose();
  });

  it('darkening moves the embedding consistently (mean luminance down, shadows up)', () => {
    const images = tf.randomUniform([4, 48, 64, 3], 0.2, 1, 'float32', 2) as tf.Tensor4D;
    const [bright, dark, shifts] = tf.tidy(() => {
      const b = encoder.features(images, 'loss');
      const d = encoder.features(tf.mul(images, 0.4) as tf.Tensor4D, 'loss');
      const eb = encoder.encodeImages(images, 'loss');
      const ed = encoder.encodeImages(tf.mul(images, 0.4) as tf.Tensor4D, 'loss');
      return [b, d, tf.sub(ed, eb)];
    });
    const b = bright.arraySync();
    const d = dark.arraySync();
    for (let i = 0; i < 4; i++) {
      expect(d[i][feature('mean_r')]).toBeLessThan(b[i][feature('mean_r')]);
      expect(d[i][feature('shadow_fraction')]).toBeGreaterThan(b[i][feature('shadow_fraction')]);
    }
    // The embedding shifts of different images point the same way.
    const s = shifts.arraySync();
    const cos = (a: number[], c: number[]) => a.reduce((acc, x, k) => acc + x * c[k], 0) / Math.hypot(...a) / Math.hypot(...c);
    for (let i = 1; i < 4; i++) expect(cos(s[0], s[i])).toBeGreaterThan(0.8);
    tf.dispose([images, bright, dark, shifts]);
  });

  it('gradients match central finite differences on wasm', () => {
    const small = new StatsEncoder({ workingSize: 16 });
    const images = tf.randomUniform([1, 16, 16, 3], 0.15, 0.85, 'float32', 3);
    const v = tf.randomNormal([37], 0, 1, 'float32', 4);
    const scalar = (x: tf.Tensor) => tf.sum(tf.mul(small.encodeImages(x as tf.Tensor4D, 'loss'), v)) as tf.Scalar;
    const grad = tf.grad(scalar)(images);
    const analytic = grad.dataSync();
    const base = images.dataSync().slice();
    // Small eps: the sigmoid thresholds (softness 0.02) curve too fast for 1e-2 differences.
    const eps = 2e-3;
    let nonTrivial = 0;
    for (const i of [0, 100, 301, 402, 555, 700]) {
      const at = (delta: number) => {
        const shifted = base.slice();
        shifted[i] += delta;
        return tf.tidy(() => scalar(tf.tensor(shifted, images.shape)).dataSync()[0]);
      };
      const numeric = (at(eps) - at(-eps)) / (2 * eps);
      if (Math.abs(numeric) > 1e-3) nonTrivial++;
      expect(Math.abs(analytic[i] - numeric), `index ${i}: ${analytic[i]} vs ${numeric}`).toBeLessThanOrEqual(3e-4 + 0.05 * Math.abs(numeric));
    }
    expect(nonTrivial).toBeGreaterThan(2);
    tf.dispose([images, v, grad]);
    small.dispose();
  });

  it('imageFeatures: luminance and three blurs at the working size', () => {
    const images = tf.randomUniform([2, 30, 20, 3]) as tf.Tensor4D;
    const maps = encoder.imageFeatures(images);
    expect(maps.map((m) => m.shape)).toEqual(Array(4).fill([2, 128, 128, 1]));
    tf.dispose([...maps, images]);
  });
});
