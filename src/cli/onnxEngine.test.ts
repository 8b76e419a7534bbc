import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { enhanceEngine, imageEncodeEngine } from '../ml/onnx/engine';
import { configureEnhanceEngine } from './onnxEngine';
import { REPO_ROOT } from './nodeHost';
import { runBacklit } from './testing';

/**
 * `backlit run --engine onnx` (onnxruntime-node on graphs exported from the same weights) writes the
 * same pictures as `--engine tfjs`, tiled (with the tile progress) and full.
 */
// In this process only (the CLI runs above are child processes): a native module that fails to load.
vi.mock('../ml/onnx/runtime', async (original) => ({
  ...(await original<typeof import('../ml/onnx/runtime')>()),
  loadOrt: async () => ({ error: 'libonnxruntime.so.1: cannot open shared object file' }),
}));

const dir = mkdtempSync(path.join(os.tmpdir(), 'backlit-onnx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function graph(mode: 'tiled' | 'full'): string {
  const file = path.join(dir, `enhance-${mode}.json`);
  writeFileSync(file, JSON.stringify({
    format: 'backlit-graph',
    version: 1,
    meta: { name: `onnx engine test (${mode})` },
    nodes: [
      { id: 'photos', type: 'image-loader', params: { source: path.join(REPO_ROOT, 'public/samples/more-well-lit/opencv_chicky_512.jpg'), maxSide: 200 }, position: { x: 0, y: 0 } },
      // The bundled enhancer (no weights set, nothing wired); tiles of 128 px give several tiles on a 200 px photo.
      { id: 'enhance', type: 'enhance', params: { mode, tile: 128 }, position: { x: 300, y: 0 } },
      { id: 'save', type: 'output', params: { folder: 'out' }, position: { x: 600, y: 0 } },
    ],
    edges: [
      { from: { node: 'photos', port: 'images' }, to: { node: 'enhance', port: 'images' } },
      { from: { node: 'enhance', port: 'images' }, to: { node: 'save', port: 'images' } },
    ],
  }));
  return file;
}

async function run(mode: 'tiled' | 'full', engine: 'onnx' | 'tfjs') {
  const out = path.join(dir, `${mode}-${engine}`);
  const r = await runBacklit(['--threads', '2', 'run', graph(mode), '--engine', engine, '--out', out]);
  expect(r.code, r.stderr).toBe(0);
  const files = readdirSync(path.join(out, 'out'));
  expect(files).toHaveLength(1);
  const { data, info } = await sharp(path.join(out, 'out', files[0])).raw().toBuffer({ resolveWithObject: true });
  return { data, info, stderr: r.stderr };
}

describe('backlit run --engine onnx', () => {
  for (const mode of ['tiled', 'full'] as const) {
    it(`${mode}: the written PNG equals --engine tfjs within 1/255`, async () => {
      const a = await run(mode, 'onnx');
      const b = await run(mode, 'tfjs');
      expect(a.stderr).toMatch(/enhance: onnxruntime-node 1\.\d+\.\d+, 2 threads/);
      expect(b.stderr).toMatch(/enhance: tfjs/);
      expect([a.info.width, a.info.height]).toEqual([b.info.width, b.info.height]);
      let maxDiff = 0;
      let changed = 0;
      for (let i = 0; i < a.data.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(a.data[i] - b.data[i]));
        if (a.data[i] !== b.data[i]) changed++;
      }
      expect(maxDiff).toBeLessThanOrEqual(1);
      // Rounding may flip a few values by one level, not many.
      expect(changed / a.data.length).toBeLessThan(0.01);
    }, 240_000);
  }
});

describe('configureEnhanceEngine', () => {
  it('falls back to tfjs with a one-line note when onnxruntime-node does not load', async () => {
    for (const choice of ['auto', 'onnx'] as const) {
      const note = await configureEnhanceEngine(choice, 2, 'wasm');
      expect(note).toMatch(/^enhance: tfjs \(onnxruntime-node did not load: libonnxruntime\.so\.1: cannot open shared object file; reinstall/);
      expect(note).not.toContain('\n');
      expect(enhanceEngine()).toBeNull();
      expect(imageEncodeEngine()).toBeNull();
    }
  });

  it('auto keeps tfjs on a GPU backend; tfjs is tfjs', async () => {
    expect(await configureEnhanceEngine('auto', 2, 'webgpu')).toMatch(/^enhance: tfjs \(webgpu;/);
    expect(await configureEnhanceEngine('tfjs', 2, 'wasm')).toBe('enhance: tfjs');
    expect(enhanceEngine()).toBeNull();
    expect(imageEncodeEngine()).toBeNull();
  });
});
