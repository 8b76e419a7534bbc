import { beforeAll, describe, expect, it } from 'vitest';
import encodeImages from './encodeImages';
import encoderNode from './encoder';
import enhancerTrainer from './enhancerTrainer';
import imageLoader from './imageLoader';
import meanEmbedding from './meanEmbedding';
import residualVector from './residualVector';
import { Executor, NodeRegistry, type AnyNodeDefinition, type ExecutorEvent } from '../src/engine';
import { graph, node, wire } from '../src/engine/testing/build';
import { MemoryHost } from '../src/engine/testing/memoryHost';
import { decodeEnhancer } from '../src/ml/training/enhancerFiles';
import { useTestBackend } from '../src/ml/testing';

/** Issue 15, case 4: a run whose weights turn NaN never writes them and never reports success. */
beforeAll(async () => {
  await useTestBackend('wasm');
});

const registry = new NodeRegistry([imageLoader, encoderNode, encodeImages, meanEmbedding, residualVector, enhancerTrainer] as AnyNodeDefinition[]);

function host(): MemoryHost {
  const h = new MemoryHost();
  for (let i = 0; i < 3; i++) {
    h.addImage(`well/w${i}.raw`, 24, 24, (x, y) => [120 + 4 * x, 110 + 3 * y + 10 * i, 140 - 2 * x]);
    h.addImage(`back/b${i}.raw`, 24, 24, (x, y) => (y < 8 ? [250, 235 - 5 * i, 200] : [20 + x + 5 * i, 18 + y, 25]));
  }
  return h;
}

function trainGraph(train: Record<string, unknown>) {
  return graph(
    [
      node('well', 'image-loader', { source: 'well/*' }),
      node('back', 'image-loader', { source: 'back/*' }),
      node('enc', 'encoder', { model: 'stats' }),
      node('ew', 'encode-images'),
      node('eb', 'encode-images'),
      node('vp', 'mean-embedding'),
      node('vn', 'mean-embedding'),
      node('res', 'residual-vector'),
      node('train', 'enhancer-trainer', { imageSize: 16, batchSize: 1, warmupIterations: 1, seed: 1, ...train }),
    ],
    [
      wire('well.images', 'ew.images'), wire('back.images', 'eb.images'), wire('enc.encoder', 'ew.encoder'), wire('enc.encoder', 'eb.encoder'),
      wire('ew.embeddings', 'vp.embeddings'), wire('eb.embeddings', 'vn.embeddings'), wire('vp.mean', 'res.wellLit'), wire('vn.mean', 'res.backlit'),
      wire('back.images', 'train.images'), wire('enc.encoder', 'train.encoder'), wire('res.residual', 'train.residual'),
    ],
  );
}

describe('enhancer-trainer: NaN weights (issue 15)', () => {
  it('guidanceWeight=1e38: fails on "lr", keeps the last good checkpoint, writes no NaN file, exports nothing', async () => {
    const h = host();
    const ex = new Executor(registry, h);
    const good = await ex.run(trainGraph({ iterations: 2, checkpoint: 'ck.safetensors', checkpointEvery: 1, lr: 5e-4, guidanceWeight: 20 }));
    expect(good.ok).toBe(true);
    const logs: string[] = [];
    const bad = await ex.run(trainGraph({ iterations: 6, checkpoint: 'ck.safetensors', checkpointEvery: 1, lr: 1e-3, guidanceWeight: 1e38, exportAs: 'diverged' }), {
      onEvent: (e: ExecutorEvent) => void (e.type === 'log' && logs.push(e.message)),
    });
    expect(bad.ok).toBe(false);
    const err = bad.nodes.train.error!;
    expect(err).toMatchObject({ code: 'node-failed', nodeId: 'train', field: 'lr' });
    expect(err.message).toMatch(/Training diverged: .*tensor '.*' holds NaN/);
    expect(err.fix).toMatch(/^the last good checkpoint \(ck\.safetensors, step 1\) is kept; lower lr/);
    // Every safetensors file on "disk" decodes, and decoding refuses non-finite weights.
    for (const [name, bytes] of h.written) {
      if (!/\.safetensors/.test(name)) continue;
      const { net } = decodeEnhancer('x.safetensors', bytes);
      net.dispose();
    }
    expect([...h.written.keys()].some((k) => k.startsWith('diverged'))).toBe(false);
    ex.dispose();
  });
});

describe('enhancer-trainer: a run that collapses to a flat image', () => {
  it('lr=1: stops at the first health check (step 20) with a clear error on "lr", trains no further, saves nothing collapsed', async () => {
    // lr 1 turns the output flat within a step (the state lr 3e-3 reached on quick-start.json after
    // many): I / L clamps every pixel to one value, no gradient passes the clamp, it never recovers.
    const h = host();
    const g = trainGraph({ iterations: 200, checkpoint: 'ck.safetensors', checkpointEvery: 50, exportAs: 'flat-out', lr: 1 });
    const ex = new Executor(registry, h);
    let lastStep = 0;
    const res = await ex.run(g, { onEvent: (e: ExecutorEvent) => void (e.type === 'progress' && e.nodeId === 'train' && (lastStep = Math.max(lastStep, e.step))) });
    expect(res.ok).toBe(false);
    const err = res.nodes.train.error!;
    expect(err).toMatchObject({ code: 'node-failed', nodeId: 'train', field: 'lr' });
    expect(err.message).toMatch(/^Training stopped: training collapsed at step 20: the enhancer turns "b0\.raw" .* into a flat image .*cannot recover/);
    expect(err.fix).toMatch(/^lower lr \(now 1\) or guidanceWeight and run again\.$/); // no checkpoint was written, so none is promised
    expect(lastStep).toBe(20); // 180 wasted steps saved
    expect([...h.written.keys()]).toEqual([]); // neither a collapsed checkpoint nor an export
    ex.dispose();
  });
});
