import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import biasCorrect from './biasCorrect';
import { BacklitError, type ReportValue, type ResidualValue } from '../src/engine';
import { MemoryHost } from '../src/engine/testing/memoryHost';
import { fakeContext } from '../src/engine/testing/build';
import type { ClipEncoder } from '../src/ml/clip/encoder';
import type { ImageEncoder } from '../src/ml/encoder';
import { STATS_FEATURE_NAMES, StatsEncoder } from '../src/ml/encoders/stats';
import { clearVocabularyCache } from '../src/ml/interpret';
import { tinyClip, tinyTokenEmbeddings, toyTokenizer } from '../src/ml/interpret/testing';
import { useTestBackend } from '../src/ml/testing';

let clip: ClipEncoder;
let stats: StatsEncoder;
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

/** A residual made the way residual-vector makes it: r = norm(vPos − vNeg), thr = <vPos, r>. */
function residualFrom(vPos: number[], vNeg: number[], space = 'clip:tiny-clip'): ResidualValue {
  const p = unit(vPos);
  const n = unit(vNeg);
  const r = unit(p.map((v, i) => v - n[i]));
  return { kind: 'Residual', space, r: tf.tensor1d(r), vPos: tf.tensor1d(p), vNeg: tf.tensor1d(n), thr: dot(p, r) };
}

async function correct(enc: ImageEncoder, residual: ResidualValue, params: Record<string, unknown>) {
  const ctx = fakeContext(new MemoryHost(), 'fix');
  const out = await biasCorrect.run({ inputs: { encoder: enc, residual }, params: biasCorrect.params.parse(params), ctx });
  const res = out.residual as ResidualValue;
  const report = out.report as ReportValue;
  return { res, r: Array.from(await res.r.data()), report, rows: (s: string) => report.rows.filter((x) => x.section === s), summary: out.summary as string, logs: ctx.logs };
}

async function failure(p: Promise<unknown>): Promise<BacklitError['info']> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(BacklitError);
  return (err as BacklitError).info;
}

describe('bias-correct: shifted residual (METHODS.md) on the tiny CLIP token vocabulary', () => {
  it('equals a hand computation of top, bot, u and r′ = norm(r − ⟨u,r⟩u); thr = ⟨v_pos, r′⟩', async () => {
    const residual = residualFrom(E[3].map((v, i) => v + 0.3 * E[10][i]), E[5]);
    const r = Array.from(await residual.r.data());
    const k = 4;
    // By hand: scores s_i = cos(r, t_i); top = norm(Σ_{k best} s_i t_i), bot = norm(Σ_{k worst} s_i t_i).
    const order = E.map((t, i) => ({ i, s: dot(r, t) })).sort((a, b) => b.s - a.s);
    const weighted = (picked: typeof order) => unit(E[0].map((_, d) => picked.reduce((acc, p) => acc + p.s * E[p.i][d], 0)));
    const top = weighted(order.slice(0, k));
    const bot = weighted(order.slice(-k));
    const u = unit(top.map((v, d) => v + bot[d]));
    const c = dot(u, r);
    const expected = unit(r.map((v, d) => v - c * u[d]));

    const { res, r: got, rows, report } = await correct(clip, residual, { method: 'shifted', vocabulary: 'tokens', k });
    expected.forEach((v, d) => expect(got[d]).toBeCloseTo(v, 5));
    expect(Math.abs(dot(got, u))).toBeLessThan(1e-6);
    expect(res.thr).toBeCloseTo(dot(Array.from(await res.vPos.data()), expected), 5);
    expect(res.space).toBe('clip:tiny-clip');
    const removed = rows('removed');
    expect(removed).toHaveLength(1);
    expect(removed[0].before).toMatch(new RegExp(`^shift u \\(top 4: #${order[0].i}, #${order[1].i}, #${order[2].i}…`));
    expect(removed[0]['cos before']).toBeCloseTo(c, 5);
    expect(Math.abs(removed[0]['cos after'] as number)).toBeLessThan(1e-6);
    expect(rows('thr')[0]).toMatchObject({ 'cos before': expect.closeTo(residual.thr, 5), 'cos after': expect.closeTo(res.thr, 5) });
    // Before/after rankings: 5 top and 5 bottom rows; "before" is the ranking of r.
    expect(rows('top').map((x) => x.before)).toEqual(order.slice(0, 5).map((o) => `#${o.i}`));
    expect(rows('bottom')).toHaveLength(5);
    expect(report.title).toMatch(/^Bias correction \(shifted; tokens/);
  });

  it('the default k is the paper\'s 15; too large a k for the vocabulary fails on "k"', async () => {
    expect(biasCorrect.params.parse({}).k).toBe(15);
    expect(biasCorrect.params.parse({}).vocabulary).toBe('tokens');
    const e = await failure(correct(clip, residualFrom(E[3], E[5]), { k: 16 }));
    expect(e.field).toBe('k');
    expect(e.message).toMatch(/k = 16 needs at least 32 vocabulary entries, there are 31/);
  });
});

describe('bias-correct: explicit concepts (Gram–Schmidt, r′ = norm(r − Σ⟨r,u_k⟩u_k))', () => {
  it('leaves r′ orthogonal (≤ 1e-6) to every removed concept, including nearly parallel ones (tokens by name)', async () => {
    const residual = residualFrom(E[3].map((v, i) => v + E[7][i]), E[5]);
    const { r, rows, summary } = await correct(clip, residual, { method: 'concepts', vocabulary: 'tokens', concepts: '#3, #7, #10' });
    for (const id of [3, 7, 10]) expect(Math.abs(dot(r, E[id]))).toBeLessThan(1e-6);
    expect(Math.hypot(...r)).toBeCloseTo(1, 6);
    const removed = rows('removed');
    expect(removed.map((x) => x.before)).toEqual(['#3', '#7 (⊥ earlier)', '#10 (⊥ earlier)', 'all removed (norm)']);
    for (const x of removed.slice(0, 3)) expect(Math.abs(x['cos after'] as number)).toBeLessThan(1e-6);
    expect(summary).toMatch(/^removed 3 direction\(s\)/);
  });

  it('text concepts through a text tower ("sunset, blue sky"), and the combined method removes u and the concepts', async () => {
    const withText = tinyClip({ tokenizer: toyTokenizer({ sunset: 3, blue: 5, sky: 6 }) });
    const residual = residualFrom(E[3].map((v, i) => v + E[12][i]), E[5]);
    const sunset = E[3];
    const t = withText.encodeText!(['blue sky']);
    const blueSky = Array.from(await t.data());
    t.dispose();
    const { r, rows } = await correct(withText, residual, { method: 'shifted+concepts', vocabulary: 'tokens', k: 3, concepts: 'sunset, blue sky' });
    expect(Math.abs(dot(r, sunset))).toBeLessThan(1e-6);
    expect(Math.abs(dot(r, blueSky))).toBeLessThan(1e-6);
    expect(rows('removed').map((x) => String(x.before).split(' (')[0])).toEqual(['shift u', 'sunset', 'blue sky', 'all removed']);
    withText.dispose();
  });

  it('stats features: removing mean_r zeroes that coordinate and keeps the rest in proportion', async () => {
    const vPos = new Array(37).fill(0.1);
    const vNeg = new Array(37).fill(0.1);
    const iR = STATS_FEATURE_NAMES.indexOf('mean_r');
    vPos[iR] = 0.9;
    vPos[0] = 0.5;
    const residual = residualFrom(vPos, vNeg, 'stats:v1');
    const before = Array.from(await residual.r.data());
    const { r } = await correct(stats, residual, { method: 'concepts', vocabulary: 'features', concepts: 'mean_r' });
    expect(Math.abs(r[iR])).toBeLessThan(1e-7);
    const rest = unit(before.map((v, i) => (i === iR ? 0 : v)));
    rest.forEach((v, i) => expect(r[i]).toBeCloseTo(v, 6));
  });

  it('errors: no text tower for phrases, nothing to remove, everything removed, space mismatch', async () => {
    let e = await failure(correct(stats, residualFrom(new Array(37).fill(1).map((_, i) => i), new Array(37).fill(1), 'stats:v1'), { method: 'concepts', vocabulary: 'features', concepts: 'sunset' }));
    expect(e.field).toBe('concepts');
    expect(e.message).toMatch(/no text tower/);
    e = await failure(correct(stats, residualFrom(new Array(37).fill(1).map((_, i) => i), new Array(37).fill(1), 'stats:v1'), { method: 'shifted' }));
    expect(e.field).toBe('encoder');
    expect(e.message).toMatch(/"stats:v1" is not CLIP and has no text tower/);
    e = await failure(correct(clip, residualFrom(E[3], E[5]), { method: 'concepts', concepts: ' ' }));
    expect(e.field).toBe('concepts');
    expect(e.message).toMatch(/No concepts to remove/);
    // r = norm(E3 − E5) lies in span(#3, #5): removing both leaves nothing.
    e = await failure(correct(clip, residualFrom(E[3], E[5]), { method: 'concepts', concepts: '#3, #5' }));
    expect(e.field).toBe('concepts');
    expect(e.message).toMatch(/entirely along the removed directions/);
    e = await failure(correct(clip, residualFrom(E[3], E[5], 'clip:other'), {}));
    expect(e.field).toBe('residual');
    expect(e.message).toMatch(/"clip:other" but the encoder is "clip:tiny-clip"/);
  });
});

describe('bias-correct keeps the Residual Vector target mode (issue 12)', () => {
  it("mean-projection: the corrected target is <mean E(well-lit), r'>, start <mean E(backlit), r'>; paper thr kept beside it", async () => {
    const D = STATS_FEATURE_NAMES.length;
    const meanPos = Array.from({ length: D }, (_, i) => 0.1 * Math.sin(i + 1));
    const meanNeg = Array.from({ length: D }, (_, i) => 0.1 * Math.cos(2 * i));
    const base = residualFrom(meanPos, meanNeg, 'stats:v1');
    const calibrated = { ...base, thr: dot(meanPos, Array.from(base.r.dataSync())), calibration: { mode: 'mean-projection' as const, quantile: 0.5, meanPos: Float32Array.from(meanPos), meanNeg: Float32Array.from(meanNeg) } };
    const { res, r } = await correct(stats, calibrated, { method: 'concepts', vocabulary: 'features', concepts: 'mean_r, mean_g, mean_b' });
    const out = res as ResidualValue & { thrPaper: number; start: number };
    [16, 17, 18].forEach((i) => expect(r[i]).toBeCloseTo(0, 6));
    expect(out.thr).toBeCloseTo(dot(meanPos, r), 5);
    expect(out.start).toBeCloseTo(dot(meanNeg, r), 5);
    expect(out.thrPaper).toBeCloseTo(dot(unit(meanPos), r), 5);
    tf.dispose([base.r, base.vPos, base.vNeg, res.r, res.vPos, res.vNeg]);
  });
});
