import { beforeAll, describe, expect, it } from 'vitest';
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
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/^skipped broken\.raw: .*could not be decoded/);
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
