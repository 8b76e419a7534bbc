/**
 * Cross-check of the tfjs CLIP vision tower against a second, independent implementation: the PyTorch
 * tower of tools/reference/tiny_clip_onnx.py, exported to ONNX and executed by onnxruntime-node.
 *
 * - Always: tfjs vs the committed fixture fixtures/onnx_tiny_clip.json (ORT outputs for 4 seeded random
 *   NCHW pixel tensors), so a fresh clone needs neither Python nor the .onnx.
 * - When tools/reference/out/tiny_clip_vision.onnx exists (`/usr/bin/python3 tools/reference/tiny_clip_onnx.py`,
 *   or `npx tsx bench/encode.ts` creates it): onnxruntime-node live on fresh random batches.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedDataDir, useTestBackend } from '../testing';
import { ClipEncoder } from './encoder';
import { loadOnnxRuntime } from './ortLoader';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const tinyDir = path.join(sharedDataDir, 'tiny-clip');
const onnxPath = path.resolve(here, '../../../tools/reference/out/tiny_clip_vision.onnx');
const TOL = 1e-4;

interface OnnxFixture {
  shape: [number, number, number, number];
  pixel_values: number[][];
  image_embeds: number[][];
}
const fixture = JSON.parse(readFileSync(path.join(here, 'fixtures/onnx_tiny_clip.json'), 'utf8')) as OnnxFixture;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** NCHW (ONNX/PyTorch layout) flat data → NHWC tensor (the tfjs tower's layout). */
function nchwToNhwc(data: Float32Array, shape: readonly number[]): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(data, shape as [number, number, number, number]), [0, 2, 3, 1]) as tf.Tensor4D);
}

function l2NormalizeRows(rows: number[][]): number[] {
  return rows.flatMap((r) => {
    const n = Math.hypot(...r);
    return r.map((v) => v / n);
  });
}

let clip: ClipEncoder;
beforeAll(async () => {
  await useTestBackend('wasm');
  clip = ClipEncoder.fromBytes({ config: readFileSync(path.join(tinyDir, 'config.json'), 'utf8'), weights: readFileSync(path.join(tinyDir, 'model.safetensors')) }, { name: 'tiny-clip' });
});
afterAll(() => clip?.dispose());

describe('tiny CLIP vision tower: tfjs vs onnxruntime (committed fixture)', () => {
  const pixels = Float32Array.from(fixture.pixel_values.flat());

  it('fixture is batch 4 of [3,16,16] → 8-d', () => {
    expect(fixture.shape).toEqual([4, 3, 16, 16]);
    expect(fixture.image_embeds.length).toBe(4);
    expect(fixture.image_embeds[0].length).toBe(clip.dim);
  });

  it(`unnormalised image embeds match ORT to ${TOL}`, () => {
    const out = tf.tidy(() => clip.model.vision(nchwToNhwc(pixels, fixture.shape)).embeds);
    expect(maxAbsDiff(out.dataSync(), fixture.image_embeds.flat())).toBeLessThanOrEqual(TOL);
    out.dispose();
  });

  it(`encodePixelValues (L2-normalised) matches normalised ORT output to ${TOL}`, () => {
    const out = tf.tidy(() => clip.encodePixelValues(nchwToNhwc(pixels, fixture.shape)));
    expect(maxAbsDiff(out.dataSync(), l2NormalizeRows(fixture.image_embeds))).toBeLessThanOrEqual(TOL);
    out.dispose();
  });
});

const ortInstalled = (() => {
  try {
    createRequire(import.meta.url).resolve('onnxruntime-node');
    return true;
  } catch {
    return false;
  }
})();
const skipReason = !existsSync(onnxPath)
  ? `${path.relative(process.cwd(), onnxPath)} missing (create it: /usr/bin/python3 tools/reference/tiny_clip_onnx.py)`
  : !ortInstalled
    ? 'onnxruntime-node is not installed (optional: npm install --no-save onnxruntime-node)'
    : '';
describe.skipIf(Boolean(skipReason))(`tiny CLIP vision tower: tfjs vs onnxruntime-node live${skipReason ? ` — skipped: ${skipReason}` : ''}`, () => {
  it(`random batches of 4 match to ${TOL}`, async () => {
    const ort = await loadOnnxRuntime();
    if (typeof ort === 'string') throw new Error(ort);
    const session = await ort.InferenceSession.create(onnxPath, { executionProviders: ['cpu'] });
    try {
      const shape = [4, 3, 16, 16] as const;
      // The committed fixture's inputs first (ORT must still agree with its own recorded output), then fresh seeds.
      const inputs: Float32Array[] = [Float32Array.from(fixture.pixel_values.flat())];
      for (const seed of [1, 2, 3]) inputs.push(tf.tidy(() => tf.randomNormal([...shape], 0, 1, 'float32', seed).dataSync() as Float32Array));
      for (const [i, data] of inputs.entries()) {
        const result = await session.run({ pixel_values: new ort.Tensor('float32', data, [...shape]) });
        const live = result.image_embeds.data as Float32Array;
        expect(result.image_embeds.dims).toEqual([4, clip.dim]);
        if (i === 0) expect(maxAbsDiff(live, fixture.image_embeds.flat())).toBeLessThanOrEqual(1e-6);
        const out = tf.tidy(() => clip.model.vision(nchwToNhwc(data, shape)).embeds);
        expect(maxAbsDiff(out.dataSync(), live)).toBeLessThanOrEqual(TOL);
        out.dispose();
      }
    } finally {
      await session.release();
    }
  });
});
