import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestBackend } from '../testing';
import { projections, promptGuidance, quantileOf, residualGuidance, residualTarget } from './guidance';

beforeAll(async () => {
  await useTestBackend('wasm');
});

const value = (t: tf.Tensor) => {
  const v = Array.from(t.dataSync());
  t.dispose();
  return v;
};

describe('residualGuidance (RAVE): L = mean_batch (<e, r> − thr)²', () => {
  it('equals the hand-computed value on unit embeddings, D = 3', () => {
    // r = (0.6, 0, 0.8): <e1, r> = 0.36, <e2, r> = 0.64; thr = 0.3
    // L = ((0.36 − 0.3)² + (0.64 − 0.3)²) / 2 = (0.0036 + 0.1156) / 2 = 0.0596
    const r = tf.tensor1d([0.6, 0, 0.8]);
    const emb = tf.tensor2d([[0.6, 0.8, 0], [0, 0.6, 0.8]]);
    const g = residualGuidance(r, 0.3, 'test:v1');
    expect(g.space).toBe('test:v1');
    expect(g.label).toContain('0.3000');
    expect(value(g.loss(emb))[0]).toBeCloseTo(0.0596, 6);
    // score = <e, r>: reaches thr when as well-lit as the mean
    value(g.score(emb)).forEach((v, i) => expect(v).toBeCloseTo([0.36, 0.64][i], 6));
    // one image exactly at thr costs nothing
    const atThr = tf.tensor2d([[0.5, 0, 0]]); // <e, r> = 0.3
    expect(value(g.loss(atThr))[0]).toBeCloseTo(0, 10);
    tf.dispose([r, emb, atThr]);
  });

  it('its gradient pushes each projection toward thr (d/de = 2(<e,r> − thr) r / N)', () => {
    const r = tf.tensor1d([0.6, 0, 0.8]);
    const emb = tf.tensor2d([[0.6, 0.8, 0], [0, 0.6, 0.8]]);
    const g = residualGuidance(r, 0.3, 'test:v1');
    const grad = tf.grad((e: tf.Tensor) => g.loss(e as tf.Tensor2D))(emb);
    const got = value(grad);
    const want = [0.06, 0.34].flatMap((d) => [0.6, 0, 0.8].map((ri) => (2 * d * ri) / 2));
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
    tf.dispose([r, emb]);
  });

  it('does not leak tensors', () => {
    const r = tf.tensor1d([0.6, 0, 0.8]);
    const emb = tf.tensor2d([[0.6, 0.8, 0]]);
    const g = residualGuidance(r, 0.1, 'test:v1');
    const before = tf.memory().numTensors;
    tf.dispose([g.loss(emb), g.score(emb)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([r, emb]);
  });
});

describe('promptGuidance (CLIP-LIT / latent): L = mean_batch softmax(100·cos(e, g))[negative]', () => {
  // Negative prompt (row 0) deliberately unnormalised: cosines must not depend on prompt length.
  const NEG = [3, 0.3, 0]; // direction (1, 0.1, 0)/√1.01
  const POS = [1, 0, 0.1]; // direction (1, 0, 0.1)/√1.01
  const s = Math.sqrt(1.01);
  /** softmax over (neg, pos) logits 100·cos, negative entry: 1 / (1 + exp(100·(cos_pos − cos_neg))). */
  const pNeg = (cosNeg: number, cosPos: number) => 1 / (1 + Math.exp(100 * (cosPos - cosNeg)));
  // e1 = (1,0,0):        cos_neg = cos_pos = 1/√1.01          → 0.5
  // e2 = (0,1,0):        cos_neg = 0.1/√1.01, cos_pos = 0     → ≈ 0.999952
  // e3 = (0,0.6,0.8):    cos_neg = 0.06/√1.01, cos_pos = 0.08/√1.01 → ≈ 0.120246
  const expected = [pNeg(1 / s, 1 / s), pNeg(0.1 / s, 0), pNeg(0.06 / s, 0.08 / s)];

  it('equals the hand-computed value, and score = P(positive)', () => {
    expect(expected[0]).toBe(0.5);
    expect(expected[1]).toBeCloseTo(0.999952, 6);
    expect(expected[2]).toBeCloseTo(0.120246, 5);
    const prompts = tf.tensor2d([NEG, POS]);
    const emb = tf.tensor2d([[1, 0, 0], [0, 1, 0], [0, 0.6, 0.8]]);
    const g = promptGuidance(prompts, 'test:v1', 'latent');
    expect(g.space).toBe('test:v1');
    expect(g.label).toBe('latent prompt pair');
    const mean = (expected[0] + expected[1] + expected[2]) / 3;
    expect(value(g.loss(emb))[0]).toBeCloseTo(mean, 5);
    value(g.score(emb)).forEach((v, i) => expect(v).toBeCloseTo(1 - expected[i], 5));
    tf.dispose([prompts, emb]);
  });

  it('a softer logit scale (for encoders other than CLIP) replaces the 100 and shows in the label', () => {
    const prompts = tf.tensor2d([NEG, POS]);
    const emb = tf.tensor2d([[0, 0.6, 0.8]]);
    const g = promptGuidance(prompts, 'stats:v1', 'latent', 10);
    // 1 / (1 + exp(10 · (0.08 − 0.06)/√1.01)) ≈ 0.450412
    expect(value(g.loss(emb))[0]).toBeCloseTo(1 / (1 + Math.exp((10 * 0.02) / s)), 5);
    expect(g.label).toMatch(/logit scale 10/);
    tf.dispose([prompts, emb]);
  });

  it('a single image: the loss is its negative-prompt probability', () => {
    const prompts = tf.tensor2d([NEG, POS]);
    const emb = tf.tensor2d([[0, 0.6, 0.8]]);
    expect(value(promptGuidance(prompts, 'clip:x', 'text').loss(emb))[0]).toBeCloseTo(expected[2], 5);
    tf.dispose([prompts, emb]);
  });
});

describe('residual guidance in units of the gap; targets (issue 12)', () => {
  it('gap g divides the loss by g²: a backlit image at thr − g costs 1', () => {
    const r = tf.tensor1d([1, 0, 0]);
    const emb = tf.tensor2d([[0.2, 0.98, 0]]); // <e, r> = 0.2
    const raw = residualGuidance(r, 0.7, 'test:v1');
    const scaled = residualGuidance(r, 0.7, 'test:v1', 0.5);
    expect(value(raw.loss(emb))[0]).toBeCloseTo(0.25, 6);
    expect(value(scaled.loss(emb))[0]).toBeCloseTo(1, 5);
    expect(scaled.label).toContain('gap 0.5000');
    tf.dispose([r, emb]);
  });

  it('residualTarget: paper <v_pos, r>, mean-projection <mean E, r>, quantile of the rows; falls back to paper without data', () => {
    const r = [0, 1];
    const vPos = [0.6, 0.8];
    const rows = Float32Array.from([1, 0, 0, 1, 0.6, 0.8]); // projections 0, 1, 0.8
    const meanPos = Float32Array.from([1.6 / 3, 1.8 / 3]);
    expect(residualTarget(r, vPos, { mode: 'paper', quantile: 0.5, meanPos }).thr).toBeCloseTo(0.8, 6);
    expect(residualTarget(r, vPos, { mode: 'mean-projection', quantile: 0.5, meanPos }).thr).toBeCloseTo(0.6, 6);
    expect(residualTarget(r, vPos, { mode: 'quantile', quantile: 0.5, wellLitRows: rows })).toEqual({ thr: expect.closeTo(0.8, 6), mode: 'quantile' });
    expect(residualTarget(r, vPos, { mode: 'quantile', quantile: 0.25, wellLitRows: rows }).thr).toBeCloseTo(0.4, 6); // numpy: 0 + 0.5·(0.8 − 0)
    expect(residualTarget(r, vPos, { mode: 'mean-projection', quantile: 0.5 })).toEqual({ thr: expect.closeTo(0.8, 6), mode: 'paper' });
    expect(quantileOf([3, 1, 2], 1)).toBe(3);
    expect(projections(rows, r)).toEqual([0, 1, expect.closeTo(0.8, 6)]);
  });
});
