import * as tf from '@tensorflow/tfjs';
import { adam } from '../backend';
import type { ImageEncoder } from '../encoder';
import type { EnhancerNet } from '../enhancer/network';
import { nonFiniteLossMessage, trainStepLazy } from '../enhancer/train';
import { encoderIdentityLoss, highlightGuardLoss, highlightPreserveLoss, l1Loss, reconstructionLoss, ssimLoss, IDENTITY_WEIGHTS_MAIN } from '../losses';
import { resizeImages } from '../image';
import { registerWasmTrainingKernels } from '../kernels';
import { mulberry32 } from '../random';
import type { Guidance } from './guidance';
import type { TrainingState } from './enhancerFiles';

/** Defaults follow METHODS.md where it gives them; `iterations` and `imageSize` are small for interactive use. */
export interface EnhancerTrainingConfig {
  iterations: number;
  /** Reconstruction warm-up steps (identity loss only) before guidance starts. */
  warmupIterations: number;
  lr: number;
  weightDecay: number;
  batchSize: number;
  /** Training images are resized to imageSize × imageSize (paper: 512). */
  imageSize: number;
  /** Weight of the guidance loss (paper, RAVE: 6 · 320 = 1920; CLIP-LIT: 320). */
  guidanceWeight: number;
  /** Weight of the identity (content) loss (paper: 0.9 · 25 = 22.5). */
  identityWeight: number;
  /** Weight of L1 + (1 − SSIM) to paired ground truth; 0 = unsupervised. */
  pixelWeight: number;
  /** Random flips, transposes and 90° rotations (METHODS.md's set, minus zoom). */
  augment: boolean;
  seed: number;
  /** Save a checkpoint every this many steps (0 = only at the end). */
  checkpointEvery: number;
  /** Split each batch into chunks of this many images (bounded memory; exact gradient). */
  microBatch: number;
  /** Weight of the highlight guard (losses/highlightGuardLoss; not in the papers); 0/absent = off. */
  highlightWeight?: number;
  /** Weight of the highlight preservation term (losses/highlightPreserveLoss; not in the papers); 0/absent = off. */
  preserveWeight?: number;
  /** 'cosine': after the warm-up the learning rate decays from lr to lr/10 (cosine); absent = constant. */
  lrSchedule?: 'constant' | 'cosine';
}

export interface TrainingCallbacks {
  signal?: AbortSignal;
  onStep?(step: number, total: number, metrics: Record<string, number>): void;
  /** Persists a checkpoint (atomically; the trainer never writes half a file). */
  saveCheckpoint?(state: { step: number; optimizer: TrainingState['optimizer'] }): Promise<void>;
  /**
   * Looks at the network every HEALTH_EVERY steps, before every checkpoint, after the last step and
   * at the start of a resumed run;
   * throwing stops training there, before that step's checkpoint is written (a collapse to a flat
   * image has a finite loss, so the NaN guard cannot see it, and no gradient passes the clamp, so
   * it never recovers: the rest of the run would be wasted and the checkpoint overwritten).
   */
  checkHealth?(step: number): Promise<void>;
}

/** Steps between health checks (one forward pass of one image at the training size). */
export const HEALTH_EVERY = 20;

export interface TrainingResult {
  /** Steps completed in total (fewer than `iterations` when cancelled). */
  steps: number;
  last: Record<string, number>;
  /** Step the run started from (> 0 when resumed). */
  resumedFrom: number;
}

export class TrainingDiverged extends Error {}

interface PendingRead {
  step: number;
  names: string[];
  tensor: tf.Tensor;
  values: Promise<ArrayLike<number>>;
}

/** Steps a loss read may trail the queued work: 2 on GPU backends (no stall per step), 0 on cpu/wasm. */
function readLag(): number {
  const b = tf.getBackend();
  return b === 'webgpu' || b === 'webgl' ? 2 : 0;
}

/** Deterministic per-step randomness: a resumed run draws the same batches as an uninterrupted one. */
export function stepRandom(seed: number, step: number): () => number {
  return mulberry32((Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca6b)) >>> 0);
}

/** Same random flip/transpose/rotation for an image and its ground truth. */
function augmentPair(x: tf.Tensor3D, y: tf.Tensor3D | undefined, rand: () => number): [tf.Tensor3D, tf.Tensor3D | undefined] {
  const ops: Array<(t: tf.Tensor3D) => tf.Tensor3D> = [];
  if (rand() < 0.5) ops.push((t) => tf.reverse(t, 1));
  if (rand() < 0.5) ops.push((t) => tf.reverse(t, 0));
  if (rand() < 0.3) ops.push((t) => tf.transpose(t, [1, 0, 2]));
  if (rand() < 0.3) ops.push((t) => tf.reverse(tf.transpose(t, [1, 0, 2]), 1)); // 90° rotation
  // tidy: chained ops would otherwise leave their intermediate tensors behind.
  const apply = (t: tf.Tensor3D) => (ops.length ? tf.tidy(() => ops.reduce((acc, op) => op(acc), t)) : t);
  return [apply(x), y ? apply(y) : undefined];
}

/**
 * Trains `net` (in place) on backlit images with a guidance (residual vector or prompt pair), the
 * identity loss through the encoder's intermediate features, optional pixel loss to ground truth,
 * after a reconstruction warm-up. Checkpoints through `saveCheckpoint`; resumes from `resume`.
 */
export async function trainEnhancer(
  net: EnhancerNet,
  encoder: ImageEncoder,
  guidance: Guidance,
  data: { inputs: tf.Tensor3D[]; targets?: tf.Tensor3D[] },
  config: EnhancerTrainingConfig,
  callbacks: TrainingCallbacks = {},
  resume?: TrainingState,
): Promise<TrainingResult> {
  if (guidance.space !== encoder.space) {
    throw new Error(`the guidance lives in "${guidance.space}" but the encoder is "${encoder.space}"; compute the guidance with the same encoder.`);
  }
  if (data.targets && data.targets.length !== data.inputs.length) throw new Error(`${data.inputs.length} inputs but ${data.targets.length} ground-truth images; pairs must line up.`);
  registerWasmTrainingKernels(); // wasm lacks the conv filter gradient; no-op on other backends
  const size = config.imageSize;
  // Resize every training image once; each step only augments.
  const inputs = data.inputs.map((t) => tf.tidy(() => resizeImages(t.expandDims(0) as tf.Tensor4D, size, size, { filter: 'bilinear' }).squeeze([0]) as tf.Tensor3D));
  const targets = data.targets?.map((t) => tf.tidy(() => resizeImages(t.expandDims(0) as tf.Tensor4D, size, size, { filter: 'bilinear' }).squeeze([0]) as tf.Tensor3D));
  if (!resume) await reviveDeadIllumination(net, inputs);
  const optimizer = adam(config.lr); // fixed ε: tf.train.adam's default differs on webgl
  const vars = net.trainableVariables();
  const start = resume?.step ?? 0;
  try {
    if (resume?.optimizer?.size) await restoreAdam(optimizer, vars, resume.optimizer);
    if (resume) await callbacks.checkHealth?.(start); // a checkpoint written before these checks existed may be collapsed
    let last: Record<string, number> = {};
    let completed = start; // steps completed (less than iterations when cancelled)
    // Loss read-back: each step's loss terms are stacked into one small tensor whose download
    // starts at once (`data()`, async) but is awaited only `lag` steps later, so on a GPU the next
    // steps are queued while the read is in flight instead of stalling the device every step.
    // cpu/wasm compute synchronously anyway, so there lag = 0 (progress and the NaN guard exactly
    // per step). Pending reads are flushed before every checkpoint, so a checkpoint is never
    // written after an undetected non-finite loss.
    const lag = readLag();
    const pending: PendingRead[] = [];
    const report = async (p: PendingRead) => {
      let values: ArrayLike<number>;
      try {
        values = await p.values;
      } finally {
        p.tensor.dispose();
      }
      if (!Number.isFinite(values[0])) throw new TrainingDiverged(`training diverged at step ${p.step + 1}: ${nonFiniteLossMessage(values[0])}`);
      last = Object.fromEntries([['loss', values[0]], ...p.names.map((k, i) => [k, values[i + 1]])]);
      callbacks.onStep?.(p.step + 1, config.iterations, last);
    };
    const flush = async () => {
      while (pending.length) await report(pending.shift()!);
    };
    try {
      for (let step = start; step < config.iterations; step++) {
        if (callbacks.signal?.aborted) {
          // Keep the progress of a cancelled run: the next run resumes exactly here.
          await flush();
          if (step > start && callbacks.saveCheckpoint) {
            await callbacks.checkHealth?.(step);
            await callbacks.saveCheckpoint({ step, optimizer: await adamState(optimizer, vars) });
          }
          break;
        }
        const rand = stepRandom(config.seed, step);
        const batchIdx = Array.from({ length: Math.min(config.batchSize, inputs.length) }, () => Math.floor(rand() * inputs.length));
        const pairs = batchIdx.map((i) => (config.augment ? augmentPair(inputs[i], targets?.[i], rand) : ([inputs[i], targets?.[i]] as const)));
        const x = tf.stack(pairs.map((p) => p[0])) as tf.Tensor4D;
        const y = targets ? (tf.stack(pairs.map((p) => p[1]!)) as tf.Tensor4D) : undefined;
        for (const p of pairs) for (const t of p) if (t && !inputs.includes(t) && !targets?.includes(t)) t.dispose();
        const warm = step < config.warmupIterations;
        if (config.lrSchedule === 'cosine') setLearningRate(optimizer, cosineLr(config, step));
        const parts: Record<string, tf.Scalar> = {};
        const batchN = x.shape[0];
        let loss: tf.Scalar;
        try {
          loss = trainStepLazy(
            net,
            optimizer,
            x,
            (res, input) => {
              const share = input.shape[0] / batchN;
              // trainStep weights each chunk's loss by its share of the batch (exact for per-image means);
              // the identity loss sums over the batch (METHODS.md: Σ_batch), so a chunk's sum is scaled up
              // by 1/share: the same gradient whatever microBatch is.
              if (warm) return keepPart(parts, 'reconstruction', tf.div(reconstructionLoss(encoder, res.out, input), share) as tf.Scalar, share);
              const g = keepPart(parts, 'guidance', tf.mul(guidance.loss(encoder.encodeImages(res.out, 'loss')), config.guidanceWeight), share);
              const id = keepPart(parts, 'identity', tf.mul(encoderIdentityLoss(encoder, res.out, input, IDENTITY_WEIGHTS_MAIN), config.identityWeight / share), share);
              let total = tf.add(g, id);
              if (config.highlightWeight) total = tf.add(total, keepPart(parts, 'highlight', tf.mul(highlightGuardLoss(input, res.L), config.highlightWeight), share));
              if (config.preserveWeight) total = tf.add(total, keepPart(parts, 'preserve', tf.mul(highlightPreserveLoss(input, res.L), config.preserveWeight), share));
              if (y && config.pixelWeight > 0) {
                // Micro-batching is off when a pixel loss is on, so `input` is the whole batch and matches `y`.
                const px = keepPart(parts, 'pixel', tf.mul(tf.add(l1Loss(res.out, y), ssimLoss(res.out, y)), config.pixelWeight), 1);
                total = tf.add(total, px);
              }
              return total as tf.Scalar;
            },
            { weightDecay: config.weightDecay, microBatch: y && config.pixelWeight > 0 ? undefined : config.microBatch },
          );
        } catch (err) {
          tf.dispose(Object.values(parts));
          throw err;
        } finally {
          tf.dispose([x, y]);
        }
        const names = Object.keys(parts);
        const stats = tf.tidy(() => tf.stack([loss, ...names.map((k) => parts[k])]));
        tf.dispose([loss, ...Object.values(parts)]);
        pending.push({ step, names, tensor: stats, values: stats.data() });
        completed = step + 1;
        while (pending.length > lag) await report(pending.shift()!);
        const done = step + 1 === config.iterations;
        const checkpointNow = callbacks.saveCheckpoint && (done || (config.checkpointEvery > 0 && (step + 1) % config.checkpointEvery === 0));
        if (callbacks.checkHealth && (checkpointNow || done || (step + 1) % HEALTH_EVERY === 0)) {
          await flush();
          await callbacks.checkHealth(step + 1);
        }
        if (checkpointNow) {
          await flush();
          await callbacks.saveCheckpoint!({ step: step + 1, optimizer: await adamState(optimizer, vars) });
        }
        await tf.nextFrame(); // lets cancellation and progress messages through
      }
      await flush();
    } finally {
      for (const p of pending) {
        p.values.catch(() => undefined);
        p.tensor.dispose();
      }
    }
    return { steps: completed, last, resumedFrom: start };
  } finally {
    optimizer.dispose();
    tf.dispose([...inputs, ...(targets ?? [])]);
  }
}

/**
 * The value range (max − min) of an image and of the enhancer's output for it at the training size.
 * A run can collapse to a constant image with a finite loss (lr 3e-3 on quick-start.json: loss 37,
 * every output one value), which the NaN guard cannot see; a flat output for a textured input says so.
 */
export async function outputRange(net: EnhancerNet, image: tf.Tensor3D, size: number): Promise<{ input: number; output: number }> {
  const ranges = tf.tidy(() => {
    const x = resizeImages(image.expandDims(0) as tf.Tensor4D, size, size, { filter: 'bilinear' });
    const out = net.forward(x).out;
    return tf.stack([tf.sub(tf.max(x), tf.min(x)), tf.sub(tf.max(out), tf.min(out))]);
  });
  const [input, output] = await ranges.data();
  ranges.dispose();
  return { input, output };
}

/** A run whose output went flat (see outputRange); `step` is where it was seen. */
export class TrainingCollapsed extends Error {
  constructor(
    readonly step: number,
    readonly image: string,
    readonly range: { input: number; output: number },
  ) {
    super(`training collapsed at step ${step}: the enhancer turns "${image}" (value range ${range.input.toFixed(2)}) into a flat image (range ${range.output.toExponential(1)}) although the loss stayed finite`);
  }
}

/** Throws TrainingCollapsed when a textured image (range > 0.05) comes out flat (range < 1e-3). */
export async function assertNotCollapsed(net: EnhancerNet, image: { name: string; tensor: tf.Tensor3D }, size: number, step: number): Promise<void> {
  const range = await outputRange(net, image.tensor, size);
  if (range.input > 0.05 && range.output < 1e-3) throw new TrainingCollapsed(step, image.name, range);
}

/** Cosine decay from lr to lr/10 over the guided steps (the warm-up runs at lr). */
export function cosineLr(config: Pick<EnhancerTrainingConfig, 'lr' | 'iterations' | 'warmupIterations'>, step: number): number {
  const guided = config.iterations - config.warmupIterations;
  if (step < config.warmupIterations || guided <= 1) return config.lr;
  const t = (step - config.warmupIterations) / (guided - 1);
  return config.lr * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * t)));
}

/** tfjs' Adam reads its (protected) learningRate on every applyGradients. */
function setLearningRate(optimizer: tf.AdamOptimizer, lr: number): void {
  (optimizer as unknown as { learningRate: number }).learningRate = lr;
}

/**
 * A fresh network (conv weights N(0, 0.02), zero biases) has L ≈ 1e-4 or 0 everywhere, so
 * I / (L + 1e-9) clamps to white and no gradient passes the clamp: neither the warm-up nor the
 * guidance could ever move it (the reference re-initialises when PSNR(input, output) < 8). Such a
 * network starts from the identity instead: the illumination head's bias = 1 gives L ≈ 1, out ≈ in.
 * Trained weights (fine-tuning, resuming) have a live L and are left alone.
 */
async function reviveDeadIllumination(net: EnhancerNet, inputs: tf.Tensor3D[]): Promise<void> {
  const bias = net.weights.get('cond_add1.bias');
  if (!bias || inputs.length === 0) return;
  const maxT = tf.tidy(() => tf.max(net.illumination(tf.stack(inputs.slice(0, 2)) as tf.Tensor4D)));
  const maxL = (await maxT.data())[0];
  maxT.dispose();
  if (maxL < 1e-2) tf.tidy(() => bias.assign(tf.onesLike(bias)));
}

/**
 * Keeps a loss term past the gradient tape so its value can be reported; `share` is the chunk's
 * fraction of the batch, so micro-batched terms add up to the batch mean like the total does.
 */
function keepPart(parts: Record<string, tf.Scalar>, name: string, value: tf.Scalar, share: number): tf.Scalar {
  const prev = parts[name];
  const weighted = tf.mul(value, share) as tf.Scalar;
  parts[name] = tf.keep(prev ? (tf.add(prev, weighted) as tf.Scalar) : weighted);
  prev?.dispose();
  return value;
}

/** Adam's moments keyed by the parameter's own name (variable names carry a per-instance prefix). */
async function adamState(optimizer: tf.AdamOptimizer, vars: tf.Variable[]): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const weights = await optimizer.getWeights();
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const w of weights) {
    const key = stableName(w.name, vars);
    out.set(key, { shape: w.tensor.shape, data: (await w.tensor.data()) as Float32Array });
    if (!(w.tensor instanceof tf.Variable)) w.tensor.dispose(); // the step counter is a fresh scalar; the moments are the optimizer's own
  }
  return out;
}

/**
 * tfjs' Adam pairs moments with variables by position, not by name: its step counter first, then
 * every m, then every v, in the order of the gradients (`vars`). So the saved moments are put in
 * that order by name, whatever order the file holds them in.
 */
async function restoreAdam(optimizer: tf.AdamOptimizer, vars: tf.Variable[], state: Map<string, { shape: number[]; data: Float32Array }>): Promise<void> {
  const named: Array<{ name: string; tensor: tf.Tensor }> = [];
  const take = (key: string, name: string) => {
    const t = state.get(key);
    if (!t) throw new Error(`the checkpoint's optimizer state has no "${key}"; it does not belong to this network (resume: false starts fresh).`);
    named.push({ name, tensor: tf.tensor(t.data, t.shape) });
  };
  try {
    take('iter', 'iter');
    for (const kind of ['m', 'v']) for (const v of vars) take(`${paramName(v.name)}/${kind}`, `${v.name}/${kind}`);
    await optimizer.setWeights(named);
  } finally {
    tf.dispose(named.map((n) => n.tensor)); // setWeights made variables of them (sharing the data)
  }
}

function paramName(variableName: string): string {
  return variableName.replace(/^enhancer\d+\//, '');
}

function stableName(weightName: string, vars: tf.Variable[]): string {
  for (const v of vars) {
    if (weightName === `${v.name}/m` || weightName === `${v.name}/v`) return `${paramName(v.name)}/${weightName.slice(v.name.length + 1)}`;
  }
  return weightName;
}
