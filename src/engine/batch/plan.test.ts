import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadNodeRegistry } from '../../cli/loadNodes';
import { REPO_ROOT } from '../../cli/nodeHost';
import type { Graph } from '../graph/model';
import type { NodeRegistry } from '../registry/registry';
import { loadGraph } from '../schema/loadGraph';
import { mergePartial, normalisedMean } from './partials';
import { batchMetaOf, planBatch } from './plan';

let registry: NodeRegistry;
const graphOf = (file: string): Graph => {
  const r = loadGraph(readFileSync(path.join(REPO_ROOT, 'graphs', file), 'utf8'), registry);
  expect(r.errors).toEqual([]);
  return r.graph!;
};
beforeAll(async () => {
  registry = await loadNodeRegistry();
});

describe('planBatch', () => {
  it('splits batch-enhance into static (trainer, encoder), per-image, reducer parts', () => {
    const g = graphOf('batch-enhance.json');
    const plan = planBatch(g, registry, batchMetaOf(g));
    expect(plan.loaderId).toBe('photos');
    expect(plan.perImage.sort()).toEqual(['encode-enhanced', 'enhance', 'save']);
    expect(plan.reducers).toEqual(['v-enhanced']);
    expect(plan.post).toEqual([]);
    expect(plan.static).toEqual(expect.arrayContaining(['train', 'encoder', 'residual', 'v-pos']));
  });

  it('puts nodes after a streamed reducer into post (batch-encode: residual)', () => {
    const g = graphOf('batch-encode.json');
    const plan = planBatch(g, registry, batchMetaOf(g));
    expect(plan.reducers).toEqual(['v-pos']);
    expect(plan.post).toEqual(['residual']);
    expect(plan.static).toContain('v-neg');
  });

  it('keys the pipeline by what decides a chunk, not by the folder', () => {
    const g = graphOf('batch-encode.json');
    const key = planBatch(g, registry, batchMetaOf(g)).pipelineKey;
    const moved = structuredClone(g);
    moved.nodes.find((n) => n.id === 'well-lit')!.params.source = '/elsewhere';
    expect(planBatch(moved, registry, batchMetaOf(moved)).pipelineKey).toBe(key);
    const changed = structuredClone(g);
    changed.nodes.find((n) => n.id === 'well-lit')!.params.maxSide = 128;
    expect(planBatch(changed, registry, batchMetaOf(changed)).pipelineKey).not.toBe(key);
  });

  it('refuses an unknown loader and a streamed whole-set node, with the fix', () => {
    const g = graphOf('batch-encode.json');
    expect(() => planBatch(g, registry, { loader: 'nope' })).toThrow(/not an Image Loader/);
    // Streaming the backlit loader would feed Synthetic Backlight, which needs its whole batch.
    expect(() => planBatch(g, registry, { loader: 'to-backlight' })).toThrow(/whole image set/);
  });
});

describe('reducer partials', () => {
  it('merge exactly by sum and count, and refuse mixed spaces', () => {
    const a = { space: 's', sum: [1, 2], count: 2 };
    const b = { space: 's', sum: [3, -1], count: 1 };
    expect(mergePartial(a, b)).toEqual({ space: 's', sum: [4, 1], count: 3 });
    expect(mergePartial(undefined, b)).toEqual(b);
    expect(normalisedMean({ space: 's', sum: [3, 4], count: 2 })[0]).toBeCloseTo(0.6, 12);
    expect(() => mergePartial(a, { space: 't', sum: [1, 1], count: 1 })).toThrow(/different spaces/);
  });
});
