import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import enhance from './enhance';
import type { ImageBatchValue, NodeContext } from '../src/engine';
import { MemoryHost } from '../src/engine/testing/memoryHost';
import { fakeContext } from '../src/engine/testing/build';
import { EnhancerNet } from '../src/ml/enhancer/network';
import { useTestBackend } from '../src/ml/testing';

// The wasm heap budget for a full pass, lowered per test: the real one (≈0.9 MP) would need a
// photo that takes minutes on this machine. fullPassFits itself is tested in inference.test.ts.
const budget = vi.hoisted(() => ({ bytes: Number.POSITIVE_INFINITY }));
vi.mock('../src/ml/enhancer/inference', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../src/ml/enhancer/inference')>();
  return { ...actual, fullPassFits: (H: number, W: number, _backend?: string, live = 0) => live + actual.fullPassBytes(H, W) <= budget.bytes };
});

let net: EnhancerNet;
let a: tf.Tensor3D;
let b: tf.Tensor3D;

beforeAll(async () => {
  await useTestBackend('wasm');
  net = EnhancerNet.create(2);
  a = tf.randomUniform([150, 140, 3], 0, 1, 'float32', 1) as tf.Tensor3D;
  b = tf.randomUniform([100, 70, 3], 0, 1, 'float32', 2) as tf.Tensor3D;
});
afterAll(() => {
  tf.dispose([a, b]);
  net.dispose();
});

interface Recorded { step: number; total: number; message?: string }

function context(signal?: AbortSignal, onProgress?: (r: Recorded) => void) {
  const base = fakeContext(new MemoryHost(), 'enh');
  const progress: Recorded[] = [];
  const ctx: NodeContext & { logs: string[] } = {
    ...base,
    signal: signal ?? base.signal,
    progress: (step, total, info) => {
      const r = { step, total, message: info?.message };
      progress.push(r);
      onProgress?.(r);
    },
    throwIfCancelled: () => {
      if (signal?.aborted) throw new Error('run cancelled');
    },
  };
  return { ctx, progress };
}

const images = (): ImageBatchValue => ({ kind: 'ImageBatch', images: [{ name: 'a.png', tensor: a }, { name: 'b.png', tensor: b }] });
const maxAbsDiff = (x: tf.Tensor, y: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(x, y))).dataSync()[0]);

describe('Enhance on big photos: per-tile progress, cancel between tiles, full → tiled', () => {
  it('tiled: progress moves per tile across the batch (k/N, time left) and ends at total', async () => {
    const { ctx, progress } = context();
    const out = await enhance.run({ inputs: { images: images(), enhancer: net }, params: enhance.params.parse({ mode: 'tiled', tile: 64 }), ctx });
    // a: 3×3 tiles, b: 2×2 tiles; each counted twice (context pass + output pass).
    const total = 2 * 9 + 2 * 4;
    expect(progress.every((p) => p.total === total)).toBe(true);
    const steps = progress.map((p) => p.step);
    expect(steps[0]).toBe(0);
    expect(steps[steps.length - 1]).toBe(total);
    for (let i = 1; i < steps.length; i++) expect(steps[i]).toBeGreaterThanOrEqual(steps[i - 1]);
    expect(progress.some((p) => /^a\.png \(1\/2\) · tile 9\/9 · ~\d+ s left$/.test(p.message ?? ''))).toBe(true);
    expect(progress.some((p) => /^b\.png \(2\/2\) · context 4\/4 · ~\d+ s left$/.test(p.message ?? ''))).toBe(true);
    const imgs = (out.images as ImageBatchValue).images;
    expect(imgs.map((i) => i.tensor.shape)).toEqual([a.shape, b.shape]);
    tf.dispose(imgs.map((i) => i.tensor));
  }, 120_000);

  it('cancel between tiles: stops within a tile, frees everything, reports the cancellation', async () => {
    const abort = new AbortController();
    let stepsAfterAbort = 0;
    const { ctx } = context(abort.signal, (r) => {
      if (abort.signal.aborted) stepsAfterAbort++;
      if (r.step === 5) abort.abort(new Error('abort reason (must not leak out)'));
    });
    const before = tf.memory().numTensors;
    const err = await enhance.run({ inputs: { images: images(), enhancer: net }, params: enhance.params.parse({ mode: 'tiled', tile: 64 }), ctx }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toBe('run cancelled');
    expect(stepsAfterAbort).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);

  it('full mode on a photo that would not fit the heap runs tiled with a note, same result', async () => {
    budget.bytes = 0.5 * 150 * 140 * 1700; // a (150×140) does not fit, b (100×70) does
    try {
      const { ctx, progress } = context();
      const out = await enhance.run({ inputs: { images: images(), enhancer: net }, params: enhance.params.parse({ mode: 'full', tile: 64 }), ctx });
      expect(ctx.logs).toHaveLength(1);
      expect(ctx.logs[0]).toMatch(/^a\.png: 140×150 \(0\.0 MP\) needs ~0\.0 GiB for a full pass, more than the wasm heap holds; running it tiled instead/);
      expect(progress[progress.length - 1]).toEqual({ step: 2 * 9 + 1, total: 2 * 9 + 1, message: undefined });
      const imgs = (out.images as ImageBatchValue).images;
      for (const [i, src] of [a, b].entries()) {
        const ref = net.forward(src.expandDims(0) as tf.Tensor4D, { padMode: 'reflect' });
        expect(maxAbsDiff(imgs[i].tensor, ref.out.squeeze([0]))).toBeLessThan(1e-4);
        tf.dispose([ref.L, ref.out]);
      }
      tf.dispose(imgs.map((i) => i.tensor));
    } finally {
      budget.bytes = Number.POSITIVE_INFINITY;
    }
  }, 120_000);
});
