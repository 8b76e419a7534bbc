import { beforeAll, describe, expect, it } from 'vitest';
import imageLoader from './imageLoader';
import output from './output';
import { Executor, NodeRegistry, type AnyNodeDefinition, type ExecutorEvent, type ReportValue } from '../src/engine';
import { MemoryHost, pixelAt } from '../src/engine/testing/memoryHost';
import { graph, node, wire } from '../src/engine/testing/build';
import { useTestBackend } from '../src/ml/testing';

const registry = new NodeRegistry([imageLoader, output] as AnyNodeDefinition[]);

beforeAll(async () => {
  await useTestBackend('wasm');
});

/** Runs load → save on a fresh executor (an output node is cached within one executor). */
async function save(host: MemoryHost, params: Record<string, unknown>, source = 'in/*') {
  const ex = new Executor(registry, host);
  const logs: string[] = [];
  const summary = await ex.run(graph([node('load', 'image-loader', { source }), node('save', 'output', params)], [wire('load.images', 'save.images')]), {
    onEvent: (e: ExecutorEvent) => e.type === 'log' && logs.push(e.message),
  });
  const report = ex.outputsOf('save')?.files as ReportValue | undefined;
  ex.dispose();
  return { summary, report, logs };
}

describe('output node', () => {
  it('writes each image as <name><suffix>.png into its folder and reports it', async () => {
    const host = new MemoryHost().addImage('in/cat.raw', 3, 2, (x) => [x * 100, 7, 255]);
    const { summary, report } = await save(host, { folder: 'results/run1', suffix: '_lit' });
    expect(summary.ok).toBe(true);
    expect([...host.written.keys()]).toEqual(['results/run1/cat_lit.png']);
    const img = host.readWritten('results/run1/cat_lit.png');
    expect([img.width, img.height]).toEqual([3, 2]);
    expect(pixelAt(img, 2, 1)).toEqual([200, 7, 255, 255]);
    expect(report!.rows).toEqual([{ name: 'cat_lit.png', location: 'memory:results/run1/cat_lit.png', bytes: host.written.get('results/run1/cat_lit.png')!.byteLength, width: 3, height: 2 }]);
  });

  it('never overwrites: a second write gets a -1 name, a third -2, and says so', async () => {
    const host = new MemoryHost().addImage('in/cat.raw', 1, 1, () => [10, 10, 10]);
    await save(host, {});
    const firstBytes = host.written.get('cat.png')!.slice();
    host.addImage('in/cat.raw', 1, 1, () => [200, 200, 200]);
    const second = await save(host, {});
    expect(second.report!.rows[0].name).toBe('cat-1.png');
    expect(second.logs).toContain('cat.png exists; wrote cat-1.png instead (set overwrite to replace).');
    await save(host, {});
    expect([...host.written.keys()].sort()).toEqual(['cat-1.png', 'cat-2.png', 'cat.png']);
    expect(host.written.get('cat.png')).toEqual(firstBytes);
    expect(pixelAt(host.readWritten('cat-1.png'), 0, 0)).toEqual([200, 200, 200, 255]);
  });

  it('replaces the file when overwrite is true', async () => {
    const host = new MemoryHost().addImage('in/cat.raw', 1, 1, () => [10, 10, 10]);
    await save(host, { folder: 'o' });
    host.addImage('in/cat.raw', 1, 1, () => [99, 99, 99]);
    const { report, logs } = await save(host, { folder: 'o', overwrite: true });
    expect(report!.rows[0].name).toBe('cat.png');
    expect([...host.written.keys()]).toEqual(['o/cat.png']);
    expect(pixelAt(host.readWritten('o/cat.png'), 0, 0)).toEqual([99, 99, 99, 255]);
    expect(logs).toEqual([]);
  });

  it('keeps two same-named images of one batch apart', async () => {
    const host = new MemoryHost().addImage('x/a.raw', 1, 1, () => [1, 1, 1]).addImage('y/a.raw', 1, 1, () => [2, 2, 2]);
    const { report } = await save(host, {}, 'x/*;y/*');
    expect(report!.rows.map((r) => r.name)).toEqual(['a.png', 'a-1.png']);
    expect(pixelAt(host.readWritten('a-1.png'), 0, 0)).toEqual([2, 2, 2, 255]);
  });

  it('uses .jpg for JPEG', async () => {
    const host = new MemoryHost().addImage('in/cat.raw', 1, 1, () => [1, 1, 1]);
    const { report } = await save(host, { format: 'jpeg', quality: 80 });
    expect(report!.rows[0].name).toBe('cat.jpg');
  });

  it('refuses folders that leave the output root or contain odd characters', () => {
    expect(output.params.safeParse({ folder: '../elsewhere' }).success).toBe(false);
    expect(output.params.safeParse({ folder: 'a/../../b' }).success).toBe(false);
    expect(output.params.safeParse({ folder: 'a;rm -rf' }).success).toBe(false);
    expect(output.params.safeParse({ folder: 'results/run-1.2' }).success).toBe(true);
  });
});
