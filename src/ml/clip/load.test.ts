import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedDataDir, useTestBackend } from '../testing';
import { ClipTokenizer } from '../tokenizer/clipTokenizer';
import { hubBaseUrl, loadClipFromHub, type FetchLike } from './load';
import { hfHubCacheDir, loadClip, loadClipFromFolder, resolveHfSnapshot } from './loadNode';

const tinyDir = path.join(sharedDataDir, 'tiny-clip');
const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'hf-cache-'));
const commit = '0123456789abcdef0123456789abcdef01234567';

beforeAll(async () => {
  await useTestBackend('wasm');
  // A fake HF cache: models--org--name/{refs/main, snapshots/<commit>/files → blobs}.
  const snapshot = path.join(cacheDir, 'models--test-org--tiny-clip', 'snapshots', commit);
  mkdirSync(snapshot, { recursive: true });
  mkdirSync(path.join(cacheDir, 'models--test-org--tiny-clip', 'refs'));
  writeFileSync(path.join(cacheDir, 'models--test-org--tiny-clip', 'refs', 'main'), commit);
  for (const f of ['config.json', 'model.safetensors']) symlinkSync(path.join(tinyDir, f), path.join(snapshot, f));
});
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

function embedOnce(encoder: { encodeImages(x: tf.Tensor4D, m: 'loss'): tf.Tensor2D }): number[] {
  const x = tf.fill([1, 16, 16, 3], 0.5) as tf.Tensor4D;
  const e = encoder.encodeImages(x, 'loss');
  const values = Array.from(e.dataSync());
  tf.dispose([x, e]);
  return values;
}

describe('Node loader', () => {
  it('loads a local HF folder', () => {
    const clip = loadClipFromFolder(tinyDir);
    expect(clip.space).toBe('clip:tiny-clip');
    expect(embedOnce(clip).length).toBe(8);
    clip.dispose();
  });

  it('resolves a repo id in the HF cache layout (refs/main → snapshot)', () => {
    expect(resolveHfSnapshot('test-org/tiny-clip', { cacheDir })).toBe(path.join(cacheDir, 'models--test-org--tiny-clip', 'snapshots', commit));
    const fromCache = loadClip('test-org/tiny-clip', { cacheDir });
    const fromFolder = loadClipFromFolder(tinyDir);
    expect(fromCache.space).toBe('clip:tiny-clip');
    expect(embedOnce(fromCache)).toEqual(embedOnce(fromFolder));
    fromCache.dispose();
    fromFolder.dispose();
  });

  it('explains what is missing', () => {
    expect(() => resolveHfSnapshot('openai/clip-vit-base-patch32', { cacheDir })).toThrow(/is not in the Hugging Face cache.*huggingface-cli download/);
    expect(() => resolveHfSnapshot('test-org/tiny-clip', { cacheDir, revision: 'v2' })).toThrow(/no cached snapshot for revision "v2".*0123456789abcdef/);
    expect(() => loadClipFromFolder(cacheDir)).toThrow(/must hold config.json and model.safetensors/);
  });

  it('finds the cache from HF_HUB_CACHE / HF_HOME', () => {
    expect(hfHubCacheDir({ HF_HOME: '/x/hf' })).toBe('/x/hf/hub');
    expect(hfHubCacheDir({ HF_HUB_CACHE: '/y', HF_HOME: '/x' })).toBe('/y');
  });

  it('attaches a tokenizer so encodeText exists', async () => {
    const tokenizer = await ClipTokenizer.fromGzippedBpe(readFileSync(path.join(sharedDataDir, 'clip-bpe/bpe_simple_vocab_16e6.txt.gz')));
    // The tiny model has a 33-token vocabulary, so real CLIP ids cannot be embedded: a clear error.
    const clip = loadClipFromFolder(tinyDir, { tokenizer });
    expect(clip.encodeText).toBeDefined();
    expect(() => clip.encodeText?.(['a cat'])).toThrow(/token id 49406 is outside the vocabulary \(0..32\)/);
    clip.dispose();
  });
});

describe('URL/hub loader (fake fetch: no network here)', () => {
  it('builds hub resolve URLs and loads through fetch', async () => {
    expect(hubBaseUrl('openai/clip-vit-base-patch32')).toBe('https://huggingface.co/openai/clip-vit-base-patch32/resolve/main/');
    const requested: string[] = [];
    const fakeFetch: FetchLike = async (url) => {
      requested.push(url);
      const file = url.split('/').pop() as string;
      const available = file === 'config.json' || file === 'model.safetensors';
      const bytes = available ? readFileSync(path.join(tinyDir, file)) : new Uint8Array(0);
      return {
        ok: available,
        status: available ? 200 : 404,
        arrayBuffer: async () => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
        text: async () => new TextDecoder().decode(bytes),
      };
    };
    const clip = await loadClipFromHub('test-org/tiny-clip', { fetch: fakeFetch });
    expect(clip.space).toBe('clip:tiny-clip');
    expect(requested).toContain('https://huggingface.co/test-org/tiny-clip/resolve/main/model.safetensors');
    const reference = loadClipFromFolder(tinyDir);
    expect(embedOnce(clip)).toEqual(embedOnce(reference));
    clip.dispose();
    reference.dispose();
    await expect(loadClipFromHub('x/y', { fetch: async () => ({ ok: false, status: 404, arrayBuffer: async () => new ArrayBuffer(0), text: async () => '' }) })).rejects.toThrow(/answered HTTP 404/);
  });
});
