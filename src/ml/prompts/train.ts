import * as tf from '@tensorflow/tfjs';
import { adam } from '../backend';
import { mulberry32 } from '../random';
import { negativeScore, PROMPT_LOGIT_SCALE } from '../losses';
import { initStageLoss, refineStageLoss, type PromptBatch } from './losses';
import type { PromptParameters } from './models';

/**
 * Prompt learning (CLIP-LIT and latent prompts). Image embeddings are computed once by the caller
 * (images never change while prompts train), so a step costs only the prompt side: one text-tower
 * pass in text mode, a [2,D] normalisation in latent mode, plus a few small matMuls.
 */

/** Precomputed L2-normalised embeddings [N, D] of each set. */
export interface PromptData {
  backlit: tf.Tensor2D;
  wellLit: tf.Tensor2D;
  /** e1: enhanced backlit images of an earlier round, row i = backlit row i (refinement). */
  previous?: tf.Tensor2D;
  /** e2: enhanced backlit images of the later round, row i = backlit row i. */
  previous2?: tf.Tensor2D;
}

export interface PromptTrainingConfig {
  iterations: number;
  lr: number;
  /** PyTorch-Adam-style L2 decay added to the gradient (METHODS.md: 1e-3). */
  weightDecay: number;
  /** Images drawn from each set per step (METHODS.md: 16). */
  batchSize: number;
  seed: number;
  /** Logits = scale·cos (METHODS.md: 100, CLIP's). The enhancer must be guided with the same scale. */
  logitScale?: number;
}

export type PromptStage = 'init' | 'refine';

export interface PromptStepMetrics extends Record<string, number> {
  loss: number;
  /** Fraction of backlit images with s > 0.5 / well-lit images with s < 0.5, over the whole sets. */
  accBacklit: number;
  accWellLit: number;
  /** Mean P(positive) = 1 − s per set. */
  pBacklit: number;
  pWellLit: number;
  ms: number;
}

export interface PromptTrainingResult {
  stage: PromptStage;
  steps: number;
  /** Metrics of the last step (loss before its update; accuracy of the prompts it started from). */
  last: PromptStepMetrics;
  /** Loss of every step. */
  losses: number[];
  /** Mean wall time per step in ms (first step excluded when there are several: kernel warm-up). */
  msPerStep: number;
}

export interface PromptCallbacks {
  signal?: AbortSignal;
  onStep?(step: number, total: number, metrics: PromptStepMetrics): void;
  /** Yield to the event loop every this many steps (progress and cancel messages); default 1. */
  yieldEvery?: number;
}

export class PromptTrainingDiverged extends Error {}

/** mulberry32: small seeded PRNG. */
export function seededRandom(seed: number): () => number {
  return mulberry32((seed * 0x9e3779b1 + 0x6d2b79f5) >>> 0);
}

/** Endless reshuffled passes over 0..n−1 (each image seen once per pass). */
function epochSampler(n: number, rand: () => number): (k: number) => number[] {
  let order: number[] = [];
  let at = 0;
  const refill = () => {
    order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    at = 0;
  };
  refill();
  return (k) => {
    const out: number[] = [];
    while (out.length < k) {
      if (at >= order.length) refill();
      out.push(order[at++]);
    }
    return out;
  };
}

function checkData(data: PromptData): void {
  const d = data.backlit.shape[1];
  for (const [name, t] of Object.entries(data) as Array<[string, tf.Tensor2D | undefined]>) {
    if (!t) continue;
    if (t.shape[0] === 0) throw new Error(`prompt learning: the ${name} set is empty.`);
    if (t.shape[1] !== d) throw new Error(`prompt learning: ${name} embeddings are ${t.shape[1]}-d but backlit ones are ${d}-d; use one encoder for every set.`);
  }
  for (const name of ['previous', 'previous2'] as const) {
    const t = data[name];
    if (t && t.shape[0] !== data.backlit.shape[0]) throw new Error(`prompt learning: ${name} has ${t.shape[0]} images for ${data.backlit.shape[0]} backlit ones; it must hold the enhanced versions of the backlit images.`);
  }
  if (data.previous2 && !data.previous) throw new Error('prompt learning: previous2 needs previous.');
}

/** Accuracy and mean P(positive) of prompts on whole sets (no gradients). */
function setMetrics(data: PromptData, prompts: tf.Tensor2D, scale: number): tf.Tensor1D {
  return tf.tidy(() => {
    const sB = negativeScore(data.backlit, prompts, scale);
    const sW = negativeScore(data.wellLit, prompts, scale);
    return tf.stack([tf.mean(tf.cast(tf.greater(sB, 0.5), 'float32')), tf.mean(tf.cast(tf.less(sW, 0.5), 'float32')), tf.sub(1, tf.mean(sB)), tf.sub(1, tf.mean(sW))]) as tf.Tensor1D;
  });
}

/**
 * Trains `params` in place. Stage `init` (no previous outputs): softmax cross-entropy, backlit →
 * negative, well-lit → positive. Stage `refine` (previous given): METHODS.md's margin ranking
 * losses ×200. Adam with L2 weight decay.
 */
export async function trainPrompts(params: PromptParameters, data: PromptData, config: PromptTrainingConfig, callbacks: PromptCallbacks = {}): Promise<PromptTrainingResult> {
  checkData(data);
  const stage: PromptStage = data.previous ? 'refine' : 'init';
  const scale = config.logitScale ?? PROMPT_LOGIT_SCALE;
  const rand = seededRandom(config.seed);
  const nB = data.backlit.shape[0];
  const nW = data.wellLit.shape[0];
  const k = Math.max(1, Math.min(config.batchSize, Math.max(nB, nW)));
  const drawB = epochSampler(nB, rand);
  const drawW = epochSampler(nW, rand);
  const optimizer: tf.Optimizer = adam(config.lr); // fixed ε: tf.train.adam's default differs on webgl
  const vars = params.variables;
  const losses: number[] = [];
  const times: number[] = [];
  let last: PromptStepMetrics | undefined;
  const yieldEvery = Math.max(1, callbacks.yieldEvery ?? 1);
  try {
    for (let step = 0; step < config.iterations; step++) {
      if (callbacks.signal?.aborted) break;
      const t0 = performance.now();
      const iB = tf.tensor1d(drawB(k), 'int32');
      const iW = tf.tensor1d(drawW(k), 'int32');
      let kept: tf.Tensor2D | undefined;
      const { loss, stats } = tf.tidy(() => {
        const batch: PromptBatch = {
          backlit: tf.gather(data.backlit, iB),
          wellLit: tf.gather(data.wellLit, iW),
          previous: data.previous ? tf.gather(data.previous, iB) : undefined,
          previous2: data.previous2 ? tf.gather(data.previous2, iB) : undefined,
        };
        const { value, grads } = tf.variableGrads(() => {
          const p = params.prompts();
          kept = tf.keep(tf.clone(p));
          return stage === 'init' ? initStageLoss(batch, p, scale) : refineStageLoss(batch, p, scale);
        }, vars);
        const final: tf.NamedTensorMap = {};
        for (const v of vars) final[v.name] = config.weightDecay > 0 ? tf.add(grads[v.name], tf.mul(v, config.weightDecay)) : grads[v.name];
        optimizer.applyGradients(final);
        return { loss: value, stats: setMetrics(data, kept!, scale) };
      });
      tf.dispose([iB, iW, kept]);
      const lossValue = (await loss.data())[0];
      const [accBacklit, accWellLit, pBacklit, pWellLit] = Array.from(await stats.data());
      tf.dispose([loss, stats]);
      if (!Number.isFinite(lossValue)) throw new PromptTrainingDiverged(`prompt learning diverged at step ${step + 1}: the loss is ${lossValue}`);
      const ms = performance.now() - t0;
      times.push(ms);
      losses.push(lossValue);
      last = { loss: lossValue, accBacklit, accWellLit, pBacklit, pWellLit, ms };
      callbacks.onStep?.(step + 1, config.iterations, last);
      if ((step + 1) % yieldEvery === 0) await tf.nextFrame();
    }
  } finally {
    optimizer.dispose();
  }
  if (!last) throw new Error('prompt learning ran no step (cancelled before the first one).');
  const timed = times.length > 1 ? times.slice(1) : times;
  return { stage, steps: losses.length, last, losses, msPerStep: timed.reduce((a, b) => a + b, 0) / timed.length };
}

/** What the PromptPair view shows: accuracy and P(positive) histograms per set. */
export interface PromptPairStats {
  accuracy: { backlit: number; wellLit: number };
  /** Mean P(positive) per set (and per previous round, when given). */
  meanPositive: Record<string, number>;
  /** Counts of P(positive) in `bins` equal bins on [0, 1]. */
  histogram: { bins: number; backlit: number[]; wellLit: number[]; previous?: number[]; previous2?: number[] };
}

/** Accuracy and score histograms of prompts [2,D] on whole sets (plain numbers). */
export async function promptPairStats(prompts: tf.Tensor2D, data: PromptData, bins = 10, logitScale = PROMPT_LOGIT_SCALE): Promise<PromptPairStats> {
  const scores: Record<string, number[]> = {};
  for (const [name, emb] of Object.entries(data) as Array<[string, tf.Tensor2D | undefined]>) {
    if (!emb) continue;
    const p = tf.tidy(() => tf.sub(1, negativeScore(emb, prompts, logitScale)));
    scores[name] = Array.from(await p.data());
    p.dispose();
  }
  const hist = (v: number[]) => {
    const h = new Array<number>(bins).fill(0);
    for (const x of v) h[Math.min(bins - 1, Math.max(0, Math.floor(x * bins)))]++;
    return h;
  };
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const meanPositive: Record<string, number> = {};
  for (const [k, v] of Object.entries(scores)) meanPositive[k] = mean(v);
  return {
    accuracy: { backlit: mean(scores.backlit.map((p) => (p < 0.5 ? 1 : 0))), wellLit: mean(scores.wellLit.map((p) => (p > 0.5 ? 1 : 0))) },
    meanPositive,
    histogram: { bins, backlit: hist(scores.backlit), wellLit: hist(scores.wellLit), ...(scores.previous ? { previous: hist(scores.previous) } : {}), ...(scores.previous2 ? { previous2: hist(scores.previous2) } : {}) },
  };
}
