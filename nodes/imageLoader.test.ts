import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { NodeHost } from '../src/cli/nodeHost';
import imageLoader from './imageLoader';
import { Executor, NodeRegistry, type AnyNodeDefinition, type ExecutorEvent, type ImageBatchValue } from '../src/engine';
import { MemoryHost } from '../src/engine/testing/memoryHost';
import { graph, node } from '../src/engine/testing/build';
import { useTestBackend } from '../src/ml/testing';

const registry = new NodeRegistry([imageLoader] as AnyNodeDefinition[]);

beforeAll(async () => {
  await useTestBackend('wasm');
});

async function load(host: MemoryHost, params: Record<string, unknown>) {
  const ex = new Executor(registry, host);
  const events: ExecutorEvent[] = [];
  const summary = await ex.run(graph([node('load', 'image-loader', params)]), { onEvent: (e) => events.push(e) });
  const batch = ex.outputsOf('load')?.images as ImageBatchValue | undefined;
  const logs = events.flatMap((e) => (e.type === 'log' ? [e.message] : []));
  return { ex, summary, batch, logs, events };
}

describe('image-loader node', () => {
  it('loads the matching files in name order as [H,W,3] in 0..1', async () => {
    const host = new MemoryHost()
      .addImage('photos/b.raw', 2, 1, () => [255, 0, 0])
      .addImage('photos/a.raw', 3, 2, (x, y) => [x * 100, y * 200, 51])
      .addImage('other/c.raw', 1, 1, () => [0, 0, 0]);
    const { ex, summary, batch, events } = await load(host, { source: 'photos/*' });
    expect(summary.ok).toBe(true);
    expect(batch!.images.map((i) => i.name)).toEqual(['a.raw', 'b.raw']);
    expect(batch!.images.map((i) => i.tensor.shape)).toEqual([[2, 3, 3], [1, 2, 3]]);
    const a = await batch!.images[0].tensor.array();
    expect(a[1][2][0]).toBeCloseTo(200 / 255, 6); // x = 2, y = 1
    expect(a[1][2][1]).toBeCloseTo(200 / 255, 6);
    expect(a[1][2][2]).toBeCloseTo(0.2, 6);
    const progress = events.flatMap((e) => (e.type === 'progress' ? [[e.step, e.total]] : []));
    expect(progress.at(-1)).toEqual([2, 2]);
    ex.dispose();
  });

  it('skips an undecodable file with a log and still loads the rest', async () => {
    const host = new MemoryHost()
      .addImage('photos/a.raw', 2, 2, () => [10, 20, 30])
      .addFile('photos/broken.raw', new TextEncoder().encode('not an image at all'))
      .addImage('photos/c.raw', 2, 2, () => [40, 50, 60]);
    const { ex, summary, batch, logs } = await load(host, { source: 'photos' });
    expect(summary.nodes.load.status).toBe('done');
    expect(batch!.images.map((i) => i.name)).toEqual(['a.raw', 'c.raw']);
    expect(logs).toHaveLength(2);
    expect(logs[0]).toMatch(/^skipped broken\.raw: .*could not be decoded/);
    expect(logs[1]).toBe('warning: 1 of 3 file(s) skipped: broken.raw (reasons above).');
    ex.dispose();
  });

  it('fails on field "source" when nothing matches', async () => {
    const host = new MemoryHost().addImage('photos/a.raw', 1, 1, () => [0, 0, 0]);
    const { summary, batch } = await load(host, { source: 'holiday/*.jpg' });
    expect(summary.ok).toBe(false);
    expect(batch).toBeUndefined();
    expect(summary.nodes.load.error).toMatchObject({ code: 'node-failed', nodeId: 'load', nodeType: 'Image Loader', field: 'source' });
    expect(summary.nodes.load.error!.message).toBe('No images found for "holiday/*.jpg".');
    expect(summary.nodes.load.error!.fix).toMatch(/glob/);
  });

  it('fails on field "source" when no file can be read, naming them', async () => {
    const host = new MemoryHost().addFile('bad/x.raw', new Uint8Array([1, 2, 3])).addFile('bad/y.raw', new Uint8Array(0));
    const { summary, logs } = await load(host, { source: 'bad/*' });
    expect(summary.nodes.load.error).toMatchObject({ field: 'source', nodeId: 'load' });
    expect(summary.nodes.load.error!.message).toContain('None of the 2 file(s)');
    expect(summary.nodes.load.error!.message).toContain('x.raw, y.raw');
    expect(logs).toHaveLength(2);
  });

  it('honours maxCount, maxSide and maxMegapixels', async () => {
    const host = new MemoryHost()
      .addImage('p/1.raw', 8, 4, () => [255, 255, 255])
      .addImage('p/2.raw', 101, 100, () => [0, 0, 0]) // 0.0101 MP
      .addImage('p/3.raw', 2, 2, () => [0, 0, 0]);
    const first = await load(host, { source: 'p/*', maxCount: 1, maxSide: 4 });
    expect(first.batch!.images.map((i) => [i.name, ...i.tensor.shape])).toEqual([['1.raw', 2, 4, 3]]);
    expect((await first.batch!.images[0].tensor.data()).every((v) => Math.abs(v - 1) < 1e-5)).toBe(true);
    first.ex.dispose();

    const second = await load(host, { source: 'p/*', maxMegapixels: 0.01 });
    expect(second.batch!.images.map((i) => i.name)).toEqual(['1.raw', '3.raw']);
    expect(second.logs.join('\n')).toMatch(/skipped 2\.raw: .*maxMegapixels/);
    second.ex.dispose();
  });

  it('is cached until the files behind the source change', async () => {
    const host = new MemoryHost().addImage('p/a.raw', 2, 2, () => [1, 2, 3]);
    const ex = new Executor(registry, host);
    const g = graph([node('load', 'image-loader', { source: 'p/*' })]);
    await ex.run(g);
    expect((await ex.run(g)).nodes.load.status).toBe('cached');
    expect(host.reads.get('p/a.raw')).toBe(1);
    host.addImage('p/a.raw', 3, 3, () => [9, 9, 9]); // same name, new content
    expect((await ex.run(g)).nodes.load.status).toBe('done');
    expect((ex.outputsOf('load')!.images as ImageBatchValue).images[0].tensor.shape).toEqual([3, 3, 3]);
    host.addImage('p/b.raw', 1, 1, () => [0, 0, 0]); // a new file matches
    expect((await ex.run(g)).nodes.load.status).toBe('done');
    expect((ex.outputsOf('load')!.images as ImageBatchValue).images).toHaveLength(2);
    ex.dispose();
  });
});

/** A 24-bit bottom-up BMP written by hand (BITMAPINFOHEADER): rows padded to 4 bytes, BGR order. */
function bmp24(width: number, height: number, pixel: (x: number, y: number) => [number, number, number]): Uint8Array {
  const stride = Math.ceil((width * 3) / 4) * 4;
  const size = 54 + stride * height;
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  b[0] = 0x42; b[1] = 0x4d;
  v.setUint32(2, size, true); v.setUint32(10, 54, true); v.setUint32(14, 40, true);
  v.setInt32(18, width, true); v.setInt32(22, height, true); v.setUint16(26, 1, true); v.setUint16(28, 24, true);
  v.setUint32(34, stride * height, true);
  for (let y = 0; y < height; y++) {
    const row = 54 + (height - 1 - y) * stride; // bottom-up
    for (let x = 0; x < width; x++) {
      const [r, g, bl] = pixel(x, y);
      b[row + 3 * x] = bl; b[row + 3 * x + 1] = g; b[row + 3 * x + 2] = r;
    }
  }
  return b;
}

describe('image-loader on the CLI host: BMP and warnings for skipped files', () => {
  it('reads a hand-written 24-bit BMP pixel-exactly, and warns for a text file in the folder with the reason', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bmp-'));
    try {
      writeFileSync(path.join(dir, 'a.bmp'), bmp24(3, 2, (x, y) => [x * 100, y * 200, 7]));
      writeFileSync(path.join(dir, 'notes.txt'), 'hello');
      writeFileSync(path.join(dir, '.DS_Store'), 'x'); // hidden: ignored without a warning
      const ex = new Executor(registry, new NodeHost({ baseDirs: [dir], outDir: dir }));
      const events: ExecutorEvent[] = [];
      const summary = await ex.run(graph([node('load', 'image-loader', { source: dir, maxCount: 1 })]), { onEvent: (e) => events.push(e) });
      expect(summary.ok).toBe(true);
      const batch = ex.outputsOf('load')!.images as ImageBatchValue;
      expect(batch.images.map((i) => [i.name, ...i.tensor.shape])).toEqual([['a.bmp', 2, 3, 3]]);
      const px = (await batch.images[0].tensor.array()) as number[][][];
      expect(px[1][2].map((c) => Math.round(c * 255))).toEqual([200, 200, 7]);
      expect(px[0][1].map((c) => Math.round(c * 255))).toEqual([100, 0, 7]);
      const logs = events.flatMap((e) => (e.type === 'log' ? [e.message] : []));
      // maxCount 1 counts images: a.bmp fills it before notes.txt is reached.
      expect(logs).toEqual(['loaded the first 1 image(s) (maxCount); 1 more file(s) not read.']);
      ex.dispose();

      const ex2 = new Executor(registry, new NodeHost({ baseDirs: [dir], outDir: dir }));
      const events2: ExecutorEvent[] = [];
      await ex2.run(graph([node('load', 'image-loader', { source: dir })]), { onEvent: (e) => events2.push(e) });
      const logs2 = events2.flatMap((e) => (e.type === 'log' ? [e.message] : []));
      expect(logs2[0]).toMatch(/^skipped notes\.txt: not an image type this loader reads \(\.txt;/);
      expect(logs2[1]).toBe('warning: 1 of 2 file(s) skipped: notes.txt (reasons above).');
      ex2.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads a 4-bit palette BMP written by ImageMagick (when installed) to the exact palette colours', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bmp-'));
    try {
      try {
        execFileSync('convert', ['-size', '4x3', 'xc:rgb(20,40,60)', '-fill', 'rgb(200,10,30)', '-draw', 'point 1,2', '-type', 'Palette', `BMP3:${path.join(dir, 'p.bmp')}`]);
      } catch {
        return; // no ImageMagick: the hand-written BMP test above still covers decoding
      }
      const host = new NodeHost({ baseDirs: [dir], outDir: dir });
      const [file] = await host.listImageFiles('p.bmp');
      const img = await host.decodeImage(await file.read(), file.name);
      expect([img.width, img.height]).toEqual([4, 3]);
      const at = (x: number, y: number) => Array.from(img.data.slice((y * 4 + x) * 4, (y * 4 + x) * 4 + 4));
      expect(at(1, 2)).toEqual([200, 10, 30, 255]);
      expect(at(0, 0)).toEqual([20, 40, 60, 255]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
