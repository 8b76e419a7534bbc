import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import encoder from './encoder';
import encodeImages from './encodeImages';
import imageLoader from './imageLoader';
import { BacklitError, Executor, NodeRegistry, type AnyNodeDefinition, type EmbeddingsValue, type Host } from '../src/engine';
import { MemoryHost } from '../src/engine/testing/memoryHost';
import { fakeContext, graph, node, wire } from '../src/engine/testing/build';
import { NodeHost } from '../src/cli/nodeHost';
import { ClipEncoder } from '../src/ml/clip/encoder';
import type { ImageEncoder } from '../src/ml/encoder';
import { StatsEncoder } from '../src/ml/encoders/stats';
import { sharedDataDir, useTestBackend } from '../src/ml/testing';

const tinyDir = path.join(sharedDataDir, 'tiny-clip');
const tinyConfig = readFileSync(path.join(tinyDir, 'config.json'));
const tinyWeights = readFileSync(path.join(tinyDir, 'model.safetensors'));
/** HF float64 reference for the tiny CLIP: CHW pixels (already CLIP-normalised) and their unnormalised image embedding. */
const ref = JSON.parse(readFileSync(path.join(tinyDir, 'tiny_clip_embeds.json'), 'utf8')) as { pixels: number[][][]; image_embeds: number[][] };

const registry = new NodeRegistry([imageLoader, encoder, encodeImages] as AnyNodeDefinition[]);

let tmp: string;
beforeAll(async () => {
  await useTestBackend('wasm');
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'backlit-encoder-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** A MemoryHost holding the real tiny-clip files under `models/tiny-clip/` (what the node reads). */
function hostWithTinyClip(files: { config?: boolean; weights?: boolean } = {}): MemoryHost {
  const host = new MemoryHost();
  if (files.config !== false) host.addFile('models/tiny-clip/config.json', new Uint8Array(tinyConfig));
  if (files.weights !== false) host.addFile('models/tiny-clip/model.safetensors', new Uint8Array(tinyWeights));
  return host;
}

async function runEncoder(host: Host, params: Record<string, unknown>) {
  const ctx = fakeContext(host, 'enc');
  const parsed = encoder.params.parse(params);
  const out = await encoder.run({ inputs: {}, params: parsed, ctx });
  return { enc: out.encoder as ImageEncoder, space: encoder.spaceOf!(parsed), logs: ctx.logs };
}

async function failure(promise: Promise<unknown>): Promise<BacklitError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BacklitError);
  return err as BacklitError;
}

/** The fixture pixels as [1,16,16,3] → the node's encoder must reproduce HF's (normalised) image embedding. */
async function expectMatchesReference(enc: ImageEncoder) {
  expect(enc).toBeInstanceOf(ClipEncoder);
  const got = tf.tidy(() => (enc as ClipEncoder).encodePixelValues(tf.transpose(tf.tensor3d(ref.pixels), [1, 2, 0]).expandDims(0) as tf.Tensor4D));
  const data = Array.from(await got.data());
  got.dispose();
  const want = ref.image_embeds[0];
  const norm = Math.hypot(...want);
  expect(data).toHaveLength(8);
  data.forEach((v, i) => expect(v).toBeCloseTo(want[i] / norm, 4));
}

describe('encoder node', () => {
  it('"stats" gives the offline StatsEncoder in space stats:v1 (no host access needed)', async () => {
    const host = new MemoryHost();
    const { enc, space } = await runEncoder(host, { model: 'stats' });
    expect(enc).toBeInstanceOf(StatsEncoder);
    expect(enc.space).toBe('stats:v1');
    expect(space).toBe('stats:v1');
    expect(enc.dim).toBe(37);
    expect(enc.encodeText).toBeUndefined();
    expect(encoder.params.parse({})).toEqual({ model: 'stats', source: '', name: '' });
    enc.dispose();
  });

  it('"clip" from a MemoryHost folder: space clip:tiny-clip (= spaceOf), D = 8, HF-equal embeddings', async () => {
    const host = hostWithTinyClip();
    const { enc, space, logs } = await runEncoder(host, { model: 'clip', source: 'models/tiny-clip' });
    expect(enc.space).toBe('clip:tiny-clip');
    expect(space).toBe(enc.space);
    expect(enc.dim).toBe(8);
    // The fixture ships no tokenizer files: no text tower, and the node says so.
    expect(enc.encodeText).toBeUndefined();
    expect(logs.join('\n')).toMatch(/text tower is unavailable/);
    await expectMatchesReference(enc);
    enc.dispose();
  });

  it('names the space from `name`, else the folder name (trailing slashes ignored), and spaceOf agrees', async () => {
    const host = hostWithTinyClip();
    for (const [params, want] of [
      [{ model: 'clip', source: 'models/tiny-clip/' }, 'clip:tiny-clip'],
      [{ model: 'clip', source: 'models/tiny-clip', name: 'mine-v2.1' }, 'clip:mine-v2.1'],
    ] as const) {
      const { enc, space } = await runEncoder(host, params);
      expect(enc.space).toBe(want);
      expect(space).toBe(want);
      enc.dispose();
    }
    expect(encoder.params.safeParse({ model: 'clip', source: 'x', name: 'bad name/..' }).success).toBe(false);
  });

  it('"clip" through the CLI NodeHost: relative to baseDirs and absolute', async () => {
    const host = new NodeHost({ baseDirs: [sharedDataDir], outDir: path.join(tmp, 'out') });
    const relative = await runEncoder(host, { model: 'clip', source: 'tiny-clip' });
    expect(relative.enc.space).toBe('clip:tiny-clip');
    expect(relative.space).toBe('clip:tiny-clip');
    await expectMatchesReference(relative.enc);
    relative.enc.dispose();
    const absolute = await runEncoder(new NodeHost({ baseDirs: [], outDir: path.join(tmp, 'out') }), { model: 'clip', source: tinyDir });
    expect(absolute.enc.space).toBe('clip:tiny-clip');
    expect(absolute.space).toBe('clip:tiny-clip');
    absolute.enc.dispose();
  });

  it('fails on field "source" with a fix when the source is empty', async () => {
    const err = await failure(runEncoder(hostWithTinyClip(), { model: 'clip', source: '' }));
    expect(err.info).toMatchObject({ code: 'node-failed', nodeId: 'enc', field: 'source', message: 'No CLIP model given.' });
    expect(err.info.fix).toMatch(/config\.json/);
    expect(err.info.fix).toMatch(/stats/);
  });

  it('fails on field "source" naming the missing file (config.json, then model.safetensors)', async () => {
    const noConfig = await failure(runEncoder(hostWithTinyClip({ config: false }), { model: 'clip', source: 'models/tiny-clip' }));
    expect(noConfig.info).toMatchObject({ field: 'source', message: '"models/tiny-clip" has no config.json.' });
    expect(noConfig.info.fix).toMatch(/safetensors/);
    const noWeights = await failure(runEncoder(hostWithTinyClip({ weights: false }), { model: 'clip', source: 'models/tiny-clip' }));
    expect(noWeights.info).toMatchObject({ field: 'source', message: '"models/tiny-clip" has no model.safetensors.' });
    expect(noWeights.info.fix.length).toBeGreaterThan(10);
    const nothing = await failure(runEncoder(new MemoryHost(), { model: 'clip', source: 'models/elsewhere' }));
    expect(nothing.info).toMatchObject({ field: 'source', message: '"models/elsewhere" has no config.json.' });
  });

  it('NodeHost: a folder without weights, and a folder that does not exist, fail on "source" (also through the executor)', async () => {
    const dir = path.join(tmp, 'half-clip');
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, 'config.json'), tinyConfig);
    const host = new NodeHost({ baseDirs: [tmp], outDir: path.join(tmp, 'out') });
    const half = await failure(runEncoder(host, { model: 'clip', source: 'half-clip' }));
    expect(half.info).toMatchObject({ field: 'source', message: '"half-clip" has no model.safetensors.' });

    const ex = new Executor(registry, host);
    const summary = await ex.run(graph([node('enc', 'encoder', { model: 'clip', source: 'no-such-folder' })]));
    expect(summary.ok).toBe(false);
    expect(summary.nodes.enc.error).toMatchObject({ nodeId: 'enc', nodeType: 'Encoder', field: 'source' });
    expect(summary.nodes.enc.error!.message).toContain('no-such-folder');
    expect(summary.nodes.enc.error!.fix).toBeTruthy();
    ex.dispose();
  });

  it('the encoder\'s weights outlive the node\'s scope, serve Encode Images across runs, and executor.dispose() frees them', async () => {
    const host = hostWithTinyClip()
      .addImage('photos/a.raw', 20, 12, (x, y) => [x * 12, y * 20, 128])
      .addImage('photos/b.raw', 9, 15, (x) => [255 - x * 20, 40, 200]);
    const baseline = tf.memory().numTensors;
    const ex = new Executor(registry, host);
    const g = (preprocess: 'dataset' | 'loss') =>
      graph(
        [node('load', 'image-loader', { source: 'photos/*' }), node('enc', 'encoder', { model: 'clip', source: 'models/tiny-clip' }), node('emb', 'encode-images', { preprocess })],
        [wire('load.images', 'emb.images'), wire('enc.encoder', 'emb.encoder')],
      );
    const first = await ex.run(g('dataset'));
    expect(first.ok).toBe(true);
    expect(first.nodes.emb.status).toBe('done');
    const handle = ex.outputsOf('enc')!.encoder as ClipEncoder;
    const e1 = ex.outputsOf('emb')!.embeddings as EmbeddingsValue;
    expect(e1.space).toBe('clip:tiny-clip');
    expect(e1.tensor.shape).toEqual([2, 8]);
    // Still usable after the run's scopes closed: the same numbers as a direct call.
    const direct = tf.tidy(() => tf.concat([0, 1].map((i) => handle.encodeImages((ex.outputsOf('load')!.images as { images: { tensor: tf.Tensor3D }[] }).images[i].tensor.expandDims(0) as tf.Tensor4D, 'dataset'))));
    const [d, e] = [Array.from(await direct.data()), Array.from(await e1.tensor.data())];
    direct.dispose();
    d.forEach((v, i) => expect(e[i]).toBeCloseTo(v, 6));

    // A second run recomputes only Encode Images, with the cached encoder from the first run.
    const second = await ex.run(g('loss'));
    expect(second.nodes.enc.status).toBe('cached');
    expect(second.nodes.emb.status).toBe('done');
    expect(ex.outputsOf('enc')!.encoder).toBe(handle);
    expect((ex.outputsOf('emb')!.embeddings as EmbeddingsValue).tensor.shape).toEqual([2, 8]);
    expect(tf.memory().numTensors).toBeGreaterThan(baseline);

    ex.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
    expect(() => handle.encodeImages(tf.zeros([1, 16, 16, 3]) as tf.Tensor4D, 'loss')).toThrow(/disposed/);
  });

  it('a stats encoder in the executor also frees its tensors on dispose', async () => {
    const host = new MemoryHost().addImage('p/a.raw', 8, 8, (x, y) => [x * 30, y * 30, 90]);
    const baseline = tf.memory().numTensors;
    const ex = new Executor(registry, host);
    const summary = await ex.run(
      graph([node('load', 'image-loader', { source: 'p/*' }), node('enc', 'encoder', { model: 'stats' }), node('emb', 'encode-images')], [wire('load.images', 'emb.images'), wire('enc.encoder', 'emb.encoder')]),
    );
    expect(summary.ok).toBe(true);
    expect((ex.outputsOf('emb')!.embeddings as EmbeddingsValue).space).toBe('stats:v1');
    ex.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
  });
});
