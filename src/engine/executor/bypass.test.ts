import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Executor } from './executor';
import { defineNode, type AnyNodeDefinition } from '../nodes/defineNode';
import { NodeRegistry } from '../registry/registry';
import type { ImageBatchValue } from '../ports/values';
import { loadGraph } from '../schema/loadGraph';
import { graph, node, wire } from '../testing/build';
import { MemoryHost } from '../testing/memoryHost';
import { useTestBackend } from '../../ml/testing';

const images = { kind: 'ImageBatch', label: 'Images' } as const;
let scaleRuns = 0;

const fill = defineNode({
  type: 'b-fill', title: 'Fill', category: 'Input', description: '',
  inputs: {},
  outputs: { images },
  params: z.object({ value: z.number().default(0.5) }),
  async run({ params }) {
    return { images: { kind: 'ImageBatch', images: [{ name: 'a.raw', tensor: tf.fill([2, 2, 3], params.value) as tf.Tensor3D }] } satisfies ImageBatchValue };
  },
});
const scale = defineNode({
  type: 'b-scale', title: 'Scale', category: 'Image', description: '',
  inputs: { images },
  outputs: { images },
  params: z.object({ factor: z.number().default(2) }),
  async run({ inputs, params }) {
    scaleRuns++;
    const input = inputs.images as ImageBatchValue;
    return { images: { kind: 'ImageBatch', images: input.images.map((im) => ({ ...im, tensor: im.tensor.mul(params.factor) as tf.Tensor3D })) } satisfies ImageBatchValue };
  },
});
/** ImageBatch in, Scalar out: nothing of the output's kind to pass on when bypassed. */
const mean = defineNode({
  type: 'b-mean', title: 'Mean', category: 'Analysis', description: '',
  inputs: { images },
  outputs: { value: { kind: 'Scalar', label: 'Mean' } },
  params: z.object({}),
  async run({ inputs }) {
    return { value: (await (inputs.images as ImageBatchValue).images[0].tensor.mean().data())[0] };
  },
});
const show = defineNode({
  type: 'b-show', title: 'Show', category: 'Output', description: '',
  inputs: { value: { kind: 'Scalar', label: 'Value' } },
  outputs: { value: { kind: 'Scalar', label: 'Value' } },
  params: z.object({}),
  async run({ inputs }) {
    return { value: inputs.value as number };
  },
});
const registry = new NodeRegistry([fill, scale, mean, show] as AnyNodeDefinition[]);

async function firstPixel(ex: Executor, id: string): Promise<number> {
  return (await (ex.outputsOf(id)!.images as ImageBatchValue).images[0].tensor.data())[0];
}

beforeAll(async () => {
  await useTestBackend('wasm');
});

describe('Executor: bypass', () => {
  it('a bypassed node is not run and passes its input of the same kind straight on', async () => {
    const ex = new Executor(registry, new MemoryHost());
    const g = graph([node('a', 'b-fill'), node('b', 'b-scale', { factor: 3 }, { bypass: true }), node('c', 'b-scale', { factor: 2 })], [wire('a.images', 'b.images'), wire('b.images', 'c.images')]);
    scaleRuns = 0;
    const summary = await ex.run(g);
    expect(summary.ok).toBe(true);
    expect(summary.nodes.b.status).toBe('bypassed');
    expect(scaleRuns).toBe(1); // only c ran
    expect(await firstPixel(ex, 'c')).toBeCloseTo(1); // 0.5 × 2, not 0.5 × 3 × 2

    // Un-bypassing changes what c sees: c is recomputed, a stays cached.
    g.nodes[1].bypass = false;
    const again = await ex.run(g);
    expect(again.nodes.a.status).toBe('cached');
    expect(again.nodes.c.status).toBe('done');
    expect(await firstPixel(ex, 'c')).toBeCloseTo(3);
    const before = tf.memory().numTensors;
    ex.dispose();
    expect(tf.memory().numTensors).toBeLessThan(before);
  });

  it('with nothing of the kind to pass on, the nodes reading that output are skipped and say why', async () => {
    const ex = new Executor(registry, new MemoryHost());
    const g = graph([node('a', 'b-fill'), node('m', 'b-mean', {}, { bypass: true }), node('s', 'b-show')], [wire('a.images', 'm.images'), wire('m.value', 's.value')]);
    const summary = await ex.run(g);
    expect(summary.nodes.m.status).toBe('bypassed');
    expect(summary.nodes.s.status).toBe('blocked');
    expect(summary.nodes.s.error?.message).toMatch(/"m" is bypassed/);
    ex.dispose();
  });

  it('bypass is kept by graph JSON (load → save)', () => {
    const g = graph([node('a', 'b-fill'), node('b', 'b-scale', {}, { bypass: true })], [wire('a.images', 'b.images')]);
    const loaded = loadGraph(JSON.parse(JSON.stringify(g)), registry);
    expect(loaded.errors).toEqual([]);
    expect(loaded.graph!.nodes.find((n) => n.id === 'b')!.bypass).toBe(true);
  });
});
