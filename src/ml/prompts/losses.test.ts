import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestBackend } from '../testing';
import { initStageLoss, refineStageLoss, refinementLoss, REFINE_WEIGHT } from './losses';

beforeAll(async () => {
  await useTestBackend('wasm');
});

const num = (t: tf.Tensor) => {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
};
const v1 = (xs: number[]) => tf.tensor1d(xs);
const v2 = (rows: number[][]) => tf.tensor2d(rows);

// cos(θ) = 0.99 → sin(θ) = √(1 − 0.99²) = 0.141067…
const S = Math.sqrt(1 - 0.99 * 0.99);

describe('initial stage: softmax cross-entropy with logits 100·cos', () => {
  it('hand-computed: logits [100, 99] for the correct class → log(1 + e⁻¹) = 0.313262', () => {
    // negative prompt (1,0), positive prompt at cos 0.99 from it; given unnormalised (×3, ×5).
    const prompts = v2([[3, 0], [5 * 0.99, 5 * S]]);
    // backlit x = (1,0): logits [100, 99] → −log σ(1) = log(1 + e⁻¹).
    // well-lit x = positive prompt: logits [99, 100] → the same value.
    const loss = initStageLoss({ backlit: v2([[1, 0]]), wellLit: v2([[0.99, S]]) }, prompts);
    expect(num(loss)).toBeCloseTo(Math.log(1 + Math.exp(-1)), 5);
    expect(Math.log(1 + Math.exp(-1))).toBeCloseTo(0.313262, 6);
  });

  it('hand-computed: wrong labels cost log(1 + e) = 1.313262; a far-off image costs ≈ 0', () => {
    const prompts = v2([[1, 0], [0.99, S]]);
    // Swapped roles: the "backlit" image is the positive prompt, the "well-lit" one the negative.
    expect(num(initStageLoss({ backlit: v2([[0.99, S]]), wellLit: v2([[1, 0]]) }, prompts))).toBeCloseTo(1.313262, 5);
    // well-lit x = (0,1): logits [0, 100·S = 14.1067] → log(1 + e^−14.1067) ≈ 7.5e-7; mean with 0.313262.
    const mixed = num(initStageLoss({ backlit: v2([[1, 0]]), wellLit: v2([[0, 1]]) }, prompts));
    expect(mixed).toBeCloseTo((0.313262 + Math.log(1 + Math.exp(-100 * S))) / 2, 5);
  });

  it('batches average over all images of both sets', () => {
    const prompts = v2([[1, 0], [0.99, S]]);
    // Two backlit at (1,0): 0.313262 each; one well-lit at the negative prompt: 1.313262 → mean 0.646595.
    expect(num(initStageLoss({ backlit: v2([[1, 0], [2, 0]]), wellLit: v2([[1, 0]]) }, prompts))).toBeCloseTo((2 * 0.313262 + 1.313262) / 3, 4);
  });
});

describe('refinement stage: margin ranking ×200', () => {
  it('round 1 (no previous): h(B,W,1) — active and inactive', () => {
    // s(B)=0.7, s(W)=0.2: max(0, 0.2 − 0.7 + 1) = 0.5 → ×200 = 100.
    expect(num(refinementLoss({ backlit: v1([0.7]), wellLit: v1([0.2]) }))).toBeCloseTo(100, 3);
    // s(B)=1, s(W)=0: max(0, 0 − 1 + 1) = 0 (hinge inactive at the boundary).
    expect(num(refinementLoss({ backlit: v1([1]), wellLit: v1([0]) }))).toBe(0);
  });

  it('round 2: h(B,W,.9) + h(B,e1,.9) + h(e1,W,.2), one term inactive', () => {
    // s(B)=0.9, s(W)=0.1, s(e1)=0.5:
    //   h(B,W,.9)  = max(0, 0.1 − 0.9 + 0.9) = 0.1
    //   h(B,e1,.9) = max(0, 0.5 − 0.9 + 0.9) = 0.5
    //   h(e1,W,.2) = max(0, 0.1 − 0.5 + 0.2) = 0   (inactive)
    // sum 0.6 × 200 = 120
    expect(num(refinementLoss({ backlit: v1([0.9]), wellLit: v1([0.1]), previous: v1([0.5]) }))).toBeCloseTo(120, 3);
    // e1 scoring like well-lit (s = 0.1): h(B,e1,.9) = 0.1, h(e1,W,.2) = 0.2 → (0.1 + 0.1 + 0.2)·200 = 80.
    expect(num(refinementLoss({ backlit: v1([0.9]), wellLit: v1([0.1]), previous: v1([0.1]) }))).toBeCloseTo(80, 3);
  });

  it('round 3: h(B,W,.9) + h(B,e1,.9) + h(e1,e2,.1) + h(e2,W,.1); batch mean per hinge', () => {
    // Pair 1: B .95 W .02 e1 .6 e2 .3 → 0 + 0.55 + 0 + 0 = 0.55
    //   h(B,W)=max(0,.02−.95+.9)=0, h(B,e1)=.6−.95+.9=.55, h(e1,e2)=.3−.6+.1<0 → 0, h(e2,W)=.02−.3+.1<0 → 0
    // Pair 2: B .5 W .4 e1 .45 e2 .45 → .8 + .85 + .1 + .05 = 1.8
    //   h(B,W)=.4−.5+.9=.8, h(B,e1)=.45−.5+.9=.85, h(e1,e2)=.45−.45+.1=.1, h(e2,W)=.4−.45+.1=.05
    // mean over the two pairs: (0.55 + 1.8)/2 = 1.175 → ×200 = 235
    const loss = refinementLoss({ backlit: v1([0.95, 0.5]), wellLit: v1([0.02, 0.4]), previous: v1([0.6, 0.45]), previous2: v1([0.3, 0.45]) });
    expect(num(loss)).toBeCloseTo(235, 2);
    expect(REFINE_WEIGHT).toBe(200);
  });

  it('an inactive hinge passes no gradient; an active one passes ±200/n', () => {
    const sB = v1([0.9]);
    const sW = v1([0.1]);
    const sE = v1([0.5]);
    const g = tf.grads((b: tf.Tensor, w: tf.Tensor, e: tf.Tensor) => refinementLoss({ backlit: b as tf.Tensor1D, wellLit: w as tf.Tensor1D, previous: e as tf.Tensor1D }))([sB, sW, sE]);
    const [gB, gW, gE] = g.map((t) => t.dataSync()[0]);
    // Active: h(B,W) and h(B,e1): d/ds(B) = −2·200, d/ds(W) = +200 (from h(B,W) only; h(e1,W) is inactive), d/ds(e1) = +200.
    expect(gB).toBeCloseTo(-400, 3);
    expect(gW).toBeCloseTo(200, 3);
    expect(gE).toBeCloseTo(200, 3);
    tf.dispose([...g, sB, sW, sE]);
  });

  it('refineStageLoss scores embeddings with the prompts: s = softmax(100·cos)[neg]', () => {
    // Prompts (1,0) and (0.99,S); B at the negative prompt → s = σ(1) = 0.731059; W at the positive → s = 0.268941.
    // h(B,W,1) = 0.268941 − 0.731059 + 1 = 0.537883 → ×200 = 107.5766.
    const loss = refineStageLoss({ backlit: v2([[1, 0]]), wellLit: v2([[0.99, S]]) }, v2([[1, 0], [0.99, S]]));
    expect(num(loss)).toBeCloseTo(107.5766, 2);
    expect(200 * (2 - 2 / (1 + Math.exp(-1)))).toBeCloseTo(107.5766, 3);
  });

  it('refuses e2 without e1', () => {
    expect(() => refinementLoss({ backlit: v1([0.5]), wellLit: v1([0.5]), previous2: v1([0.5]) })).toThrow(/previous2.*needs previous/);
  });
});
