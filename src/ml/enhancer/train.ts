import * as tf from '@tensorflow/tfjs';
import type { EnhanceResult, EnhancerNet, ForwardOptions, PadMode } from './network';

export type EnhancerLoss = (result: EnhanceResult, input: tf.Tensor4D) => tf.Scalar;

export interface TrainStepOptions {
  /** PyTorch-Adam-style L2 weight decay: adds wd·w to each gradient (METHODS.md uses 1e-3). */
  weightDecay?: number;
  /** Padding of the non-ResBlock convs; training uses zeros (default). */
  padMode?: PadMode;
  /**
   * Split the batch into chunks of this many images and accumulate gradients (activation memory
   * of one chunk instead of the whole batch: with the fused layers a 512² image peaks at ~1 GB
   * live on wasm's 4 GB heap, so ~2–3 images of 512² per chunk). Exact when the loss is a
   * per-image mean (`lossReduction` 'mean', chunk losses weighted by chunk/N) or a per-image sum
   * ('sum').
   */
  microBatch?: number;
  lossReduction?: 'mean' | 'sum';
  /** Layer implementation ('fused' default; 'reference' = plain tf ops + tfjs autograd). */
  impl?: ForwardOptions['impl'];
  /**
   * ResBlock gradient checkpointing (fused only): ~18 % lower peak memory for one extra conv per
   * block in the backward (~+10 % time). Without it a 512² image peaks at ~1 GB live on wasm.
   */
  checkpoint?: boolean;
}

/**
 * One optimisation step of the enhancer on `input` [N,H,W,3]: forward, loss, backward, update.
 * The loss closure receives the forward result (L and I_out) and the input; every tensor it makes
 * is released here. Returns the loss value (a synchronous read: fine on cpu/wasm; on GPU backends
 * use `trainStepLazy`, which leaves the loss on the device).
 */
export function trainStep(net: EnhancerNet, optimizer: tf.Optimizer, input: tf.Tensor4D, loss: EnhancerLoss, opts: TrainStepOptions = {}): number {
  const value = trainStepLazy(net, optimizer, input, loss, opts);
  const out = value.dataSync()[0];
  value.dispose();
  if (!Number.isFinite(out)) throw new Error(nonFiniteLossMessage(out));
  return out;
}

/** The divergence message; the trainer recognises it by "loss is NaN|Infinity". */
export function nonFiniteLossMessage(value: number): string {
  return `enhancer training loss is ${value}; lower the learning rate or check the loss inputs.`;
}

/**
 * `trainStep` without reading anything back: returns the loss as a scalar tensor the caller owns
 * (and must dispose). On webgpu/webgl the step is only queued; reading the loss later (async, or
 * every k steps) keeps the device busy instead of stalling on a readback each step.
 */
export function trainStepLazy(net: EnhancerNet, optimizer: tf.Optimizer, input: tf.Tensor4D, loss: EnhancerLoss, opts: TrainStepOptions = {}): tf.Scalar {
  const vars = net.trainableVariables();
  const wd = opts.weightDecay ?? 0;
  const n = input.shape[0];
  const mb = Math.max(1, Math.min(n, opts.microBatch ?? n));
  const padMode = opts.padMode ?? 'zero';
  let total: tf.Scalar | null = null;
  let acc: tf.NamedTensorMap | null = null;
  for (let s = 0; s < n; s += mb) {
    const k = Math.min(mb, n - s);
    const weight = (opts.lossReduction ?? 'mean') === 'mean' ? k / n : 1;
    const next = tf.tidy(() => {
      const chunk = k === n ? input : tf.slice(input, [s, 0, 0, 0], [k, -1, -1, -1]);
      const { value: v, grads } = tf.variableGrads(() => loss(net.forward(chunk, { padMode, impl: opts.impl, checkpoint: opts.checkpoint }), chunk), vars);
      const g: tf.NamedTensorMap = {};
      for (const w of vars) g[w.name] = acc ? tf.add(acc[w.name], tf.mul(grads[w.name], weight)) : tf.mul(grads[w.name], weight);
      return { v: (total ? tf.add(total, tf.mul(v, weight)) : tf.mul(v, weight)) as tf.Scalar, g };
    });
    if (acc) tf.dispose(Object.values(acc));
    if (total) total.dispose();
    acc = next.g;
    total = next.v;
  }
  const grads = acc as tf.NamedTensorMap;
  tf.tidy(() => {
    const final: tf.NamedTensorMap = {};
    for (const w of vars) final[w.name] = wd > 0 ? tf.add(grads[w.name], tf.mul(w, wd)) : grads[w.name];
    optimizer.applyGradients(final);
  });
  tf.dispose(Object.values(grads));
  return total as tf.Scalar;
}
