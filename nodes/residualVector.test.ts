import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import encodeImages from './encodeImages';
import encoder from './encoder';
import imageLoader from './imageLoader';
import meanEmbedding from './meanEmbedding';
import residualVector, { type CalibratedResidual } from './residualVector';
import { BacklitError, Executor, NodeRegistry, checkConnection, type AnyNodeDefinition, type EmbeddingValue, type EmbeddingsValue, type ReportValue, type ResidualValue } from '../src/engine';
import { MemoryHost } from '../src/engine/testing/memoryHost';
import { fakeContext, graph, node, wire } from '../src/engine/testing/build';
import { sharedDataDir, useTestBackend } from '../src/ml/testing';

beforeAll(async () => {
  await useTestBackend('wasm');
});

const registry = new NodeRegistry([imageLoader, encoder, encodeImages, meanEmbedding, residualVector] as AnyNodeDefinition[]);

function emb(values: number[], extra: Partial<EmbeddingValue> = {}): EmbeddingValue {
  return { kind: 'Embedding', space: 'test:v1', tensor: tf.tensor1d(values), ...extra };
}

async function residual(pos: EmbeddingValue, neg: EmbeddingValue, params: Record<string, unknown> = {}, host = new MemoryHost()) {
  const ctx = fakeContext(host, 'rv');
  const out = await residualVector.run({ inputs: { wellLit: pos, backlit: neg }, params: residualVector.params.parse(params), ctx });
  return { residual: out.residual as ResidualValue, r: out.r as EmbeddingValue, ctx, host };
}

const data = async (t: tf.Tensor) => Array.from(await t.data());

describe('residual-vector node', () => {
  it('hand-computed, D = 3: vPos = (0.6,0.8,0), vNeg = (0,0.6,0.8) → r = (0.6,0.2,−0.8)/√1.04, thr = 0.52/√1.04', async () => {
    const { residual: res, r } = await residual(emb([0.6, 0.8, 0]), emb([0, 0.6, 0.8]));
    const s = Math.sqrt(1.04); // |vPos − vNeg|
    expect(res.kind).toBe('Residual');
    expect(res.space).toBe('test:v1');
    const rv = await data(res.r);
    [0.6 / s, 0.2 / s, -0.8 / s].forEach((v, i) => expect(rv[i]).toBeCloseTo(v, 6));
    expect(res.thr).toBeCloseTo(0.52 / s, 6); // 0.509902: <vPos, vPos − vNeg> = 1 − cos = 1 − 0.48
    expect(await data(res.vPos)).toEqual([0.6, 0.8, 0].map(Math.fround));
    expect(await data(res.vNeg)).toEqual([0, 0.6, 0.8].map(Math.fround));
    // The `r` port is r as an Embedding in the same space.
    expect(r.kind).toBe('Embedding');
    expect(r.space).toBe('test:v1');
    expect(await data(r.tensor)).toEqual(rv);
    expect(Math.hypot(...rv)).toBeCloseTo(1, 6);
  });

  it('normalises unnormalised means first: (3,4,0) and (0,0,2) → vPos = (0.6,0.8,0), vNeg = (0,0,1)', async () => {
    const { residual: res } = await residual(emb([3, 4, 0]), emb([0, 0, 2]));
    const s = Math.sqrt(2); // orthogonal unit vectors
    expect(await data(res.vPos)).toEqual([0.6, 0.8, 0].map((v) => expect.closeTo(v, 6)));
    expect(await data(res.vNeg)).toEqual([0, 0, 1].map((v) => expect.closeTo(v, 6)));
    const rv = await data(res.r);
    [0.6 / s, 0.8 / s, -1 / s].forEach((v, i) => expect(rv[i]).toBeCloseTo(v, 6));
    expect(res.thr).toBeCloseTo(1 / s, 6);
  });

  it('fails with a clear error when the two means are identical (also up to scale)', async () => {
    for (const [a, b] of [[[0.6, 0.8, 0], [0.6, 0.8, 0]], [[1, 2, 2], [2, 4, 4]]]) {
      const err = await residual(emb(a), emb(b)).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(BacklitError);
      expect((err as BacklitError).info).toMatchObject({ code: 'node-failed', nodeId: 'rv', field: 'wellLit' });
      expect((err as BacklitError).info.message).toMatch(/identical/);
      expect((err as BacklitError).info.fix).toMatch(/two different image sets/);
    }
  });

  it('saveAs writes JSON whose r, vPos, vNeg and thr parse back equal; never overwrites', async () => {
    const host = new MemoryHost();
    const pos = emb([0.5, 0.5, 0.5, 0.5], { count: 12 });
    const neg = emb([0.9, 0.1, -0.3, 0.3], { count: 7 });
    const { residual: res, ctx } = await residual(pos, neg, { saveAs: 'rave.json' }, host);
    expect([...host.written.keys()]).toEqual(['rave.json']);
    const json = JSON.parse(new TextDecoder().decode(host.written.get('rave.json')));
    expect(json.space).toBe('test:v1');
    expect(json.dim).toBe(4);
    expect(json.thr).toBe(res.thr);
    expect(json.r).toEqual(await data(res.r));
    expect(json.vPos).toEqual(await data(res.vPos));
    expect(json.vNeg).toEqual(await data(res.vNeg));
    expect(json.counts).toEqual({ wellLit: 12, backlit: 7 });
    expect(ctx.logs.at(-1)).toBe('wrote memory:rave.json');
    // thr recomputed from the parsed arrays.
    expect(json.vPos.reduce((s: number, v: number, i: number) => s + v * json.r[i], 0)).toBeCloseTo(json.thr, 6);
    await residual(pos, neg, { saveAs: 'rave.json' }, host);
    expect([...host.written.keys()].sort()).toEqual(['rave-1.json', 'rave.json']);
    // Without saveAs nothing is written.
    const quiet = new MemoryHost();
    await residual(pos, neg, {}, quiet);
    expect(quiet.written.size).toBe(0);
  });

  it('saveAs accepts only a plain .json file name', () => {
    for (const ok of ['', 'r.json', 'rave-v2.json']) expect(residualVector.params.safeParse({ saveAs: ok }).success).toBe(true);
    for (const bad of ['../r.json', 'out/r.json', 'r.txt', 'r']) expect(residualVector.params.safeParse({ saveAs: bad }).success).toBe(false);
  });

  it('in a graph: r points from the backlit mean to the well-lit mean and nothing leaks', async () => {
    const host = new MemoryHost();
    for (let i = 0; i < 3; i++) {
      host.addImage(`well/${i}.raw`, 16, 12, (x, y) => [150 + ((x * 5 + i * 9) % 90), 140 + ((y * 7) % 80), 120 + i * 20]);
      host.addImage(`back/${i}.raw`, 16, 12, (x, y) => (y < 4 ? [250, 240, 220] : [20 + ((x * 3 + i) % 30), 15 + y, 25]));
    }
    const baseline = tf.memory().numTensors;
    const ex = new Executor(registry, host);
    const summary = await ex.run(
      graph(
        [
          node('enc', 'encoder', { model: 'stats' }),
          node('loadW', 'image-loader', { source: 'well' }), node('loadB', 'image-loader', { source: 'back' }),
          node('embW', 'encode-images'), node('embB', 'encode-images'),
          node('meanW', 'mean-embedding'), node('meanB', 'mean-embedding'),
          node('rv', 'residual-vector', { saveAs: 'r.json', target: 'paper' }),
        ],
        [
          wire('loadW.images', 'embW.images'), wire('enc.encoder', 'embW.encoder'),
          wire('loadB.images', 'embB.images'), wire('enc.encoder', 'embB.encoder'),
          wire('embW.embeddings', 'meanW.embeddings'), wire('embB.embeddings', 'meanB.embeddings'),
          wire('meanW.mean', 'rv.wellLit'), wire('meanB.mean', 'rv.backlit'),
        ],
      ),
    );
    expect(summary.ok).toBe(true);
    const res = ex.outputsOf('rv')!.residual as ResidualValue;
    expect(res.space).toBe('stats:v1');
    const [r, p, n] = await Promise.all([data(res.r), data((ex.outputsOf('meanW')!.mean as EmbeddingValue).tensor), data((ex.outputsOf('meanB')!.mean as EmbeddingValue).tensor)]);
    const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);
    expect(dot(r, p)).toBeGreaterThan(dot(r, n));
    expect(res.thr).toBeCloseTo(dot(p, r), 5); // target 'paper': thr = <v_pos, r>
    expect(JSON.parse(new TextDecoder().decode(host.written.get('r.json'))).counts).toEqual({ wellLit: 3, backlit: 3 });
    ex.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
  });
});

describe('residual-vector targets (issue 12: the paper\'s thr overshoots spread-out sets)', () => {
  // Well-lit unit embeddings spread out: (1,0,0), (0,1,0), (0.6,0.8,0); backlit: (0,0,1) twice.
  const wellRows = [[1, 0, 0], [0, 1, 0], [0.6, 0.8, 0]];
  const set = (rows: number[][]): EmbeddingsValue => ({ kind: 'Embeddings', space: 'test:v1', tensor: tf.tensor2d(rows), names: rows.map((_, i) => `${i}`) });
  const meanOf = (rows: number[][]) => {
    const sum = rows[0].map((_, j) => rows.reduce((s, r) => s + r[j], 0));
    const n = Math.hypot(...sum);
    return emb(sum.map((v) => v / n), { count: rows.length, sum: tf.tensor1d(sum) });
  };
  const run = (params: Record<string, unknown>, inputs: Record<string, unknown> = {}) =>
    residualVector.run({ inputs: { wellLit: meanOf(wellRows), backlit: meanOf([[0, 0, 1], [0, 0, 1]]), ...inputs }, params: residualVector.params.parse(params), ctx: fakeContext(new MemoryHost(), 'rv') });

  it('mean-projection (default) = <mean E(well-lit), r> = ‖mean E‖·thr_paper; paper = <v_pos, r>; quantile from the wired embeddings', async () => {
    const mean = [1.6 / 3, 1.8 / 3, 0];
    const norm = Math.hypot(...mean); // 0.8027: the spread shrinks the mean
    const paper = (await run({ target: 'paper' })).residual as ResidualValue;
    const calibrated = (await run({})).residual as CalibratedResidual;
    const r = await data(calibrated.r);
    const dot = (a: number[]) => a.reduce((s, v, i) => s + v * r[i], 0);
    expect(calibrated.thr).toBeCloseTo(dot(mean), 5);
    expect(calibrated.thr).toBeCloseTo(norm * paper.thr, 5);
    expect(calibrated.thrPaper).toBeCloseTo(paper.thr, 6);
    // The value says which target its thr is (the CLI and the views label it).
    expect([calibrated.target, paper.target]).toEqual(['mean-projection', 'paper']);
    expect(calibrated.start).toBeCloseTo(dot([0, 0, 1]), 5);
    // The paper's thr lies beyond what the average well-lit embedding reaches.
    const proj = wellRows.map(dot);
    expect(paper.thr).toBeGreaterThan(proj.reduce((a, b) => a + b) / 3 + 0.1);
    const q = (await run({ target: 'quantile', quantile: 0.5 }, { wellLitEmbeddings: set(wellRows) })).residual as ResidualValue;
    expect(q.thr).toBeCloseTo([...proj].sort((a, b) => a - b)[1], 5);
  });

  it('reports ‖mean E‖ per set and the spread of the projections; quantile without embeddings fails on "target"', async () => {
    const out = await run({}, { wellLitEmbeddings: set(wellRows), backlitEmbeddings: set([[0, 0, 1], [0, 0.1, 0.995]]) });
    const rows = (out.report as ReportValue).rows;
    expect(rows[0]).toMatchObject({ set: 'well-lit', n: 3, '‖mean E‖': expect.closeTo(0.8027, 3) });
    expect(rows[0].min).toBeLessThanOrEqual(rows[0].median as number);
    expect(rows[0].median).toBeLessThanOrEqual(rows[0].max as number);
    expect(rows[1]).toMatchObject({ set: 'backlit', n: 2 });
    expect(rows.map((r) => r.set)).toContain('target used (mean-projection)');
    const err = await run({ target: 'quantile' }).then(() => undefined, (e: unknown) => e);
    expect((err as BacklitError).info).toMatchObject({ field: 'target' });
  });

  it('plain embeddings without sum/count fall back to the paper thr and say so', async () => {
    const out = await residualVector.run({ inputs: { wellLit: emb([0.6, 0.8, 0]), backlit: emb([0, 0.6, 0.8]) }, params: residualVector.params.parse({}), ctx: fakeContext(new MemoryHost(), 'rv') });
    expect((out.residual as ResidualValue).thr).toBeCloseTo(0.52 / Math.sqrt(1.04), 6);
  });
});

describe('embedding spaces at the executor level', () => {
  const host = new MemoryHost()
    .addFile('models/tiny-clip/config.json', new Uint8Array(readFileSync(path.join(sharedDataDir, 'tiny-clip/config.json'))))
    .addFile('models/tiny-clip/model.safetensors', new Uint8Array(readFileSync(path.join(sharedDataDir, 'tiny-clip/model.safetensors'))))
    .addImage('well/a.raw', 8, 8, () => [200, 200, 190])
    .addImage('back/a.raw', 8, 8, (_, y) => (y < 3 ? [255, 250, 240] : [20, 20, 30]));
  const nodes = [
    node('stats', 'encoder', { model: 'stats' }),
    node('clip', 'encoder', { model: 'clip', source: 'models/tiny-clip' }),
    node('loadW', 'image-loader', { source: 'well' }), node('loadB', 'image-loader', { source: 'back' }),
    node('embW', 'encode-images'), node('embB', 'encode-images'),
    node('meanW', 'mean-embedding'), node('meanB', 'mean-embedding'),
    node('rv', 'residual-vector'),
  ];
  const common = [
    wire('loadW.images', 'embW.images'), wire('stats.encoder', 'embW.encoder'),
    wire('loadB.images', 'embB.images'), wire('clip.encoder', 'embB.encoder'),
    wire('embW.embeddings', 'meanW.embeddings'), wire('embB.embeddings', 'meanB.embeddings'),
  ];

  it('checkConnection refuses a clip-space mean into a residual vector that already has a stats-space mean (space-mismatch)', () => {
    const g = graph(nodes, [...common, wire('meanW.mean', 'rv.wellLit')]);
    const check = checkConnection(g, registry, wire('meanB.mean', 'rv.backlit'));
    expect(check.ok).toBe(false);
    if (check.ok) return;
    expect(check.code).toBe('space-mismatch');
    expect(check.reason).toContain('"clip:tiny-clip"');
    expect(check.reason).toContain('"stats:v1"');
    // And the other way round.
    const g2 = graph(nodes, [...common, wire('meanB.mean', 'rv.backlit')]);
    const check2 = checkConnection(g2, registry, wire('meanW.mean', 'rv.wellLit'));
    expect(check2.ok === false && check2.code).toBe('space-mismatch');
    // Two means from the same encoder are fine.
    const same = graph(nodes, [...common.filter((e) => e.from.node !== 'clip'), wire('stats.encoder', 'embB.encoder'), wire('meanW.mean', 'rv.wellLit')]);
    expect(checkConnection(same, registry, wire('meanB.mean', 'rv.backlit'))).toEqual({ ok: true });
  });

  it('a loaded graph holding that wire does not run the residual vector (edge-refused on the node), the rest runs', async () => {
    const ex = new Executor(registry, host);
    const summary = await ex.run(graph(nodes, [...common, wire('meanW.mean', 'rv.wellLit'), wire('meanB.mean', 'rv.backlit')]));
    expect(summary.ok).toBe(false);
    expect(summary.nodes.rv.status).toBe('error');
    expect(summary.nodes.rv.error).toMatchObject({ code: 'edge-refused', nodeId: 'rv' });
    expect(summary.nodes.rv.error!.message).toMatch(/embedding space/);
    expect(summary.nodes.meanW.status).toBe('done');
    expect(summary.nodes.meanB.status).toBe('done');
    expect((ex.outputsOf('meanB')!.mean as EmbeddingValue).space).toBe('clip:tiny-clip');
    expect(ex.outputsOf('rv')).toBeUndefined();
    ex.dispose();
  });
});
