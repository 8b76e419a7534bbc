import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import encodeImages from '../../nodes/encodeImages';
import type { EmbeddingsValue, ImageBatchValue } from '../engine';
import { fakeContext } from '../engine/testing/build';
import { MemoryHost } from '../engine/testing/memoryHost';
import { ClipEncoder } from '../ml/clip/encoder';
import { StatsEncoder } from '../ml/encoders/stats';
import { imageEncodeEngine } from '../ml/onnx/engine';
import { sharedDataDir, useTestBackend, maxAbsDiff } from '../ml/testing';
import { REPO_ROOT } from './nodeHost';
import { configureEnhanceEngine } from './onnxEngine';
import { runBacklit } from './testing';

/**
 * Encode Images' CLIP vision tower on onnxruntime-node (graph exported from the same weights): the
 * node's embeddings, and `backlit run`'s residual numbers, equal the tfjs path within 1e-4.
 */
const TOL = 1e-4;
const dir = mkdtempSync(path.join(os.tmpdir(), 'backlit-onnx-clip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));


describe('Encode Images with the onnx engine installed (in process)', () => {
  let clip: ClipEncoder;
  beforeAll(async () => {
    await useTestBackend('wasm');
    const tiny = path.join(sharedDataDir, 'tiny-clip');
    clip = ClipEncoder.fromBytes({ config: readFileSync(path.join(tiny, 'config.json'), 'utf8'), weights: readFileSync(path.join(tiny, 'model.safetensors')) }, { name: 'tiny-clip' });
  });
  afterAll(async () => {
    clip?.dispose();
    await configureEnhanceEngine('tfjs', 1);
  });

  async function encode(encoder: ClipEncoder | StatsEncoder, batch: ImageBatchValue, preprocess: 'dataset' | 'loss') {
    const ctx = fakeContext(new MemoryHost(), 'emb');
    const out = await encodeImages.run({ inputs: { images: batch, encoder }, params: encodeImages.params.parse({ preprocess }), ctx });
    return { value: out.embeddings as EmbeddingsValue, ctx };
  }

  it('equals the tfjs node within 1e-4 for both preprocessings, logs the engine, leaks no tensors; stats stays on tfjs', async () => {
    const sizes: [number, number][] = [[40, 56], [33, 20], [64, 64], [17, 90]];
    const batch: ImageBatchValue = { kind: 'ImageBatch', images: sizes.map(([h, w], i) => ({ name: `p${i}.png`, tensor: tf.randomUniform([h, w, 3], 0, 1, 'float32', 20 + i) as tf.Tensor3D })) };
    for (const preprocess of ['dataset', 'loss'] as const) {
      expect(await configureEnhanceEngine('tfjs', 1, 'wasm')).toBe('enhance: tfjs');
      expect(imageEncodeEngine()).toBeNull();
      const ref = await encode(clip, batch, preprocess);
      expect(await configureEnhanceEngine('onnx', 1, 'wasm')).toMatch(/^enhance: onnxruntime-node 1\.\d+\.\d+, 1 thread \(also Encode Images' CLIP tower\)$/);
      expect(imageEncodeEngine()?.accepts(clip)).toBe(true);
      await encode(clip, batch, preprocess).then(({ value }) => value.tensor.dispose()); // session built once, before counting tensors
      const before = tf.memory().numTensors;
      const got = await encode(clip, batch, preprocess);
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(got.ctx.logs.join('\n')).toMatch(/CLIP vision tower on onnxruntime-node/);
      expect(ref.ctx.logs.join('\n')).not.toMatch(/onnxruntime/);
      expect(got.value.tensor.shape).toEqual([4, 8]);
      expect(got.value.names).toEqual(ref.value.names);
      expect(got.value.space).toBe('clip:tiny-clip');
      expect(maxAbsDiff(got.value.tensor.dataSync(), ref.value.tensor.dataSync())).toBeLessThanOrEqual(TOL);
      tf.dispose([got.value.tensor, ref.value.tensor]);
    }
    const stats = new StatsEncoder();
    expect(imageEncodeEngine()?.accepts(stats)).toBe(false);
    const s = await encode(stats, batch, 'dataset');
    expect(s.ctx.logs.join('\n')).not.toMatch(/onnxruntime/);
    s.value.tensor.dispose();
    stats.dispose();
    tf.dispose(batch.images.map((im) => im.tensor));
  }, 120_000);
});

function graph(): string {
  const file = path.join(dir, 'clip-residual.json');
  const samples = path.join(REPO_ROOT, 'public/samples');
  writeFileSync(file, JSON.stringify({
    format: 'backlit-graph',
    version: 1,
    meta: { name: 'onnx CLIP tower test' },
    nodes: [
      { id: 'well-lit', type: 'image-loader', params: { source: path.join(samples, 'well-lit/skimage_*'), maxSide: 96 }, position: { x: 0, y: 0 } },
      { id: 'backlit', type: 'image-loader', params: { source: path.join(samples, 'more-well-lit/opencv_a*'), maxSide: 96 }, position: { x: 0, y: 300 } },
      { id: 'clip', type: 'encoder', params: { model: 'clip', source: path.join(REPO_ROOT, 'public/models/tiny-clip') }, position: { x: 300, y: 600 } },
      { id: 'enc-pos', type: 'encode-images', params: {}, position: { x: 300, y: 0 } },
      { id: 'enc-neg', type: 'encode-images', params: { preprocess: 'loss' }, position: { x: 300, y: 300 } },
      { id: 'v-pos', type: 'mean-embedding', params: {}, position: { x: 600, y: 0 } },
      { id: 'v-neg', type: 'mean-embedding', params: {}, position: { x: 600, y: 300 } },
      { id: 'r', type: 'residual-vector', params: { saveAs: 'residual.json' }, position: { x: 900, y: 150 } },
    ],
    edges: [
      { from: { node: 'well-lit', port: 'images' }, to: { node: 'enc-pos', port: 'images' } },
      { from: { node: 'backlit', port: 'images' }, to: { node: 'enc-neg', port: 'images' } },
      { from: { node: 'clip', port: 'encoder' }, to: { node: 'enc-pos', port: 'encoder' } },
      { from: { node: 'clip', port: 'encoder' }, to: { node: 'enc-neg', port: 'encoder' } },
      { from: { node: 'enc-pos', port: 'embeddings' }, to: { node: 'v-pos', port: 'embeddings' } },
      { from: { node: 'enc-neg', port: 'embeddings' }, to: { node: 'v-neg', port: 'embeddings' } },
      { from: { node: 'v-pos', port: 'mean' }, to: { node: 'r', port: 'wellLit' } },
      { from: { node: 'v-neg', port: 'mean' }, to: { node: 'r', port: 'backlit' } },
      { from: { node: 'enc-pos', port: 'embeddings' }, to: { node: 'r', port: 'wellLitEmbeddings' } },
    ],
  }));
  return file;
}

interface Residual {
  thr: number;
  thrPaper: number;
  r: number[];
  vPos: number[];
  vNeg: number[];
  counts: { wellLit: number; backlit: number };
}

async function run(engine: 'onnx' | 'tfjs'): Promise<{ residual: Residual; stderr: string }> {
  const out = path.join(dir, engine);
  const r = await runBacklit(['--threads', '2', 'run', graph(), '--engine', engine, '--out', out]);
  expect(r.code, r.stderr).toBe(0);
  return { residual: JSON.parse(readFileSync(path.join(out, 'residual.json'), 'utf8')) as Residual, stderr: r.stderr };
}

describe('backlit run --engine onnx: Encode Images with the tiny CLIP', () => {
  it(`residual r, v_pos, v_neg and thr equal --engine tfjs within ${TOL}`, async () => {
    const a = await run('onnx');
    const b = await run('tfjs');
    expect(a.stderr).toMatch(/CLIP vision tower on onnxruntime-node 1\.\d+\.\d+ \(2 threads\)/);
    expect(b.stderr).not.toMatch(/CLIP vision tower on/);
    expect(a.residual.counts).toEqual({ wellLit: 4, backlit: 3 });
    expect(b.residual.counts).toEqual(a.residual.counts);
    expect(a.residual.r).toHaveLength(8);
    for (const k of ['r', 'vPos', 'vNeg'] as const) expect(maxAbsDiff(a.residual[k], b.residual[k]), k).toBeLessThanOrEqual(TOL);
    expect(Math.abs(a.residual.thr - b.residual.thr)).toBeLessThanOrEqual(TOL);
    expect(Math.abs(a.residual.thrPaper - b.residual.thrPaper)).toBeLessThanOrEqual(TOL);
  }, 240_000);
});
