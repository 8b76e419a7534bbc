import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StatsEncoder } from '../encoders/stats';
import { EnhancerNet } from '../enhancer/network';
import { useTestBackend } from '../testing';
import { decodeEnhancer, encodeEnhancer, type TrainingState } from './enhancerFiles';
import { HEALTH_EVERY, TrainingCollapsed, TrainingDiverged, assertNotCollapsed, outputRange, stepRandom, trainEnhancer, type EnhancerTrainingConfig, type TrainingCallbacks } from './enhancerTraining';
import { residualGuidance, type Guidance } from './guidance';
import { weightDiff } from './testing';

/**
 * The training loop on tiny inputs (16 px, stats encoder at 16 px): every test trains a handful of
 * steps, so the whole file stays cheap on wasm.
 */

let encoder: StatsEncoder;
let guidance: Guidance;
let r: tf.Tensor1D;
let inputs: tf.Tensor3D[];
let targets: tf.Tensor3D[];

beforeAll(async () => {
  await useTestBackend('wasm');
  encoder = new StatsEncoder({ workingSize: 16 });
  r = tf.tidy(() => {
    const v = tf.sin(tf.range(0, encoder.dim)); // a fixed, non-trivial direction
    return tf.div(v, tf.norm(v)) as tf.Tensor1D;
  });
  guidance = residualGuidance(r, 0.4, encoder.space);
  // Four different images of different sizes (the trainer resizes them to imageSize).
  inputs = [
    [20, 24],
    [16, 16],
    [24, 18],
    [18, 22],
  ].map(([h, w], i) => tf.tidy(() => tf.mul(tf.randomUniform([h, w, 3], 0, 1, 'float32', 10 + i), 0.5) as tf.Tensor3D));
  targets = inputs.map((t) => tf.tidy(() => tf.clipByValue(tf.mul(t, 1.6), 0, 1) as tf.Tensor3D));
});

afterAll(() => {
  tf.dispose([r, ...inputs, ...targets]);
  encoder.dispose();
});

const BASE: EnhancerTrainingConfig = {
  iterations: 6,
  warmupIterations: 2,
  lr: 1e-3,
  weightDecay: 1e-3,
  batchSize: 2,
  imageSize: 16,
  guidanceWeight: 20,
  identityWeight: 22.5,
  pixelWeight: 0,
  augment: true,
  seed: 5,
  checkpointEvery: 0,
  microBatch: 2,
};

/** A checkpoint as the trainer node writes it (weights + Adam state in one safetensors file), kept in memory. */
interface Saved {
  step: number;
  bytes: Uint8Array;
}

function recorder(net: () => EnhancerNet, saved: Saved[]): NonNullable<TrainingCallbacks['saveCheckpoint']> {
  return async ({ step, optimizer }) => {
    saved.push({ step, bytes: encodeEnhancer(net(), { step, optimizer, metadata: { run: 'test' } }) });
  };
}

/**
 * Trains a fresh network (seed `netSeed`) or resumes `from`; `saved` (when given) receives every
 * checkpoint as bytes.
 */
async function train(
  config: Partial<EnhancerTrainingConfig> = {},
  opts: { netSeed?: number; from?: { net: EnhancerNet; state?: TrainingState }; saved?: Saved[]; callbacks?: TrainingCallbacks } = {},
) {
  const net = opts.from?.net ?? EnhancerNet.create(opts.netSeed ?? 1);
  const steps: Array<{ step: number; metrics: Record<string, number> }> = [];
  const cb = opts.callbacks ?? {};
  const result = await trainEnhancer(
    net,
    encoder,
    guidance,
    { inputs },
    { ...BASE, ...config },
    {
      ...cb,
      onStep: (step, total, metrics) => {
        steps.push({ step, metrics });
        cb.onStep?.(step, total, metrics);
      },
      saveCheckpoint: opts.saved ? recorder(() => net, opts.saved) : undefined,
    },
    opts.from?.state,
  );
  return { net, result, steps };
}

describe('trainEnhancer: determinism', () => {
  it('stepRandom is a pure function of (seed, step)', () => {
    const draw = (seed: number, step: number) => Array.from({ length: 5 }, stepRandom(seed, step));
    expect(draw(3, 7)).toEqual(draw(3, 7));
    expect(draw(3, 7)).not.toEqual(draw(3, 8));
    expect(draw(3, 7)).not.toEqual(draw(4, 7));
    for (const v of draw(0, 0)) expect(v >= 0 && v < 1).toBe(true);
  });

  it('the same seed twice gives bit-identical weights; another seed gives other weights', async () => {
    const a = await train();
    const b = await train();
    const c = await train({ seed: 6 });
    expect(weightDiff(a.net, b.net)).toBe(0);
    expect(a.steps.map((s) => s.metrics)).toEqual(b.steps.map((s) => s.metrics));
    expect(weightDiff(a.net, c.net)).toBeGreaterThan(1e-4);
    // It trained: the weights moved and the warm-up/guided phases reported their own loss terms.
    const fresh = EnhancerNet.create(1);
    expect(weightDiff(a.net, fresh)).toBeGreaterThan(1e-3);
    expect(Object.keys(a.steps[0].metrics).sort()).toEqual(['loss', 'reconstruction']);
    expect(Object.keys(a.steps[5].metrics).sort()).toEqual(['guidance', 'identity', 'loss']);
    for (const s of a.steps) for (const v of Object.values(s.metrics)) expect(Number.isFinite(v)).toBe(true);
    expect(a.result).toMatchObject({ steps: 6, resumedFrom: 0 });
    [a.net, b.net, c.net, fresh].forEach((n) => n.dispose());
  });

  it('micro-batching gives the same update as the whole batch (identity loss summed over the batch either way)', async () => {
    const whole = await train({ microBatch: 2 });
    const chunks = await train({ microBatch: 1 });
    expect(weightDiff(whole.net, chunks.net)).toBeLessThan(1e-5);
    whole.steps.forEach((s, i) => {
      for (const [k, v] of Object.entries(s.metrics)) expect(chunks.steps[i].metrics[k], `${k} at step ${s.step}`).toBeCloseTo(v, 4);
    });
    [whole.net, chunks.net].forEach((n) => n.dispose());
  });
});

describe('trainEnhancer: checkpoints and resume', () => {
  it('N steps straight = N/2 steps, checkpoint (bytes), resume for N/2: same weights, same batches and augmentations, same Adam state', async () => {
    const straightSaved: Saved[] = [];
    const straight = await train({ checkpointEvery: 3 }, { saved: straightSaved });
    expect(straightSaved.map((s) => s.step)).toEqual([3, 6]);

    const halfSaved: Saved[] = [];
    const half = await train({ iterations: 3 }, { saved: halfSaved });
    expect(halfSaved.map((s) => s.step)).toEqual([3]);
    // The half run's checkpoint is byte-identical to the straight run's at step 3.
    expect(Buffer.from(halfSaved[0].bytes).equals(Buffer.from(straightSaved[0].bytes))).toBe(true);

    const restored = decodeEnhancer('ckpt.safetensors', halfSaved[0].bytes);
    expect(restored.state?.step).toBe(3);
    const resumed = await train({}, { from: restored });
    expect(resumed.result).toMatchObject({ steps: 6, resumedFrom: 3 });
    expect(resumed.steps.map((s) => s.step)).toEqual([4, 5, 6]);
    expect(weightDiff(straight.net, resumed.net)).toBeLessThanOrEqual(1e-6);
    // The per-step losses of the resumed half are the straight run's.
    resumed.steps.forEach((s, i) => expect(s.metrics.loss).toBeCloseTo(straight.steps[3 + i].metrics.loss, 5));
    [straight.net, half.net, resumed.net].forEach((n) => n.dispose());
  });

  it('resuming does not depend on the order of the optimizer tensors in the file', async () => {
    const saved: Saved[] = [];
    const half = await train({ iterations: 3 }, { netSeed: 2, saved });
    const straight = await train({}, { netSeed: 2 });
    const restored = decodeEnhancer('ckpt.safetensors', saved[0].bytes);
    // Reverse the moments (as a tool re-saving the file in another order would).
    const shuffled = new Map([...restored.state!.optimizer!].reverse());
    const resumed = await train({}, { from: { net: restored.net, state: { ...restored.state!, optimizer: shuffled } } });
    expect(weightDiff(straight.net, resumed.net)).toBeLessThanOrEqual(1e-6);
    [half.net, straight.net, resumed.net].forEach((n) => n.dispose());
  });

  it('checkpoints every checkpointEvery steps and at the end', async () => {
    const saved: Saved[] = [];
    const run = await train({ iterations: 5, checkpointEvery: 2 }, { saved });
    expect(saved.map((s) => s.step)).toEqual([2, 4, 5]);
    run.net.dispose();
  });
});

describe('trainEnhancer: failures, cancellation, memory', () => {
  it('a NaN loss throws TrainingDiverged naming the step; the last checkpoint written is the one before it', async () => {
    // A guidance whose loss is NaN (but still depends on the embeddings, so it is differentiable).
    const nan: Guidance = { space: encoder.space, label: 'NaN', loss: (emb) => tf.tidy(() => tf.mul(tf.sum(emb), NaN) as tf.Scalar), score: (emb) => tf.zeros([emb.shape[0]]) };
    const net = EnhancerNet.create(1);
    const saved: Saved[] = [];
    const before = tf.memory().numTensors;
    const err = await trainEnhancer(net, encoder, nan, { inputs }, { ...BASE, iterations: 6, warmupIterations: 2, checkpointEvery: 1 }, { saveCheckpoint: recorder(() => net, saved) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TrainingDiverged);
    expect((err as Error).message).toMatch(/diverged at step 3\b/);
    expect((err as Error).message).toMatch(/NaN/);
    // Warm-up steps 1 and 2 were checkpointed; nothing at or after the divergence.
    expect(saved.map((s) => s.step)).toEqual([1, 2]);
    expect(tf.memory().numTensors).toBe(before); // the failed run released everything it made
    const last = decodeEnhancer('ckpt.safetensors', saved[saved.length - 1].bytes);
    expect(last.state?.step).toBe(2);
    for (const [k, t] of last.net.stateDict()) expect(t.data.every(Number.isFinite), k).toBe(true);
    net.dispose();
    last.net.dispose();
  });

  it('an AbortController aborted from onStep stops the loop, writes a checkpoint at that step, leaks nothing; resuming from it finishes like a straight run', async () => {
    const net = EnhancerNet.create(1);
    const saved: Saved[] = [];
    const controller = new AbortController();
    const seen: number[] = [];
    const before = tf.memory().numTensors;
    const result = await trainEnhancer(
      net,
      encoder,
      guidance,
      { inputs },
      { ...BASE },
      {
        signal: controller.signal,
        onStep: (step) => {
          seen.push(step);
          if (step === 3) controller.abort();
        },
        saveCheckpoint: recorder(() => net, saved),
      },
    );
    expect(seen).toEqual([1, 2, 3]);
    expect(result).toMatchObject({ steps: 3, resumedFrom: 0 });
    expect(saved.map((s) => s.step)).toEqual([3]);
    expect(tf.memory().numTensors).toBe(before);

    const restored = decodeEnhancer('ckpt.safetensors', saved[0].bytes);
    expect(weightDiff(restored.net, net)).toBe(0);
    const resumed = await train({}, { from: restored });
    const straight = await train();
    expect(resumed.result.resumedFrom).toBe(3);
    expect(weightDiff(straight.net, resumed.net)).toBeLessThanOrEqual(1e-6);
    [net, resumed.net, straight.net].forEach((n) => n.dispose());
  });

  it('a full run (fresh, then resumed, with pixel loss and ground truth) returns memory to its baseline', async () => {
    const net = EnhancerNet.create(1);
    const before = tf.memory().numTensors;
    let state: TrainingState | undefined;
    await trainEnhancer(net, encoder, guidance, { inputs, targets }, { ...BASE, iterations: 3, pixelWeight: 1 }, {
      saveCheckpoint: async ({ step, optimizer }) => void (state = { step, optimizer, metadata: {} }),
    });
    expect(tf.memory().numTensors).toBe(before);
    const steps: Array<Record<string, number>> = [];
    await trainEnhancer(net, encoder, guidance, { inputs, targets }, { ...BASE, iterations: 5, pixelWeight: 1 }, { onStep: (_s, _t, m) => void steps.push(m) }, state);
    expect(tf.memory().numTensors).toBe(before);
    expect(Object.keys(steps[steps.length - 1]).sort()).toEqual(['guidance', 'identity', 'loss', 'pixel']);
    net.dispose();
  });

  it('outputRange tells a collapsed (flat-output) network from a live one, and leaks nothing', async () => {
    const image = tf.tidy(() => tf.randomUniform([24, 20, 3], 0, 1, 'float32', 5) as tf.Tensor3D);
    // A collapsed network: an illumination head stuck at L = 1e-6 clamps every pixel of I / L to white.
    const dead = EnhancerNet.create(3);
    tf.tidy(() => {
      dead.weights.get('cond_add1.weight')!.assign(tf.zerosLike(dead.weights.get('cond_add1.weight')!));
      dead.weights.get('cond_add1.bias')!.assign(tf.fill(dead.weights.get('cond_add1.bias')!.shape, 1e-6));
    });
    const before = tf.memory().numTensors;
    const flat = await outputRange(dead, image, 16);
    expect(tf.memory().numTensors).toBe(before);
    expect(flat.input).toBeGreaterThan(0.5);
    expect(flat.output).toBeLessThan(1e-3);
    // The trainer's start (illumination bias 1, L ≈ 1, out ≈ in) is textured.
    const live = EnhancerNet.create(3);
    tf.tidy(() => live.weights.get('cond_add1.bias')!.assign(tf.onesLike(live.weights.get('cond_add1.bias')!)));
    expect((await outputRange(live, image, 16)).output).toBeGreaterThan(0.1);
    dead.dispose();
    live.dispose();
    image.dispose();
  });

  it('checkHealth runs every HEALTH_EVERY steps, before each checkpoint and at the end; a throw stops training before that step is saved', async () => {
    const net = EnhancerNet.create(2);
    const saved: Saved[] = [];
    const checked: number[] = [];
    const before = tf.memory().numTensors;
    const steps: number[] = [];
    const stop = new Error('unhealthy');
    const err = await trainEnhancer(net, encoder, guidance, { inputs }, { ...BASE, iterations: 45, checkpointEvery: 30 }, {
      onStep: (s) => void steps.push(s),
      saveCheckpoint: recorder(() => net, saved),
      checkHealth: async (step) => {
        checked.push(step);
        if (step === 2 * HEALTH_EVERY) throw stop;
      },
    }).then(() => undefined, (e: unknown) => e);
    expect(err).toBe(stop);
    expect(checked).toEqual([HEALTH_EVERY, 30, 2 * HEALTH_EVERY]);
    expect(saved.map((s) => s.step)).toEqual([30]); // not 40: the check failed first
    expect(Math.max(...steps)).toBe(2 * HEALTH_EVERY); // nothing trained after the failed check
    expect(tf.memory().numTensors).toBe(before);
    // A run that passes every check calls it at the end too.
    const fine: number[] = [];
    await trainEnhancer(net, encoder, guidance, { inputs }, { ...BASE, iterations: 5 }, { checkHealth: async (step) => void fine.push(step) });
    expect(fine).toEqual([5]);
    net.dispose();
  });

  it('assertNotCollapsed throws TrainingCollapsed (step, image, ranges) for a flat output only', async () => {
    const image = { name: 'a.png', tensor: tf.tidy(() => tf.add(tf.mul(tf.randomUniform([20, 20, 3], 0, 1, 'float32', 6), 0.8), 0.1) as tf.Tensor3D) };
    const flat = EnhancerNet.create(3);
    tf.tidy(() => {
      flat.weights.get('cond_add1.weight')!.assign(tf.zerosLike(flat.weights.get('cond_add1.weight')!));
      flat.weights.get('cond_add1.bias')!.assign(tf.fill(flat.weights.get('cond_add1.bias')!.shape, 0.02)); // I/0.02 ≥ 1 for every pixel ≥ 0.1
    });
    const err = await assertNotCollapsed(flat, image, 16, 60).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(TrainingCollapsed);
    expect((err as TrainingCollapsed).message).toMatch(/collapsed at step 60: the enhancer turns "a\.png" \(value range 0\.\d+\) into a flat image \(range 0\.0e\+0\)/);
    const live = EnhancerNet.create(3);
    tf.tidy(() => live.weights.get('cond_add1.bias')!.assign(tf.onesLike(live.weights.get('cond_add1.bias')!)));
    await expect(assertNotCollapsed(live, image, 16, 60)).resolves.toBeUndefined();
    tf.dispose([image.tensor]);
    flat.dispose();
    live.dispose();
  });

  it('refuses a guidance from another embedding space and ground truth that does not line up', async () => {
    const net = EnhancerNet.create(1);
    const other = residualGuidance(r, 0.4, 'clip:elsewhere');
    await expect(trainEnhancer(net, encoder, other, { inputs }, BASE)).rejects.toThrow(/"clip:elsewhere".*"stats:v1"/);
    await expect(trainEnhancer(net, encoder, guidance, { inputs, targets: targets.slice(1) }, BASE)).rejects.toThrow(/4 inputs but 3 ground-truth/);
    net.dispose();
  });
});
