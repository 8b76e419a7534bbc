import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import encoder from './encoder';
import residualInterpreter from './residualInterpreter';
import { BacklitError, Executor, NodeRegistry, checkConnection, type AnyNodeDefinition, type EmbeddingValue, type ReportValue, type ResidualValue } from '../src/engine';
import { MemoryHost } from '../src/engine/testing/memoryHost';
import { fakeContext, graph, node, wire } from '../src/engine/testing/build';
import type { ClipEncoder } from '../src/ml/clip/encoder';
import type { ImageEncoder } from '../src/ml/encoder';
import { STATS_FEATURE_NAMES, StatsEncoder } from '../src/ml/encoders/stats';
import { clearVocabularyCache } from '../src/ml/interpret';
import { tinyClip, tinyTokenEmbeddings, toyTokenizer, TINY_CLIP_DIR } from '../src/ml/interpret/testing';
import { useTestBackend } from '../src/ml/testing';

let clip: ClipEncoder;
let stats: StatsEncoder;
/** Unit token embeddings of ids 0..30 of the tiny CLIP, computed directly ([31, id, 32]). */
let E: number[][];
beforeAll(async () => {
  await useTestBackend('wasm');
  clip = tinyClip();
  stats = new StatsEncoder();
  E = tinyTokenEmbeddings(clip, Array.from({ length: 31 }, (_, i) => i));
});
afterAll(() => {
  clip.dispose();
  stats.dispose();
  clearVocabularyCache();
});

const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);
const unit = (a: number[]) => a.map((v) => v / Math.hypot(...a));

function embedding(values: number[], space = 'clip:tiny-clip'): EmbeddingValue {
  return { kind: 'Embedding', space, tensor: tf.tensor1d(values) };
}

function residualOf(r: number[], space = 'clip:tiny-clip'): ResidualValue {
  return { kind: 'Residual', space, r: tf.tensor1d(unit(r)), vPos: tf.tensor1d(unit(r)), vNeg: tf.tensor1d(unit(r.map((v) => -v))), thr: 1 };
}

async function read(enc: ImageEncoder, inputs: { residual?: ResidualValue; embedding?: EmbeddingValue }, params: Record<string, unknown>) {
  const ctx = fakeContext(new MemoryHost(), 'read');
  const out = await residualInterpreter.run({ inputs: { encoder: enc, ...inputs }, params: residualInterpreter.params.parse(params), ctx });
  const report = out.report as ReportValue;
  const section = (name: string) => report.rows.filter((r) => r.section === name);
  return { report, summary: out.summary as string, top: section('top'), bottom: section('bottom'), along: section('along'), logs: ctx.logs };
}

async function failure(p: Promise<unknown>): Promise<BacklitError['info']> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(BacklitError);
  return (err as BacklitError).info;
}

describe('residual-interpreter: rankings whose answer is known (tiny CLIP, token-id vocabulary)', () => {
  it('tokens 3 and 5 are the most dissimilar pair of the tiny vocabulary (the construction below relies on it)', () => {
    let best = { a: -1, b: -1, cos: 2 };
    for (let a = 0; a < 31; a++) for (let b = a + 1; b < 31; b++) if (dot(E[a], E[b]) < best.cos) best = { a, b, cos: dot(E[a], E[b]) };
    expect([best.a, best.b]).toEqual([3, 5]);
  });

  it('r = norm(E_tok(3) − E_tok(5)) ranks #3 first and #5 last; reversed, #5 first and #3 last', async () => {
    for (const [a, b] of [[3, 5], [5, 3]]) {
      const r = unit(E[a].map((v, i) => v - E[b][i]));
      const { top, bottom, report } = await read(clip, { residual: residualOf(r) }, { vocabulary: 'tokens', k: 3, concepts: '' });
      expect(top[0].label).toBe(`#${a}`);
      expect(bottom[0].label).toBe(`#${b}`);
      // The reported scores are the cosines, computed independently here.
      expect(top[0].cos).toBeCloseTo(dot(r, E[a]), 5);
      expect(bottom[0].cos).toBeCloseTo(dot(r, E[b]), 5);
      expect(top.map((t) => t.rank)).toEqual([1, 2, 3]);
      expect(Number(top[0].cos)).toBeGreaterThan(Number(top[1].cos));
      expect(report.title).toMatch(/31 tokens as one-token texts \[31, id, 32\]/);
    }
  });

  it('an Embedding equal to a token embedding reads as that token, with cos 1', async () => {
    const { top, summary } = await read(clip, { embedding: embedding(E[17].map((v) => 3 * v)) }, { vocabulary: 'tokens', k: 2, concepts: '' });
    expect(top[0]).toMatchObject({ label: '#17' });
    expect(top[0].cos).toBeCloseTo(1, 5);
    expect(summary).toMatch(/^the embedding reads as \+ #17, /);
  });

  it('projection onto chosen concepts: cos, share = cos², and the span of all of them', async () => {
    const r = unit(E[3].map((v, i) => v - E[5][i]));
    const { along } = await read(clip, { residual: residualOf(r) }, { vocabulary: 'tokens', k: 1, concepts: '#3, #5, #3' });
    expect(along.map((a) => a.label)).toEqual(['#3', '#5', 'span of all 2']);
    expect(along[0].cos).toBeCloseTo(dot(r, E[3]), 5);
    expect(along[0].share).toBeCloseTo(dot(r, E[3]) ** 2, 5);
    // r lies in span(E3, E5) by construction, so all of it is along the two concepts.
    expect(along[2].cos).toBeCloseTo(1, 5);
  });

  it('words through a text tower (toy tokenizer): concepts default list + words; T(word) of one-token words equals the token entry', async () => {
    const withText = tinyClip({ tokenizer: toyTokenizer({ sunset: 3, blue: 5, sky: 6, orange: 7 }) });
    const r = unit(E[3].map((v, i) => v - E[5][i]));
    const { top, bottom, along } = await read(withText, { residual: residualOf(r) }, { vocabulary: 'words', words: 'sunset\nblue\norange', k: 1, concepts: 'sunset, blue sky' });
    expect(top[0].label).toBe('sunset');
    expect(bottom[0].label).toBe('blue');
    expect(along[0].cos).toBeCloseTo(dot(r, E[3]), 5);
    withText.dispose();
  });

  it('features of the stats encoder: the axes with the largest coordinates', async () => {
    const r = new Array(37).fill(0);
    r[STATS_FEATURE_NAMES.indexOf('mean_b')] = 0.8;
    r[STATS_FEATURE_NAMES.indexOf('mean_g')] = -0.6;
    const { top, bottom, along } = await read(stats, { residual: residualOf(r, 'stats:v1') }, { vocabulary: 'features', k: 1, concepts: 'mean_b, mean_g' });
    expect(top[0]).toMatchObject({ label: 'mean_b' });
    expect(bottom[0]).toMatchObject({ label: 'mean_g' });
    expect(along.map((a) => a.cos)).toEqual([0.8, -0.6, 1].map((v) => expect.closeTo(v, 6)));
  });
});

describe('residual-interpreter: clear errors naming the field', () => {
  it('an image-only encoder cannot read words: says why (text tower) and what to do', async () => {
    const e = await failure(read(stats, { residual: residualOf(new Array(37).fill(1), 'stats:v1') }, {}));
    expect(e).toMatchObject({ code: 'node-failed', field: 'encoder' });
    expect(e.message).toMatch(/needs T\(text\).*"stats:v1" has no text tower/);
    expect(e.fix).toMatch(/CLIP Encoder \(with tokenizer files\)/);
    expect(e.fix).toMatch(/vocabulary "features"/);
  });

  it('a tokenizer-less CLIP cannot embed concept phrases: fails on "concepts" and points at token ids', async () => {
    const e = await failure(read(clip, { residual: residualOf(E[0]) }, { vocabulary: 'tokens', concepts: 'sunset' }));
    expect(e.field).toBe('concepts');
    expect(e.message).toMatch(/"sunset" is not a vocabulary entry/);
    expect(e.fix).toMatch(/#0, #1, #2/);
  });

  it('space and dimension mismatches, and none or both directions', async () => {
    let e = await failure(read(clip, { residual: residualOf(new Array(8).fill(1), 'stats:v1') }, { vocabulary: 'tokens' }));
    expect(e.field).toBe('residual');
    expect(e.message).toMatch(/lives in "stats:v1" but the encoder is "clip:tiny-clip"/);
    e = await failure(read(clip, { embedding: embedding([1, 2, 3]) }, { vocabulary: 'tokens' }));
    expect(e.field).toBe('embedding');
    expect(e.message).toMatch(/3 dimensions but the encoder's embeddings have 8/);
    e = await failure(read(clip, { embedding: embedding(new Array(8).fill(0)) }, { vocabulary: 'tokens' }));
    expect(e.message).toMatch(/zero length/);
    expect((await failure(read(clip, {}, {}))).field).toBe('residual');
    expect((await failure(read(clip, { residual: residualOf(E[0]), embedding: embedding(E[1]) }, {}))).field).toBe('embedding');
  });
});

describe('residual-interpreter in a graph', () => {
  it('checkConnection refuses a residual of another encoder space; the tiny CLIP runs from its folder', async () => {
    const host = new MemoryHost();
    for (const f of ['config.json', 'model.safetensors']) host.addFile(`models/tiny-clip/${f}`, new Uint8Array(readFileSync(path.join(TINY_CLIP_DIR, f))));
    const registry = new NodeRegistry([encoder, residualInterpreter] as AnyNodeDefinition[]);
    const g = graph([node('stats', 'encoder', { model: 'stats' }), node('clip', 'encoder', { model: 'clip', source: 'models/tiny-clip' }), node('read', 'residual-interpreter', { vocabulary: 'tokens' })], [wire('clip.encoder', 'read.encoder')]);
    const check = checkConnection(g, registry, wire('stats.encoder', 'read.encoder'));
    expect(check.ok).toBe(false);
    const before = tf.memory().numTensors;
    const ex = new Executor(registry, host);
    const summary = await ex.run(g);
    // No direction wired: the interpreter says so on "residual".
    expect(summary.nodes.read.error).toMatchObject({ field: 'residual' });
    ex.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
