import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { Executor } from './executor';
import { defineNode, type AnyNodeDefinition } from '../nodes/defineNode';
import { NodeRegistry } from '../registry/registry';
import type { ImageBatchValue } from '../ports/values';
import { graph, node, wire } from '../testing/build';
import { MemoryHost } from '../testing/memoryHost';
import { useTestBackend } from '../../ml/testing';

/**
 * Issue 15 regressions at the executor: ids that collide with Object.prototype, out-of-memory
 * (real wasm heap exhaustion and a cleanup that throws), and linear bookkeeping.
 */
const images = { kind: 'ImageBatch', label: 'Images' } as const;

const source = defineNode({
  type: 'h-source', title: 'Test Source', category: 'Input', description: '',
  inputs: {}, outputs: { images },
  params: z.object({ fail: z.boolean().default(false) }),
  async run({ params, ctx }) {
    if (params.fail) ctx.fail('fail', 'Asked to fail.', 'set fail to false.');
    return { images: { kind: 'ImageBatch', images: [{ name: 'a', tensor: tf.zeros([2, 2, 3]) as tf.Tensor3D }] } satisfies ImageBatchValue };
  },
});
const pass = defineNode({
  type: 'h-pass', title: 'Test Pass', category: 'Image', description: '',
  inputs: { images }, outputs: { images },
  params: z.object({}),
  async run({ inputs }) {
    const b = inputs.images as ImageBatchValue;
    return { images: { kind: 'ImageBatch', images: b.images.map((im) => ({ name: im.name, tensor: im.tensor.add(1) as tf.Tensor3D })) } satisfies ImageBatchValue };
  },
});
/** Asks the backend for `elements` floats at once (2^30 floats = 4 GiB: more than wasm's heap). */
const hog = defineNode({
  type: 'h-hog', title: 'Test Hog', category: 'Training', description: '',
  inputs: { images: { ...images, optional: true } }, outputs: { images },
  params: z.object({ elements: z.number().default(2 ** 30) }),
  memory: { field: 'elements', fix: 'lower elements.' },
  async run({ params }) {
    tf.ones([16]);
    const t = tf.zeros([params.elements]);
    return { images: { kind: 'ImageBatch', images: [{ name: 'big', tensor: t.reshape([1, 1, -1]) as tf.Tensor3D }] } satisfies ImageBatchValue };
  },
});

const registry = new NodeRegistry([source, pass, hog] as AnyNodeDefinition[]);

beforeAll(async () => {
  await useTestBackend('wasm');
});
afterEach(() => vi.restoreAllMocks());

describe('Executor hardening (issue 15)', () => {
  it('a failing node whose id is "__proto__" is reported, not hidden (exit 0 before)', async () => {
    const ex = new Executor(registry, new MemoryHost());
    const summary = await ex.run(graph([node('__proto__', 'h-source', { fail: true }), node('constructor', 'h-pass')], [wire('__proto__.images', 'constructor.images')]));
    expect(summary.ok).toBe(false);
    expect(Object.hasOwn(summary.nodes, '__proto__')).toBe(true);
    expect(summary.nodes['__proto__'].status).toBe('error');
    expect(summary.nodes['constructor'].status).toBe('blocked');
    // The --json summary keeps it too.
    const parsed = JSON.parse(JSON.stringify({ nodes: summary.nodes })) as { nodes: object };
    expect(Object.getOwnPropertyDescriptor(parsed.nodes, '__proto__')?.value).toMatchObject({ status: 'error' });
    ex.dispose();
  });

  it('a real wasm out-of-memory becomes a node error naming the field; the executor survives and runs the next nodes', async () => {
    const ex = new Executor(registry, new MemoryHost());
    const before = tf.memory().numTensors;
    const g = graph([node('big', 'h-hog'), node('after', 'h-pass'), node('src', 'h-source'), node('next', 'h-pass')], [wire('big.images', 'after.images'), wire('src.images', 'next.images')]);
    const summary = await ex.run(g);
    expect(summary.ok).toBe(false);
    const err = summary.nodes.big.error!;
    expect(err.code).toBe('out-of-memory');
    expect(err.nodeId).toBe('big');
    expect(err.field).toBe('elements');
    expect(err.fix).toMatch(/lower elements/);
    expect(summary.nodes.after.status).toBe('blocked');
    expect(summary.nodes.next.status).toBe('done');
    ex.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // The backend still computes after the failure.
    expect(Array.from(await tf.ones([3]).add(1).data())).toEqual([2, 2, 2]);
  });

  it('scope cleanup that throws (as after wasm OOM) keeps the node error and the engine usable', async () => {
    const ex = new Executor(registry, new MemoryHost());
    const engine = tf.engine();
    const real = engine.endScope.bind(engine);
    let thrown = 0;
    vi.spyOn(engine, 'endScope').mockImplementation((result?: unknown) => {
      real(result as never);
      if (thrown++ === 0) throw new Error('memory access out of bounds');
    });
    const g = graph([node('src', 'h-source'), node('next', 'h-pass')], [wire('src.images', 'next.images')]);
    const summary = await ex.run(g);
    expect(summary.nodes.src.status).toBe('error');
    expect(summary.nodes.src.error).toMatchObject({ code: 'out-of-memory', nodeId: 'src' });
    expect(summary.nodes.next.status).toBe('blocked');
    vi.restoreAllMocks();
    const again = await ex.run(g);
    expect(again.ok).toBe(true);
    ex.dispose();
  });

  it('runs a 30k-node chain with linear bookkeeping', async () => {
    const n = 30_000;
    const nodes = [node('n0', 'h-source')];
    const edges = [];
    for (let i = 1; i < n; i++) {
      nodes.push(node(`n${i}`, 'h-pass'));
      edges.push(wire(`n${i - 1}.images`, `n${i}.images`));
    }
    // Only the validation and ordering part: a failing source blocks the rest without running them.
    nodes[0].params = { fail: true };
    const ex = new Executor(registry, new MemoryHost());
    const c0 = process.cpuUsage();
    const summary = await ex.run(graph(nodes, edges));
    const ms = cpuMs(c0);
    expect(summary.nodes[`n${n - 1}`].status).toBe('blocked');
    expect(ms).toBeLessThan(20_000);
  }, 60_000);
});

/** CPU milliseconds this process used since `start` (all threads; unaffected by other processes' load). */
function cpuMs(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}
