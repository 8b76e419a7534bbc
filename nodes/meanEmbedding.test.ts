import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import encodeImages from './encodeImages';
import encoder from './encoder';
import imageLoader from './imageLoader';
import meanEmbedding from './meanEmbedding';
import { BacklitError, Executor, NodeRegistry, type AnyNodeDefinition, type EmbeddingValue, type EmbeddingsValue } from '../src/engine';
import { MemoryHost } from '../src/engine/testing/memoryHost';
import { fakeContext, graph, node, wire } from '../src/engine/testing/build';
import { useTestBackend } from '../src/ml/testing';

beforeAll(async () => {
  await useTestBackend('wasm');
});

function embeddings(rows: number[][], space = 'test:v1'): EmbeddingsValue {
  return { kind: 'Embeddings', space, tensor: tf.tensor2d(rows), names: rows.map((_, i) => `img${i}`) };
}

async function mean(e: EmbeddingsValue, merge?: EmbeddingValue): Promise<EmbeddingValue> {
  const out = await meanEmbedding.run({ inputs: merge ? { embeddings: e, merge } : { embeddings: e }, params: {}, ctx: fakeContext(new MemoryHost(), 'mean') });
  return out.mean as EmbeddingValue;
}

/** Plain-JS reference: norm(Σ rows), and the raw sum. */
function byHand(rows: number[][]): { unit: number[]; sum: number[] } {
  const sum = rows[0].map((_, j) => rows.reduce((s, r) => s + r[j], 0));
  const n = Math.hypot(...sum);
  return { unit: sum.map((v) => v / n), sum };
}

/** Deterministic unit rows (a small LCG, so the test needs no tf randomness). */
function unitRows(n: number, d: number, seed: number): number[][] {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  return Array.from({ length: n }, () => {
    const row = Array.from({ length: d }, next);
    const len = Math.hypot(...row);
    return row.map((v) => v / len);
  });
}

async function failure(promise: Promise<unknown>): Promise<BacklitError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(BacklitError);
  return err as BacklitError;
}

describe('mean-embedding node', () => {
  it('is norm(mean) of the rows, hand-computed: (1,0,0), (0,1,0), (0.6,0.8,0) → (1.6,1.8,0)/√5.8', async () => {
    const e = embeddings([[1, 0, 0], [0, 1, 0], [0.6, 0.8, 0]]);
    const m = await mean(e);
    expect(m.kind).toBe('Embedding');
    expect(m.space).toBe('test:v1');
    expect(m.count).toBe(3);
    expect(m.tensor.shape).toEqual([3]);
    const v = Array.from(await m.tensor.data());
    expect(v[0]).toBeCloseTo(1.6 / Math.sqrt(5.8), 6); // 0.664364
    expect(v[1]).toBeCloseTo(1.8 / Math.sqrt(5.8), 6); // 0.747409
    expect(v[2]).toBeCloseTo(0, 7);
    expect(Array.from(await m.sum!.data())).toEqual([1.6, 1.8, 0].map((x) => Math.fround(x)));
    tf.dispose([e.tensor, m.tensor, m.sum!]);
  });

  it('matches the plain-JS mean on random unit rows (D = 16) and does not touch its input', async () => {
    const data = unitRows(7, 16, 42);
    const e = embeddings(data);
    const m = await mean(e);
    const want = byHand(data);
    const got = Array.from(await m.tensor.data());
    got.forEach((v, j) => expect(Math.abs(v - want.unit[j])).toBeLessThanOrEqual(1e-6));
    expect(Math.hypot(...got)).toBeCloseTo(1, 6);
    Array.from(await m.sum!.data()).forEach((v, j) => expect(Math.abs(v - want.sum[j])).toBeLessThanOrEqual(1e-5));
    expect(e.tensor.isDisposed).toBe(false);
    expect(e.tensor.arraySync()[3][5]).toBeCloseTo(data[3][5], 6);
    tf.dispose([e.tensor, m.tensor, m.sum!]);
  });

  it('merging shards: mean(B, merge = mean(A)) equals one pass over A ∪ B (≤ 1e-6), count and sum add up', async () => {
    const data = unitRows(9, 12, 7);
    const a = embeddings(data.slice(0, 4));
    const b = embeddings(data.slice(4));
    const all = embeddings(data);
    const mA = await mean(a);
    const merged = await mean(b, mA);
    const once = await mean(all);
    expect(merged.count).toBe(9);
    expect(merged.space).toBe('test:v1');
    const [x, y] = [Array.from(await merged.tensor.data()), Array.from(await once.tensor.data())];
    x.forEach((v, j) => expect(Math.abs(v - y[j])).toBeLessThanOrEqual(1e-6));
    const [sx, sy] = [Array.from(await merged.sum!.data()), Array.from(await once.sum!.data())];
    sx.forEach((v, j) => expect(Math.abs(v - sy[j])).toBeLessThanOrEqual(1e-6));
    // And against plain JS.
    byHand(data).unit.forEach((v, j) => expect(Math.abs(x[j] - v)).toBeLessThanOrEqual(1e-6));
    // A three-way chain: mean(C, merge = mean(B, merge = mean(A))).
    const c = embeddings(unitRows(3, 12, 99));
    const chained = await mean(c, merged);
    expect(chained.count).toBe(12);
    byHand([...data, ...c.tensor.arraySync()]).unit.forEach((v, j) => expect(Math.abs(chained.tensor.arraySync()[j] - v)).toBeLessThanOrEqual(1e-6));
    tf.dispose([a.tensor, b.tensor, all.tensor, c.tensor, mA.tensor, mA.sum!, merged.tensor, merged.sum!, once.tensor, once.sum!, chained.tensor, chained.sum!]);
  });

  it('refuses to merge an Embedding without sum and count, on field "merge"', async () => {
    const e = embeddings([[1, 0, 0], [0, 1, 0]]);
    const bare: EmbeddingValue = { kind: 'Embedding', space: 'test:v1', tensor: tf.tensor1d([0, 0, 1]) };
    const before = tf.memory().numTensors;
    const err = await failure(mean(e, bare));
    expect(err.info).toMatchObject({ code: 'node-failed', nodeId: 'mean', field: 'merge' });
    expect(err.info.message).toMatch(/no sum and count/);
    expect(err.info.fix).toMatch(/Mean Embedding/);
    // A sum without a count is not enough either.
    const noCount: EmbeddingValue = { ...bare, sum: tf.tensor1d([0, 0, 2]) };
    expect((await failure(mean(e, noCount))).info.field).toBe('merge');
    expect(tf.memory().numTensors).toBe(before + 1); // only noCount.sum; the node made nothing
    tf.dispose([e.tensor, bare.tensor, noCount.sum!]);
  });

  it('refuses to merge a partial mean of another dimension, on field "merge"', async () => {
    const e = embeddings([[1, 0, 0], [0, 1, 0]]);
    const other = await mean(embeddings([[1, 0, 0, 0], [0, 0, 0, 1]]));
    const err = await failure(mean(e, other));
    expect(err.info).toMatchObject({ field: 'merge' });
    expect(err.info.message).toBe('Dimensions differ (4 vs 3).');
    expect(err.info.fix).toMatch(/same encoder/);
    tf.dispose([e.tensor, other.tensor, other.sum!]);
  });

  it('in a graph: shards of a folder merged through `merge` equal the mean of the whole folder (stats encoder)', async () => {
    const host = new MemoryHost();
    for (let i = 0; i < 5; i++) host.addImage(`set/${i < 2 ? 'a' : 'b'}${i}.raw`, 12 + i, 10, (x, y) => [(x * 17 + i * 40) % 256, (y * 23) % 256, 60 + i * 30]);
    const registry = new NodeRegistry([imageLoader, encoder, encodeImages, meanEmbedding] as AnyNodeDefinition[]);
    const ex = new Executor(registry, host);
    const summary = await ex.run(
      graph(
        [
          node('enc', 'encoder', { model: 'stats' }),
          node('loadA', 'image-loader', { source: 'set/a*' }),
          node('loadB', 'image-loader', { source: 'set/b*' }),
          node('loadAll', 'image-loader', { source: 'set' }),
          node('embA', 'encode-images'),
          node('embB', 'encode-images'),
          node('embAll', 'encode-images'),
          node('meanA', 'mean-embedding'),
          node('meanAB', 'mean-embedding'),
          node('meanAll', 'mean-embedding'),
        ],
        [
          wire('loadA.images', 'embA.images'), wire('enc.encoder', 'embA.encoder'),
          wire('loadB.images', 'embB.images'), wire('enc.encoder', 'embB.encoder'),
          wire('loadAll.images', 'embAll.images'), wire('enc.encoder', 'embAll.encoder'),
          wire('embA.embeddings', 'meanA.embeddings'),
          wire('embB.embeddings', 'meanAB.embeddings'), wire('meanA.mean', 'meanAB.merge'),
          wire('embAll.embeddings', 'meanAll.embeddings'),
        ],
      ),
    );
    expect(summary.ok).toBe(true);
    const ab = ex.outputsOf('meanAB')!.mean as EmbeddingValue;
    const all = ex.outputsOf('meanAll')!.mean as EmbeddingValue;
    expect(ab.count).toBe(5);
    expect(all.count).toBe(5);
    expect(ab.space).toBe('stats:v1');
    const [x, y] = [Array.from(await ab.tensor.data()), Array.from(await all.tensor.data())];
    expect(x).toHaveLength(37);
    x.forEach((v, j) => expect(Math.abs(v - y[j])).toBeLessThanOrEqual(1e-6));
    ex.dispose();
  });
});
