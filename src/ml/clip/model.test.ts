import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedDataDir, useTestBackend } from '../testing';
import { ClipEncoder } from './encoder';
import { activation } from './model';

const tinyDir = path.join(sharedDataDir, 'tiny-clip');
interface TinyEmbeds {
  text_sequences: number[][];
  pixels: number[][][];
  text_embeds: number[][];
  image_embeds: number[][];
  logit_scale: number;
  logits_per_image: number[][];
  vision_features: number[][];
}
const ref = JSON.parse(readFileSync(path.join(tinyDir, 'tiny_clip_embeds.json'), 'utf8')) as TinyEmbeds;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** The fixture's pixels are CHW, already normalised; the model takes NHWC. */
function fixturePixels(): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor3d(ref.pixels), [1, 2, 0]).expandDims(0) as tf.Tensor4D);
}

let clip: ClipEncoder;
beforeAll(async () => {
  await useTestBackend('wasm');
  clip = ClipEncoder.fromBytes({ config: readFileSync(path.join(tinyDir, 'config.json'), 'utf8'), weights: readFileSync(path.join(tinyDir, 'model.safetensors')) }, { name: 'tiny-clip' });
});
afterAll(() => clip?.dispose());

describe('tiny CLIP vs HF float64 reference (tiny_clip_embeds.json)', () => {
  it('image embeds (unnormalised projection) match to 1e-4', () => {
    const out = tf.tidy(() => clip.model.vision(fixturePixels()).embeds);
    expect(maxAbsDiff(out.dataSync(), ref.image_embeds.flat())).toBeLessThanOrEqual(1e-4);
    out.dispose();
  });

  it('vision_features are the patch tokens of hidden_states[-2] (penultimate layer)', () => {
    // Probed: they match hiddenStates[1] of 3 (layer 0 output), not the last state or the conv output.
    const out = tf.tidy(() => {
      const states = clip.model.vision(fixturePixels()).hiddenStates;
      return states[states.length - 2].slice([0, 1, 0], [1, 4, 16]);
    });
    expect(maxAbsDiff(out.dataSync(), ref.vision_features.flat())).toBeLessThanOrEqual(1e-4);
    out.dispose();
  });

  it('text embeds match to 1e-4 (argmax pooling: eos_token_id is 2)', () => {
    expect(clip.model.eotPositions(ref.text_sequences)).toEqual([4, 7]);
    const out = tf.tidy(() => clip.model.text(ref.text_sequences).embeds);
    expect(maxAbsDiff(out.dataSync(), ref.text_embeds.flat())).toBeLessThanOrEqual(1e-4);
    out.dispose();
  });

  it('logit scale and logits_per_image match', () => {
    expect(clip.logitScale).toBeCloseTo(Math.exp(ref.logit_scale), 5);
    const logits = tf.tidy(() => tf.matMul(clip.encodePixelValues(fixturePixels()), clip.encodeTokenIds(ref.text_sequences), false, true).mul(clip.logitScale));
    expect(maxAbsDiff(logits.dataSync(), ref.logits_per_image.flat())).toBeLessThanOrEqual(1e-4);
    logits.dispose();
  });

  it('encoders return unit-norm rows and leak no tensors', () => {
    const pixels = fixturePixels();
    const images = tf.randomUniform([2, 20, 24, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const e = clip.encodeImages(images, 'dataset');
      const norms = tf.tidy(() => e.square().sum(-1).sqrt());
      for (const n of norms.dataSync()) expect(n).toBeCloseTo(1, 5);
      tf.dispose([e, norms]);
      clip.encodeImages(images, 'loss').dispose();
      clip.encodeTokenIds(ref.text_sequences).dispose();
      tf.dispose(clip.imageFeatures(images));
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([pixels, images]);
  });

  it('embedTokens (text prompts start from it) leaks no tensors', () => {
    const before = tf.memory().numTensors;
    clip.model.embedTokens(ref.text_sequences).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('imageFeatures gives layers + 1 hidden states', () => {
    const images = tf.randomUniform([1, 16, 16, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const features = clip.imageFeatures(images);
    expect(features.map((f) => f.shape)).toEqual([[1, 5, 16], [1, 5, 16], [1, 5, 16]]);
    tf.dispose([...features, images]);
  });

  it('space id, dim and label', () => {
    expect(clip.space).toBe('clip:tiny-clip');
    expect(clip.dim).toBe(8);
    expect(clip.encodeText).toBeUndefined(); // no tokenizer given
  });
});

describe('activations (HF ACT2FN)', () => {
  it('gelu is the exact erf form; quick_gelu and tanh-gelu differ from it as expected', () => {
    const x = tf.tensor1d([-2, -0.5, 0, 1, 3]);
    // Φ(x)·x with Φ the normal CDF: values from the closed form (erf tables).
    const exact = [-0.04550026, -0.15426877, 0, 0.84134475, 2.99595031];
    const gelu = activation('gelu', x).dataSync();
    exact.forEach((v, i) => expect(gelu[i]).toBeCloseTo(v, 5));
    const quick = activation('quick_gelu', x).dataSync();
    expect(quick[3]).toBeCloseTo(1 / (1 + Math.exp(-1.702)), 6);
    const tanh = activation('gelu_new', x).dataSync();
    exact.forEach((v, i) => expect(Math.abs(tanh[i] - v)).toBeLessThan(1e-3));
    x.dispose();
  });
});
