import * as tf from '@tensorflow/tfjs';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Executor, type ExecutorEvent, type NodeStatus, type RunSummary } from './executor';
import type { PortView } from './views';
import { defineNode, type AnyNodeDefinition } from '../nodes/defineNode';
import { NodeRegistry } from '../registry/registry';
import type { ImageBatchValue } from '../ports/values';
import type { Graph } from '../graph/model';
import { graph, node, wire } from '../testing/build';
import { MemoryHost } from '../testing/memoryHost';
import { useTestBackend } from '../../ml/testing';

/** How often each node id's run() was called. */
const calls = new Map<string, number>();
const counted = (id: string) => calls.set(id, (calls.get(id) ?? 0) + 1);
const callsOf = (...ids: string[]) => ids.map((id) => calls.get(id) ?? 0);

const images = { kind: 'ImageBatch', label: 'Images' } as const;
const batch = (...tensors: tf.Tensor3D[]): ImageBatchValue => ({ kind: 'ImageBatch', images: tensors.map((tensor, i) => ({ name: `img${i}.raw`, tensor })) });

/** Source: one image filled with `value`. */
const fill = defineNode({
  type: 't-fill', title: 'Test Fill', category: 'Input', description: '',
  inputs: {},
  outputs: { images },
  params: z.object({ value: z.number().default(0.5), width: z.number().int().default(4), height: z.number().int().default(4) }),
  async run({ params, ctx }) {
    counted(ctx.nodeId);
    return { images: batch(tf.fill([params.height, params.width, 3], params.value) as tf.Tensor3D) };
  },
});

/** Multiplies every image by `factor` (and makes a throw-away temporary, which must be freed). */
const scale = defineNode({
  type: 't-scale', title: 'Test Scale', category: 'Image', description: '',
  inputs: { images },
  outputs: { images },
  params: z.object({ factor: z.number().default(2) }),
  async run({ inputs, params, ctx }) {
    counted(ctx.nodeId);
    tf.ones([16]); // a leak if the executor's scope did not catch it
    const input = inputs.images as ImageBatchValue;
    return { images: batch(...input.images.map((im) => im.tensor.mul(params.factor) as tf.Tensor3D)) };
  },
});

/** Mean of the first image, as a Scalar. */
const mean = defineNode({
  type: 't-mean', title: 'Test Mean', category: 'Analysis', description: '',
  inputs: { images },
  outputs: { value: { kind: 'Scalar', label: 'Mean' } },
  params: z.object({}),
  async run({ inputs, ctx }) {
    counted(ctx.nodeId);
    const t = (inputs.images as ImageBatchValue).images[0].tensor.mean();
    return { value: (await t.data())[0] };
  },
});

/** A long node: `steps` awaited steps, each allocating a tensor it never frees itself. */
const slow = defineNode({
  type: 't-slow', title: 'Test Slow', category: 'Training', description: '',
  inputs: { images: { ...images, optional: true } },
  outputs: { images },
  params: z.object({ steps: z.number().int().default(40) }),
  async run({ params, ctx }) {
    counted(ctx.nodeId);
    let last = tf.zeros([4, 4, 3]) as tf.Tensor3D;
    for (let i = 0; i < params.steps; i++) {
      ctx.throwIfCancelled();
      counted(`${ctx.nodeId}:step`);
      last = tf.zeros([4, 4, 3]) as tf.Tensor3D;
      ctx.progress(i + 1, params.steps, { metrics: { loss: 1 / (i + 1) } });
      await new Promise((r) => setTimeout(r, 1));
    }
    return { images: batch(last) };
  },
});

/** Fails after allocating tensors: through ctx.fail (mode "fail"), a plain Error (mode "throw"), or not at all. */
const flaky = defineNode({
  type: 't-flaky', title: 'Test Flaky', category: 'Image', description: '',
  inputs: { images },
  outputs: { images },
  params: z.object({ mode: z.enum(['fail', 'throw', 'ok']).default('fail'), threshold: z.number().default(2) }),
  async run({ inputs, params, ctx }) {
    counted(ctx.nodeId);
    const made = (inputs.images as ImageBatchValue).images.map((im) => im.tensor.add(1) as tf.Tensor3D);
    if (params.mode === 'fail') ctx.fail('threshold', `Threshold ${params.threshold} is above 1.`, 'set threshold to at most 1.');
    if (params.mode === 'throw') throw new Error('kaboom');
    return { images: batch(...made) };
  },
});

/** A model handle, as encoders and enhancers are: a class instance that owns plain tensors. */
let modelsDisposed = 0;
class TestModel {
  readonly weights: Map<string, tf.Tensor>;
  readonly layers: Array<{ bias: tf.Tensor }>;
  constructor(readonly label: string, scaleBy: number) {
    this.weights = new Map([['w', tf.fill([3], scaleBy)]]);
    this.layers = [{ bias: tf.zeros([2]) }];
  }
  dispose() {
    modelsDisposed++;
    tf.dispose([...this.weights.values(), ...this.layers.map((l) => l.bias)]);
  }
}
const model = defineNode({
  type: 't-model', title: 'Test Model', category: 'Embedding', description: '',
  inputs: {},
  outputs: { encoder: { kind: 'Encoder', label: 'Encoder' } },
  params: z.object({ scale: z.number().default(1) }),
  async run({ params, ctx }) {
    counted(ctx.nodeId);
    tf.ones([5]); // a temporary of the build: freed
    return { encoder: new TestModel(`model×${params.scale}`, params.scale) };
  },
});
const useModel = defineNode({
  type: 't-use-model', title: 'Test Use Model', category: 'Analysis', description: '',
  inputs: { encoder: { kind: 'Encoder', label: 'Encoder' } },
  outputs: { value: { kind: 'Scalar', label: 'Sum' } },
  params: z.object({}),
  async run({ inputs, ctx }) {
    counted(ctx.nodeId);
    const m = inputs.encoder as TestModel;
    return { value: (await m.weights.get('w')!.sum().data())[0] + (await m.layers[0].bias.sum().data())[0] };
  },
});

const registry = new NodeRegistry([fill, scale, mean, slow, flaky, model, useModel] as AnyNodeDefinition[]);
const host = new MemoryHost();
const numTensors = () => tf.memory().numTensors;

function statuses(summary: RunSummary): Record<string, NodeStatus> {
  return Object.fromEntries(Object.entries(summary.nodes).map(([id, r]) => [id, r.status]));
}

async function firstValue(executor: Executor, id: string): Promise<number> {
  const b = executor.outputsOf(id)!.images as ImageBatchValue;
  return (await b.images[0].tensor.data())[0];
}

beforeAll(async () => {
  await useTestBackend('wasm');
});
beforeEach(() => calls.clear());

describe('Executor: caching', () => {
  const chain = (): Graph => graph([node('a', 't-fill'), node('b', 't-scale', { factor: 2 }), node('c', 't-scale', { factor: 2 })], [wire('a.images', 'b.images'), wire('b.images', 'c.images')]);

  it('computes everything once, then serves an unchanged re-run from the cache', async () => {
    const ex = new Executor(registry, host);
    const g = chain();
    const first = await ex.run(g);
    expect(first.ok).toBe(true);
    expect(statuses(first)).toEqual({ a: 'done', b: 'done', c: 'done' });
    expect(callsOf('a', 'b', 'c')).toEqual([1, 1, 1]);
    expect(await firstValue(ex, 'c')).toBeCloseTo(2); // 0.5 × 2 × 2

    const second = await ex.run(g);
    expect(second.ok).toBe(true);
    expect(statuses(second)).toEqual({ a: 'cached', b: 'cached', c: 'cached' });
    expect(callsOf('a', 'b', 'c')).toEqual([1, 1, 1]);
    ex.dispose();
  });

  it('recomputes a changed node and what depends on it; upstream stays cached', async () => {
    const ex = new Executor(registry, host);
    const g = chain();
    await ex.run(g);
    g.nodes[1].params = { factor: 3 };
    const changed = await ex.run(g);
    expect(statuses(changed)).toEqual({ a: 'cached', b: 'done', c: 'done' });
    expect(callsOf('a', 'b', 'c')).toEqual([1, 2, 2]);
    expect(await firstValue(ex, 'c')).toBeCloseTo(3); // 0.5 × 3 × 2

    const again = await ex.run(g);
    expect(statuses(again)).toEqual({ a: 'cached', b: 'cached', c: 'cached' });
    expect(callsOf('a', 'b', 'c')).toEqual([1, 2, 2]);

    g.nodes[2].params = { factor: 4 };
    expect(statuses(await ex.run(g))).toEqual({ a: 'cached', b: 'cached', c: 'done' });
    g.nodes[0].params = { value: 0.25 };
    expect(statuses(await ex.run(g))).toEqual({ a: 'done', b: 'done', c: 'done' });
    expect(await firstValue(ex, 'c')).toBeCloseTo(3); // 0.25 × 3 × 4
    expect(callsOf('a', 'b', 'c')).toEqual([2, 3, 4]);
    ex.dispose();
  });

  it('hashes params by value: key order and explicit defaults do not miss the cache', async () => {
    const ex = new Executor(registry, host);
    const g = graph([node('a', 't-fill', { value: 0.5, width: 4 }), node('b', 't-scale')], [wire('a.images', 'b.images')]);
    await ex.run(g);
    g.nodes[0].params = { width: 4, height: 4, value: 0.5 };
    g.nodes[1].params = { factor: 2 };
    expect(statuses(await ex.run(g))).toEqual({ a: 'cached', b: 'cached' });
    ex.dispose();
  });

  it('recomputes when a wire changes even if params do not', async () => {
    const ex = new Executor(registry, host);
    const g = graph([node('a', 't-fill', { value: 0.5 }), node('a2', 't-fill', { value: 0.1 }), node('b', 't-scale')], [wire('a.images', 'b.images')]);
    await ex.run(g);
    g.edges = [wire('a2.images', 'b.images')];
    expect(statuses(await ex.run(g))).toEqual({ a: 'cached', a2: 'cached', b: 'done' });
    expect(await firstValue(ex, 'b')).toBeCloseTo(0.2);
    ex.dispose();
  });

  it('emits queued → running → done, and queued → cached on a hit', async () => {
    const ex = new Executor(registry, host);
    const g = chain();
    const seen = (events: ExecutorEvent[], id: string) => events.flatMap((e) => (e.type === 'status' && e.nodeId === id ? [e.status] : []));
    const events: ExecutorEvent[] = [];
    await ex.run(g, { onEvent: (e) => events.push(e) });
    expect(events[0]).toEqual({ type: 'run-start', nodeIds: ['a', 'b', 'c'] });
    expect(seen(events, 'b')).toEqual(['queued', 'running', 'done']);
    expect(events.at(-1)!.type).toBe('run-end');
    const cachedEvents: ExecutorEvent[] = [];
    await ex.run(g, { onEvent: (e) => cachedEvents.push(e) });
    expect(seen(cachedEvents, 'b')).toEqual(['queued', 'cached']);
    ex.dispose();
  });

  it('runs only the upstream closure of `targets`', async () => {
    const ex = new Executor(registry, host);
    const g = chain();
    g.nodes.push(node('d', 't-fill'));
    const events: ExecutorEvent[] = [];
    const partial = await ex.run(g, { targets: ['b'], onEvent: (e) => events.push(e) });
    expect(partial.ok).toBe(true);
    expect(statuses(partial)).toEqual({ a: 'done', b: 'done' });
    expect(events[0]).toEqual({ type: 'run-start', nodeIds: ['a', 'b'] });
    expect(callsOf('a', 'b', 'c', 'd')).toEqual([1, 1, 0, 0]);
    expect(ex.outputsOf('c')).toBeUndefined();

    const full = await ex.run(g);
    expect(statuses(full)).toEqual({ a: 'cached', b: 'cached', c: 'done', d: 'done' });
    ex.dispose();
  });

  it('refuses a second run while one is in progress', async () => {
    const ex = new Executor(registry, host);
    const abort = new AbortController();
    const g = graph([node('s', 't-slow', { steps: 30 })]);
    const first = ex.run(g, { signal: abort.signal });
    await expect(ex.run(g)).rejects.toThrow(/already in progress/);
    abort.abort();
    expect((await first).cancelled).toBe(true);
    ex.dispose();
  });
});

describe('Executor: cancellation', () => {
  it('cancels the running node and everything after it, freeing its tensors', async () => {
    const before = numTensors();
    const ex = new Executor(registry, host);
    const g = graph(
      // Run order a, s, d, c: d does not depend on s but comes after it.
      [node('a', 't-fill'), node('s', 't-slow', { steps: 40 }), node('c', 't-scale'), node('d', 't-scale')],
      [wire('a.images', 's.images'), wire('a.images', 'd.images'), wire('s.images', 'c.images')],
    );
    const abort = new AbortController();
    const progress: number[] = [];
    const summary = await ex.run(g, {
      signal: abort.signal,
      onEvent: (e) => {
        if (e.type === 'progress' && e.nodeId === 's') {
          progress.push(e.step);
          expect(e.total).toBe(40);
          expect(e.metrics?.loss).toBeCloseTo(1 / e.step);
          if (e.step === 3) abort.abort();
        }
      },
    });
    expect(summary.cancelled).toBe(true);
    expect(summary.ok).toBe(false);
    expect(statuses(summary)).toEqual({ a: 'done', s: 'cancelled', c: 'cancelled', d: 'cancelled' });
    expect(progress).toEqual([1, 2, 3]);
    expect(callsOf('s:step', 'c', 'd')).toEqual([3, 0, 0]); // it stopped at the next check
    expect(ex.outputsOf('s')).toBeUndefined();
    // Only a's cached output (one tensor) is left; the slow node's per-step tensors are gone.
    expect(numTensors() - before).toBe(1);
    ex.dispose();
    expect(numTensors()).toBe(before);
  });

  it('cancels before the first node when the signal is already aborted', async () => {
    const ex = new Executor(registry, host);
    const abort = new AbortController();
    abort.abort();
    const summary = await ex.run(graph([node('a', 't-fill'), node('b', 't-fill')]), { signal: abort.signal });
    expect(statuses(summary)).toEqual({ a: 'cancelled', b: 'cancelled' });
    expect(callsOf('a', 'b')).toEqual([0, 0]);
  });

  it('runs the cancelled part next time, reusing what finished', async () => {
    const ex = new Executor(registry, host);
    const g = graph([node('a', 't-fill'), node('s', 't-slow', { steps: 5 })], [wire('a.images', 's.images')]);
    const abort = new AbortController();
    await ex.run(g, { signal: abort.signal, onEvent: (e) => e.type === 'progress' && abort.abort() });
    const resumed = await ex.run(g);
    expect(statuses(resumed)).toEqual({ a: 'cached', s: 'done' });
    expect(callsOf('a', 's')).toEqual([1, 2]);
    ex.dispose();
  });
});

describe('Executor: errors', () => {
  it('stops only the dependants of a failing node; the error names node, field and fix', async () => {
    const before = numTensors();
    const ex = new Executor(registry, host);
    const g = graph(
      [node('a', 't-fill'), node('bad', 't-flaky', { threshold: 5 }), node('c', 't-scale'), node('d', 't-scale'), node('ok', 't-scale'), node('x', 't-fill'), node('y', 't-scale')],
      [wire('a.images', 'bad.images'), wire('bad.images', 'c.images'), wire('c.images', 'd.images'), wire('a.images', 'ok.images'), wire('x.images', 'y.images')],
    );
    const summary = await ex.run(g);
    expect(summary.ok).toBe(false);
    expect(summary.cancelled).toBe(false);
    expect(statuses(summary)).toEqual({ a: 'done', bad: 'error', c: 'blocked', d: 'blocked', ok: 'done', x: 'done', y: 'done' });
    expect(summary.nodes.bad.error).toEqual({
      code: 'node-failed',
      nodeId: 'bad',
      nodeType: 'Test Flaky',
      field: 'threshold',
      message: 'Threshold 5 is above 1.',
      fix: 'set threshold to at most 1.',
    });
    expect(summary.nodes.c.error).toMatchObject({ code: 'upstream-failed', nodeId: 'c', field: 'images' });
    expect(summary.nodes.c.error!.message).toContain('"bad"');
    expect(summary.nodes.d.error!.message).toContain('"c"');
    expect(callsOf('bad', 'c', 'd', 'ok', 'y')).toEqual([1, 0, 0, 1, 1]);
    expect(ex.outputsOf('bad')).toBeUndefined();

    // Fixing the node reruns it and its dependants; the rest comes from the cache.
    g.nodes[1].params = { mode: 'ok' };
    const fixed = await ex.run(g);
    expect(statuses(fixed)).toEqual({ a: 'cached', bad: 'done', c: 'done', d: 'done', ok: 'cached', x: 'cached', y: 'cached' });
    ex.dispose();
    expect(numTensors()).toBe(before); // the failed attempt's tensors were freed too
  });

  it('wraps a plain Error into a node-failed error naming the node', async () => {
    const ex = new Executor(registry, host);
    const summary = await ex.run(graph([node('a', 't-fill'), node('boom', 't-flaky', { mode: 'throw' })], [wire('a.images', 'boom.images')]));
    expect(summary.nodes.boom.status).toBe('error');
    expect(summary.nodes.boom.error).toMatchObject({ code: 'node-failed', nodeId: 'boom', nodeType: 'Test Flaky', message: 'kaboom.' });
    expect(summary.nodes.boom.error!.fix.length).toBeGreaterThan(10);
    ex.dispose();
  });

  it('reports an unconnected required input as input-missing and blocks its dependants', async () => {
    const ex = new Executor(registry, host);
    const summary = await ex.run(graph([node('lonely', 't-scale'), node('after', 't-mean'), node('opt', 't-slow', { steps: 1 })], [wire('lonely.images', 'after.images')]));
    expect(statuses(summary)).toEqual({ lonely: 'error', after: 'blocked', opt: 'done' });
    expect(summary.nodes.lonely.error).toMatchObject({ code: 'input-missing', nodeId: 'lonely', nodeType: 'Test Scale', field: 'images' });
    expect(summary.nodes.lonely.error!.message).toContain('"Images"');
    expect(summary.nodes.lonely.error!.fix).toContain('ImageBatch');
    expect(callsOf('lonely', 'opt')).toEqual([0, 1]); // an unwired optional input is fine
    ex.dispose();
  });

  it('marks a node with invalid params as error (with the param) and still runs the rest', async () => {
    const ex = new Executor(registry, host);
    const summary = await ex.run(graph([node('a', 't-fill', { value: 'high' }), node('b', 't-scale'), node('z', 't-fill')], [wire('a.images', 'b.images')]));
    expect(statuses(summary)).toEqual({ a: 'error', b: 'blocked', z: 'done' });
    expect(summary.nodes.a.error).toMatchObject({ code: 'node-param-invalid', nodeId: 'a', field: 'value' });
    ex.dispose();
  });

  it('refuses to start a graph with a cycle or a dangling wire, running nothing', async () => {
    const ex = new Executor(registry, host);
    const cyclic = await ex.run(graph([node('a', 't-fill'), node('p', 't-scale'), node('q', 't-scale')], [wire('p.images', 'q.images'), wire('q.images', 'p.images')]));
    expect(cyclic.ok).toBe(false);
    expect(cyclic.nodes).toEqual({});
    expect(cyclic.errors.map((e) => e.code)).toEqual(['edge-refused']);
    expect(cyclic.errors[0].message).toMatch(/cycle: (p → q → p|q → p → q)/);

    const dangling = await ex.run(graph([node('a', 't-fill'), node('b', 't-scale')], [wire('ghost.images', 'b.images')]));
    expect(dangling.ok).toBe(false);
    expect(dangling.errors.map((e) => e.code)).toEqual(['edge-dangling-node']);
    expect(callsOf('a', 'b')).toEqual([0, 0]);
  });
});

describe('Executor: memory and views', () => {
  it('does not grow across re-runs with param changes, and dispose() frees everything', async () => {
    const before = numTensors();
    const ex = new Executor(registry, host);
    const g = graph(
      [node('a', 't-fill', { width: 8, height: 6 }), node('b', 't-scale'), node('c', 't-scale'), node('m', 't-mean')],
      [wire('a.images', 'b.images'), wire('b.images', 'c.images'), wire('c.images', 'm.images')],
    );
    await ex.run(g, { views: true });
    const held = numTensors();
    expect(held - before).toBe(3); // one image each for a, b, c; the Scalar holds none
    for (let i = 1; i <= 5; i++) {
      g.nodes[1].params = { factor: 1 + i / 10 };
      if (i % 2) g.nodes[0].params = { width: 8, height: 6, value: i / 10 };
      const s = await ex.run(g, { views: true });
      expect(s.ok).toBe(true);
      expect(numTensors()).toBe(held);
    }
    ex.prune(graph([node('a', 't-fill')]));
    expect(numTensors() - before).toBe(1);
    ex.dispose();
    expect(numTensors()).toBe(before);
    expect(ex.outputsOf('a')).toBeUndefined();
  });

  it('emits views with thumbnails for ImageBatch outputs (also for cache hits)', async () => {
    const ex = new Executor(registry, host);
    const g = graph([node('a', 't-fill', { width: 320, height: 200, value: 0.2 }), node('m', 't-mean')], [wire('a.images', 'm.images')]);
    const views = new Map<string, Record<string, PortView>>();
    await ex.run(g, { views: true, onEvent: (e) => e.type === 'views' && views.set(e.nodeId, e.views) });
    const view = views.get('a')!.images;
    expect(view.kind).toBe('ImageBatch');
    if (view.kind !== 'ImageBatch') throw new Error('unreachable');
    expect(view.count).toBe(1);
    const [thumb] = view.thumbs;
    expect(thumb).toMatchObject({ name: 'img0.raw', width: 320, height: 200, thumbWidth: 160, thumbHeight: 100 });
    expect(thumb.rgba).toHaveLength(160 * 100 * 4);
    expect(Array.from(thumb.rgba.subarray(0, 4))).toEqual([51, 51, 51, 255]); // 0.2 × 255
    expect(views.get('m')!.value).toEqual({ kind: 'Scalar', value: expect.closeTo(0.2, 2) });

    views.clear();
    const again = await ex.run(g, { views: true, onEvent: (e) => e.type === 'views' && views.set(e.nodeId, e.views) });
    expect(statuses(again)).toEqual({ a: 'cached', m: 'cached' });
    expect(views.get('a')!.images).toMatchObject({ kind: 'ImageBatch', count: 1 });

    views.clear();
    await ex.run(g, { onEvent: (e) => e.type === 'views' && views.set(e.nodeId, e.views) });
    expect(views.size).toBe(0); // no views unless asked
    ex.dispose();
  });
});

describe('Executor: model handles', () => {
  it('keeps the tensors a handle owns alive for later nodes, and frees them through its dispose()', async () => {
    const before = numTensors();
    modelsDisposed = 0;
    const ex = new Executor(registry, host);
    const g = graph([node('m', 't-model', { scale: 2 }), node('u', 't-use-model')], [wire('m.encoder', 'u.encoder')]);
    const views = new Map<string, Record<string, PortView>>();
    const first = await ex.run(g, { views: true, onEvent: (e) => e.type === 'views' && views.set(e.nodeId, e.views) });
    expect(first.nodes.u.error).toBeUndefined();
    expect(statuses(first)).toEqual({ m: 'done', u: 'done' });
    expect(ex.outputsOf('u')!.value).toBe(6); // 3 weights of 2 (+ zero bias)
    expect(views.get('m')!.encoder).toEqual({ kind: 'Other', portKind: 'Encoder', summary: 'model×2' });
    expect(numTensors() - before).toBe(2); // the weights and the bias; the temporary is gone

    g.nodes[0].params = { scale: 3 };
    const second = await ex.run(g);
    expect(statuses(second)).toEqual({ m: 'done', u: 'done' });
    expect(ex.outputsOf('u')!.value).toBe(9);
    expect(modelsDisposed).toBe(1); // the replaced model
    expect(numTensors() - before).toBe(2);

    ex.dispose();
    expect(modelsDisposed).toBe(2);
    expect(numTensors()).toBe(before);
  });
});
