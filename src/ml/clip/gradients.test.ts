import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedDataDir, useTestBackend } from '../testing';
import { ClipEncoder } from './encoder';

const tinyDir = path.join(sharedDataDir, 'tiny-clip');
let clip: ClipEncoder;

beforeAll(async () => {
  await useTestBackend('wasm');
  clip = ClipEncoder.fromBytes({ config: readFileSync(path.join(tinyDir, 'config.json'), 'utf8'), weights: readFileSync(path.join(tinyDir, 'model.safetensors')) }, { name: 'tiny-clip' });
});
afterAll(() => clip?.dispose());

/**
 * Central differences of a float32 scalar function at a few flat indices. eps = 1e-2 balances
 * float32 rounding (~1e-7·|f|/eps) against curvature error (~eps²).
 */
function finiteDifferences(f: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor, indices: number[], eps = 1e-2): number[] {
  const base = x.dataSync().slice();
  return indices.map((i) => {
    const at = (delta: number) => {
      const shifted = base.slice();
      shifted[i] += delta;
      return tf.tidy(() => f(tf.tensor(shifted, x.shape)).dataSync()[0]);
    };
    return (at(eps) - at(-eps)) / (2 * eps);
  });
}

function expectGradientsClose(analytic: Float32Array | Int32Array | Uint8Array, numeric: number[], indices: number[]): void {
  indices.forEach((i, k) => {
    const tolerance = 2e-3 + 0.03 * Math.abs(numeric[k]);
    expect(Math.abs(analytic[i] - numeric[k]), `index ${i}: analytic ${analytic[i]} vs numeric ${numeric[k]}`).toBeLessThanOrEqual(tolerance);
  });
}

describe('tiny CLIP gradients vs central finite differences (wasm)', () => {
  const direction = () => tf.tensor1d([0.3, -0.2, 0.5, 0.1, -0.4, 0.25, -0.15, 0.35]);

  for (const mode of ['loss', 'dataset'] as const) {
    it(`d⟨E(x), v⟩/dx w.r.t. pixels (${mode} preprocessing)`, () => {
      const images = tf.randomUniform([1, 20, 26, 3], 0.1, 0.9, 'float32', 11);
      const v = direction();
      const scalar = (x: tf.Tensor) => tf.sum(tf.mul(clip.encodeImages(x as tf.Tensor4D, mode), v)) as tf.Scalar;
      const before = tf.memory().numTensors;
      const grad = tf.grad(scalar)(images);
      const analytic = grad.dataSync();
      const indices = [5, 211, 777, 1200, 1500];
      const numeric = finiteDifferences(scalar, images, indices);
      expect(numeric.some((g) => Math.abs(g) > 1e-3)).toBe(true); // the check is not vacuous
      expectGradientsClose(analytic, numeric, indices);
      grad.dispose();
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([images, v]);
    });
  }

  it('d⟨T(e), v⟩/de w.r.t. raw token embeddings (prompt-learning path)', () => {
    const tokenEmbeds = tf.randomNormal([2, 8, 16], 0, 0.5, 'float32', 5);
    const eot = [4, 7];
    const v = direction();
    const scalar = (e: tf.Tensor) => tf.sum(tf.mul(clip.encodeTokenEmbeddings(e as tf.Tensor3D, eot), v)) as tf.Scalar;
    const grad = tf.grad(scalar)(tokenEmbeds);
    const analytic = grad.dataSync();
    // Positions after the eot token cannot influence the pooled output (causal mask): zero gradient.
    const afterEot = 0 * 8 * 16 + 6 * 16 + 3; // sequence 0, position 6 > eot 4
    expect(analytic[afterEot]).toBe(0);
    const indices = [3, 40, 70, 130, 200, 250];
    const numeric = finiteDifferences(scalar, tokenEmbeds, indices);
    expect(numeric.some((g) => Math.abs(g) > 1e-3)).toBe(true);
    expectGradientsClose(analytic, numeric, indices);
    tf.dispose([grad, tokenEmbeds, v]);
  });

  it('token-embedding path equals the id path when fed the embedded ids', () => {
    const ids = [[0, 7, 23, 11, 32, 5, 9, 3]];
    const [fromIds, fromEmbeds] = tf.tidy(() => [clip.encodeTokenIds(ids), clip.encodeTokenEmbeddings(clip.model.embedTokens(ids), [4])]);
    const a = fromIds.dataSync();
    const b = fromEmbeds.dataSync();
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i], 6);
    tf.dispose([fromIds, fromEmbeds]);
  });
});
