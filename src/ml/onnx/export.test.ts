import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPth } from '../pth';
import { sharedDataDir, useTestBackend } from '../testing';
import { EnhancerNet, type PadMode } from '../enhancer/network';
import { enhanceTiled } from '../enhancer/inference';
import { decodeEnhancer } from '../training/enhancerFiles';
import { enhancerGraph, unusedParameters } from './export';
import { OnnxEnhancer } from './runtime';

async function loadCrop(file: string, width: number, height: number): Promise<tf.Tensor4D> {
  const { data, info } = await sharp(file).extract({ left: 0, top: 0, width, height }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return tf.tidy(() => tf.div(tf.tensor4d(new Uint8Array(data), [1, info.height, info.width, 3], 'int32'), 255)) as tf.Tensor4D;
}

const maxAbs = (a: Float32Array | Uint8Array | Int32Array, b: Float32Array | Uint8Array | Int32Array) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

const PHOTO = `${sharedDataDir}/images/backlit/backlit_cliplit_30374039626_355dca2192_o.jpg`;
const WEIGHTS: [string, () => EnhancerNet, PadMode][] = [
  ['released CLIP-LIT (cliplit-weights/enhancement_model.pth), reflect', () => EnhancerNet.fromStateDict(readPth(readFileSync(`${sharedDataDir}/cliplit-weights/enhancement_model.pth`))), 'reflect'],
  ['bundled enhancer (public/models/bundled-enhancer), reflect', () => decodeEnhancer('bundled-enhancer.safetensors', readFileSync(new URL('../../../public/models/bundled-enhancer/bundled-enhancer.safetensors', import.meta.url))).net, 'reflect'],
  ['RAVE latent paired (rave-weights/clip_lit_latent_paired.pth), zero padding', () => EnhancerNet.fromStateDict(readPth(readFileSync(`${sharedDataDir}/rave-weights/clip_lit_latent_paired.pth`))), 'zero'],
];

describe('ONNX export of the enhancer (our weights, our layer lists) on onnxruntime-node', () => {
  let img: tf.Tensor4D;
  beforeAll(async () => {
    await useTestBackend('wasm');
    img = await loadCrop(PHOTO, 200, 150);
  }, 120_000);
  afterAll(() => img.dispose());

  it('the graph uses every parameter of the network exactly once as an initializer', () => {
    const net = EnhancerNet.create(1);
    expect(unusedParameters(net)).toEqual([]);
    const g = enhancerGraph(net, 'full');
    expect(new Set(g.initializers.map((t) => t.name)).size).toBe(g.initializers.length);
    // 17 3×3 convs + 4 PPM 1×1 convs.
    expect(g.nodes.filter((n) => n.op === 'Conv')).toHaveLength(21);
    net.dispose();
  });

  for (const [label, make, padMode] of WEIGHTS) {
    it(`full pass equals tfjs net.forward within 1e-4: ${label}`, async () => {
      const net = make();
      const ref = net.forward(img, { padMode });
      const onnx = await OnnxEnhancer.create(net, { threads: 2, padMode });
      const got = await onnx.enhance(img, { mode: 'full' });
      const dL = maxAbs(got.L.dataSync(), ref.L.dataSync());
      const dOut = maxAbs(got.out.dataSync(), ref.out.dataSync());
      expect(dL).toBeLessThan(1e-4);
      expect(dOut).toBeLessThan(1e-4);
      // Not trivially equal: the map is not constant.
      const L = ref.L.dataSync();
      expect(Math.max(...L) - Math.min(...L)).toBeGreaterThan(0.05);
      tf.dispose([ref.L, ref.out, got.L, got.out]);
      await onnx.release();
      net.dispose();
    }, 120_000);
  }

  it('tiled (tiles of 128 px, halo 24) equals tfjs enhanceTiled and the full pass within 1e-4, with per-tile progress', async () => {
    const net = EnhancerNet.fromStateDict(readPth(readFileSync(`${sharedDataDir}/cliplit-weights/enhancement_model.pth`)));
    const ref = net.forward(img, { padMode: 'reflect' });
    const tiledRef = enhanceTiled(net, img, { tile: 128, halo: 24 });
    const onnx = await OnnxEnhancer.create(net, { threads: 2 });
    const seen: string[] = [];
    const got = await onnx.enhance(img, { tile: 128, halo: 24, onProgress: (p) => seen.push(`${p.phase}:${p.tile}/${p.tiles}`) });
    expect(maxAbs(got.out.dataSync(), ref.out.dataSync())).toBeLessThan(1e-4);
    expect(maxAbs(got.L.dataSync(), tiledRef.L.dataSync())).toBeLessThan(1e-4);
    expect(seen).toEqual([...[1, 2, 3, 4].map((k) => `context:${k}/4`), ...[1, 2, 3, 4].map((k) => `tiles:${k}/4`)]);
    tf.dispose([ref.L, ref.out, tiledRef.L, tiledRef.out, got.L, got.out]);
    await onnx.release();
    net.dispose();
  }, 120_000);

  it('leaves its input as it was on tfjs-cpu, whose data() hands out the tensor\'s own storage', async () => {
    await useTestBackend('cpu');
    const net = EnhancerNet.create(5);
    const onnx = await OnnxEnhancer.create(net);
    const x = tf.tidy(() => tf.mul(tf.randomUniform([1, 40, 48, 3], 0, 1, 'float32', 7), 0.5)) as tf.Tensor4D;
    const before = (await x.data()).slice();
    const got = await onnx.enhance(x, { mode: 'full' });
    expect(maxAbs(await x.data(), before)).toBe(0);
    expect(got.out.dataId).not.toBe(x.dataId);
    tf.dispose([x, got.L, got.out]);
    await onnx.release();
    net.dispose();
    await useTestBackend('wasm');
  }, 60_000);

  it('stops between tiles when the signal aborts', async () => {
    const net = EnhancerNet.create(3);
    const onnx = await OnnxEnhancer.create(net);
    const abort = new AbortController();
    let reports = 0;
    const run = onnx.enhance(img, { tile: 128, signal: abort.signal, onProgress: () => (++reports === 2 ? abort.abort(new Error('stop')) : undefined) });
    await expect(run).rejects.toThrow('stop');
    expect(reports).toBe(2);
    await onnx.release();
    net.dispose();
  }, 60_000);
});
