import { readFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import enhance from './enhance';
import imageLoader from './imageLoader';
import { BacklitError, Executor, NodeRegistry, type AnyNodeDefinition, type Host, type ImageBatchValue } from '../src/engine';
import { NodeHost } from '../src/cli/nodeHost';
import { MemoryHost, encodeRaw } from '../src/engine/testing/memoryHost';
import { fakeContext, graph, node, wire } from '../src/engine/testing/build';
import { rgbaFromImage } from '../src/engine/ports/images';
import { EnhancerNet } from '../src/ml/enhancer/network';
import { psnr } from '../src/ml/metrics';
import { sharedDataDir, useTestBackend } from '../src/ml/testing';

const PTH = path.join(sharedDataDir, 'rave-weights/rave_unpaired.pth');
const PHOTO = path.join(sharedDataDir, 'images/backlit/backlit_cliplit_110_51093502029_o.jpg');

let photo: tf.Tensor3D; // a real backlit photo, 150 px wide
let tmp: string;

beforeAll(async () => {
  await useTestBackend('wasm');
  const { data, info } = await sharp(PHOTO).resize(150, 150, { fit: 'inside' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  photo = tf.tensor3d(Float32Array.from(data, (v) => v / 255), [info.height, info.width, 3]);
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'backlit-enhance-'));
});

afterAll(async () => {
  photo.dispose();
  await fs.rm(tmp, { recursive: true, force: true });
});

const batch = (...images: Array<[string, tf.Tensor3D]>): ImageBatchValue => ({ kind: 'ImageBatch', images: images.map(([name, tensor]) => ({ name, tensor })) });

async function runEnhance(host: Host, params: Record<string, unknown>, images = batch(['photo.jpg', photo]), enhancer?: EnhancerNet) {
  const ctx = fakeContext(host, 'enh');
  const out = await enhance.run({ inputs: { images, enhancer }, params: enhance.params.parse(params), ctx });
  return { images: out.images as ImageBatchValue, enhancer: out.enhancer as EnhancerNet, ctx };
}

async function failure(p: Promise<unknown>): Promise<BacklitError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(BacklitError);
  return err as BacklitError;
}

const hostWithWeights = () => new MemoryHost().addFile('weights/rave_unpaired.pth', new Uint8Array(readFileSync(PTH)));
const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
const asRgb = (t: tf.Tensor3D) => ({ width: t.shape[1], height: t.shape[0], data: Float32Array.from(t.dataSync(), (v) => v * 255) });

function release(...results: Array<{ images: ImageBatchValue; enhancer?: EnhancerNet }>) {
  for (const r of results) {
    tf.dispose(r.images.images.map((i) => i.tensor));
    r.enhancer?.dispose();
  }
}

describe('enhance node with the released RAVE weights (rave_unpaired.pth)', () => {
  it('tiled (64 px tiles) equals the full-resolution pass (≤ 1e-4); fast mode is close (PSNR > 30 dB); the photo gets brighter', async () => {
    expect(photo.shape[1]).toBeGreaterThan(128); // several tiles in each direction
    const host = hostWithWeights();
    const full = await runEnhance(host, { weights: 'weights/rave_unpaired.pth', mode: 'full' });
    const tiled = await runEnhance(host, { weights: 'weights/rave_unpaired.pth', mode: 'tiled', tile: 64 });
    const fast = await runEnhance(host, { weights: 'weights/rave_unpaired.pth', mode: 'fast', fastFactor: 2 });
    const [f, t, q] = [full, tiled, fast].map((r) => r.images.images[0]);
    expect(f.name).toBe('photo.jpg');
    expect(f.tensor.shape).toEqual(photo.shape);
    expect(t.tensor.shape).toEqual(photo.shape);
    expect(q.tensor.shape).toEqual(photo.shape);
    expect(maxAbsDiff(t.tensor, f.tensor)).toBeLessThanOrEqual(1e-4);
    const fastPsnr = psnr(asRgb(q.tensor), asRgb(f.tensor), 255);
    expect(fastPsnr).toBeGreaterThan(30);
    expect(fastPsnr).toBeLessThan(200); // it is an approximation, not the same pass
    const mean = (x: tf.Tensor) => tf.tidy(() => tf.mean(x).dataSync()[0]);
    expect(mean(f.tensor)).toBeGreaterThan(mean(photo) + 0.02);
    release(full, tiled, fast);
  });

  it('reads the file through NodeHost (relative to the graph folder) with the same result as MemoryHost', async () => {
    const nodeHost = new NodeHost({ baseDirs: [sharedDataDir], outDir: path.join(tmp, 'out') });
    const viaDisk = await runEnhance(nodeHost, { weights: 'rave-weights/rave_unpaired.pth', mode: 'full' });
    const viaMemory = await runEnhance(hostWithWeights(), { weights: 'weights/rave_unpaired.pth', mode: 'full' });
    expect(maxAbsDiff(viaDisk.images.images[0].tensor, viaMemory.images.images[0].tensor)).toBe(0);
    release(viaDisk, viaMemory);
  });

  it('a wired enhancer wins over the weights file and is passed through; enhancing leaks nothing', async () => {
    const net = EnhancerNet.create(3);
    const before = tf.memory().numTensors;
    const r = await runEnhance(hostWithWeights(), { weights: 'weights/rave_unpaired.pth', mode: 'full' }, batch(['a', photo], ['b', photo]), net);
    expect(r.enhancer).toBe(net);
    expect(r.images.images.map((i) => i.name)).toEqual(['a', 'b']);
    expect(tf.memory().numTensors).toBe(before + 2); // just the two outputs
    const direct = tf.tidy(() => net.forward(photo.expandDims(0) as tf.Tensor4D, { padMode: 'reflect' }).out.squeeze([0]));
    expect(maxAbsDiff(direct, r.images.images[0].tensor)).toBe(0);
    direct.dispose();
    release(r);
  });
});

describe('enhance node errors name the "weights" field', () => {
  it('MemoryHost: a missing .pth / .safetensors / tfjs folder, an unreadable file, and no weights at all', async () => {
    const host = hostWithWeights().addFile('weights/broken.safetensors', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    const missing = await failure(runEnhance(host, { weights: 'weights/nope.pth' }));
    expect(missing.info).toMatchObject({ code: 'node-failed', nodeId: 'enh', field: 'weights' });
    expect(missing.info.message).toContain('weights/nope.pth');
    expect(missing.info.message).toMatch(/not found/);
    const missingSt = await failure(runEnhance(host, { weights: 'weights/nope.safetensors' }));
    expect(missingSt.info).toMatchObject({ field: 'weights' });
    const noFolder = await failure(runEnhance(host, { weights: 'weights/nope-tfjs' }));
    expect(noFolder.info).toMatchObject({ field: 'weights' });
    expect(noFolder.info.message).toMatch(/model\.json/);
    const broken = await failure(runEnhance(host, { weights: 'weights/broken.safetensors' }));
    expect(broken.info).toMatchObject({ field: 'weights' });
    expect(broken.info.message).toMatch(/could not be loaded/);
    const none = await failure(runEnhance(host, {}));
    expect(none.info).toMatchObject({ field: 'weights' });
    expect(none.info.fix).toMatch(/Enhancer Trainer/);
  });

  it('NodeHost: a file in a folder that does not exist, and a missing tfjs folder, also fail on "weights"', async () => {
    const nodeHost = new NodeHost({ baseDirs: [sharedDataDir], outDir: path.join(tmp, 'out') });
    const inMissingDir = await failure(runEnhance(nodeHost, { weights: 'no-such-folder/rave_unpaired.pth' }));
    expect(inMissingDir.info).toMatchObject({ nodeId: 'enh', field: 'weights' });
    expect(inMissingDir.info.message).toContain('no-such-folder/rave_unpaired.pth');
    const missingFile = await failure(runEnhance(nodeHost, { weights: 'rave-weights/nope.pth' }));
    expect(missingFile.info).toMatchObject({ field: 'weights' });
    const missingTfjs = await failure(runEnhance(nodeHost, { weights: 'nope-tfjs' }));
    expect(missingTfjs.info).toMatchObject({ field: 'weights' });
  });

  it('through the executor: the error sits on the Enhance node; a good weights file runs the graph', async () => {
    const registry = new NodeRegistry([imageLoader, enhance] as AnyNodeDefinition[]);
    const rgba = await rgbaFromImage(photo);
    const host = hostWithWeights().addFile('photos/p.raw', encodeRaw(rgba));
    const ex = new Executor(registry, host);
    const g = (weights: string) => graph([node('load', 'image-loader', { source: 'photos/*' }), node('enh', 'enhance', { weights, tile: 64 })], [wire('load.images', 'enh.images')]);
    const bad = await ex.run(g('weights/missing.pth'));
    expect(bad.ok).toBe(false);
    expect(bad.nodes.load.status).toBe('done');
    expect(bad.nodes.enh.error).toMatchObject({ nodeId: 'enh', field: 'weights' });
    const good = await ex.run(g('weights/rave_unpaired.pth'));
    expect(good.ok).toBe(true);
    const out = (ex.outputsOf('enh')!.images as ImageBatchValue).images;
    expect(out.map((i) => i.name)).toEqual(['p.raw']);
    expect(out[0].tensor.shape).toEqual(photo.shape);
    ex.dispose();
  });
});

describe('enhance node default: the bundled enhancer', () => {
  it('NodeHost, nothing wired and no weights: loads public/models/bundled-enhancer, says so, and brightens a dark photo without clipping it', async () => {
    const nodeHost = new NodeHost({ baseDirs: [tmp], outDir: path.join(tmp, 'out-bundled') });
    const dark = tf.tidy(() => tf.mul(photo, 0.35)) as tf.Tensor3D;
    const res = await runEnhance(nodeHost, { mode: 'full' }, batch(['dark.jpg', dark]));
    expect(res.ctx.logs.join('\n')).toMatch(/bundled enhancer/);
    const out = res.images.images[0].tensor;
    const meanOf = (t: tf.Tensor) => tf.tidy(() => tf.mean(t).dataSync()[0]);
    const clippedOf = (t: tf.Tensor3D) => tf.tidy(() => tf.mean(tf.cast(tf.greater(tf.sum(tf.mul(t, tf.tensor1d([0.299, 0.587, 0.114])), -1), 0.98), 'float32')).dataSync()[0]);
    expect(meanOf(out)).toBeGreaterThan(meanOf(dark) * 1.2);
    expect(clippedOf(out)).toBeLessThan(clippedOf(dark) + 0.01);
    release(res);
    dark.dispose();
  });
});
