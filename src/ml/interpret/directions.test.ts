import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../random';
import { alongConcepts, cosines, dot, gramSchmidt, norm, normalize, removeDirections, shiftedResidual, topBottom } from './directions';

/** Deterministic pseudo-random unit vectors (mulberry32). */
function randomVectors(n: number, dim: number, seed: number): Float64Array[] {
  const next = mulberry32(seed);
  const rand = () => next() - 0.5;
  return Array.from({ length: n }, () => normalize(Float64Array.from({ length: dim }, rand)));
}

describe('cosines and rankings', () => {
  it('cos of unit rows with a (normalised) direction; top/bottom best first, ties by index', () => {
    // Rows: e1, e2, (e1+e2)/√2, −e1 in D = 2.
    const s = Math.SQRT1_2;
    const vocab = Float32Array.from([1, 0, 0, 1, s, s, -1, 0]);
    const c = cosines(vocab, 2, [3, 0]); // direction e1, unnormalised on purpose
    expect(Array.from(c).map((x) => +x.toFixed(6))).toEqual([1, 0, +s.toFixed(6), -1]);
    const { top, bottom } = topBottom(c, 2);
    expect(top.map((t) => t.index)).toEqual([0, 2]);
    expect(bottom.map((t) => t.index)).toEqual([3, 1]);
    expect(topBottom([0.5, 0.5, 0.1], 1).top[0].index).toBe(0);
    expect(topBottom([1, 2], 5).top.length).toBe(2); // k larger than the vocabulary
  });

  it('refuses a direction of the wrong width or zero length', () => {
    expect(() => cosines(new Float32Array(6), 3, [1, 0])).toThrow(/2 values but the vocabulary rows have 3/);
    expect(() => cosines(new Float32Array(6), 3, [0, 0, 0])).toThrow(/zero length/);
  });
});

describe('Gram–Schmidt and projection removal', () => {
  it('orthonormalises, skipping dependent inputs', () => {
    const gs = gramSchmidt([[1, 1, 0], [2, 2, 0], [1, 0, 0], [0, 0, 5]]);
    expect(gs.from).toEqual([0, 2, 3]);
    expect(gs.dependent).toEqual([1]);
    for (let i = 0; i < gs.basis.length; i++) {
      expect(norm(gs.basis[i])).toBeCloseTo(1, 12);
      for (let j = 0; j < i; j++) expect(Math.abs(dot(gs.basis[i], gs.basis[j]))).toBeLessThan(1e-12);
    }
    // (1,0,0) minus its part along (1,1,0)/√2 = (1/2, −1/2, 0) → (1,−1,0)/√2
    expect(Array.from(gs.basis[1]).map((x) => +x.toFixed(9))).toEqual([+Math.SQRT1_2.toFixed(9), -Math.SQRT1_2.toFixed(9), 0]);
  });

  it('hand-computed removal in D = 3: r = (1,1,1)/√3 minus e1 → (0,1,1)/√2, component 1/√3', () => {
    const out = removeDirections([1, 1, 1], [[1, 0, 0]]);
    expect(Array.from(out.corrected).map((x) => +x.toFixed(9))).toEqual([0, +Math.SQRT1_2.toFixed(9), +Math.SQRT1_2.toFixed(9)]);
    expect(out.components[0]).toBeCloseTo(1 / Math.sqrt(3), 12);
    expect(out.removedNorm).toBeCloseTo(1 / Math.sqrt(3), 12);
  });

  it('leaves r orthogonal (≤ 1e-6) to every removed direction, also for nearly parallel 512-d concepts', () => {
    const [r, base, ...others] = randomVectors(8, 512, 7);
    // Concepts that look like CLIP text embeddings: a large shared component plus a little of their own.
    const concepts = others.map((o) => normalize(base.map((b, j) => 0.95 * b + 0.05 * o[j])));
    const rWithBias = normalize(r.map((x, j) => x + 2 * concepts[0][j]));
    const gs = gramSchmidt(concepts);
    expect(gs.basis.length).toBe(concepts.length);
    const { corrected } = removeDirections(rWithBias, gs.basis);
    expect(norm(corrected)).toBeCloseTo(1, 12);
    for (const c of concepts) expect(Math.abs(dot(corrected, c))).toBeLessThan(1e-6);
    for (const q of gs.basis) expect(Math.abs(dot(corrected, q))).toBeLessThan(1e-12);
  });

  it('refuses to remove everything', () => {
    expect(() => removeDirections([1, 2, 0], [[1, 0, 0], [0, 1, 0]])).toThrow(/entirely along the removed directions/);
  });

  it('alongConcepts: cos, cos² and the span norm', () => {
    const r = [3, 4, 0]; // unit (0.6, 0.8, 0)
    const a = alongConcepts(r, [[1, 0, 0], [0, 2, 0], [1, 1, 0]], ['x', 'y', 'xy']);
    expect(a.each.map((e) => +e.cos.toFixed(9))).toEqual([0.6, 0.8, +(1.4 / Math.SQRT2).toFixed(9)]);
    expect(a.each[0].share).toBeCloseTo(0.36, 12);
    expect(a.span).toBeCloseTo(1, 12); // r lies in span(x, y)
    expect(a.spanRank).toBe(2);
    expect(a.dependent).toEqual([2]);
  });
});

describe("RAVE's shifted residual", () => {
  it('matches a hand computation in D = 3 with k = 1', () => {
    // Vocabulary rows (unit): t0 = e1, t1 = e2, t2 = (e1 + e3)/√2, t3 = e3.   r = (2, 1, −2)/3.
    const s = Math.SQRT1_2;
    const vocab = Float64Array.from([1, 0, 0, 0, 1, 0, s, 0, s, 0, 0, 1]);
    const r = [2 / 3, 1 / 3, -2 / 3];
    // Scores: t0 2/3, t1 1/3, t2 0, t3 −2/3 → top = {t0}, bottom = {t3}.
    // top = norm(2/3 · e1) = e1; bot = norm(−2/3 · e3) = −e3 (the signed score flips it);
    // u = norm(e1 − e3) = (1, 0, −1)/√2; ⟨u, r⟩ = (2/3 + 2/3)/√2 = 4/(3√2);
    // r − ⟨u,r⟩u = (2/3 − 2/3, 1/3, −2/3 + 2/3) = (0, 1/3, 0) → r' = e2.
    const out = shiftedResidual(vocab, 3, r, 1);
    expect(out.topRows.map((t) => t.index)).toEqual([0]);
    expect(out.bottomRows.map((t) => t.index)).toEqual([3]);
    expect(Array.from(out.top)).toEqual([1, 0, 0]);
    expect(Array.from(out.bot).map((x) => x + 0)).toEqual([0, 0, -1]);
    [s, 0, -s].forEach((v, i) => expect(out.u[i]).toBeCloseTo(v, 12));
    expect(out.component).toBeCloseTo(4 / (3 * Math.SQRT2), 12);
    [0, 1, 0].forEach((v, i) => expect(out.corrected[i]).toBeCloseTo(v, 12));
  });

  it('k = 2 weights each entry by its score: top = norm(s_a t_a + s_b t_b)', () => {
    const vocab = Float64Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, -1, 0]);
    const r = normalize([3, 2, -1]);
    const out = shiftedResidual(vocab, 3, r, 2);
    // scores: 3, 2, −1, −2 (÷√14): top = {t0, t1} → norm(3 e1 + 2 e2); bottom = {t3, t2} → norm(−2·(−e2) − 1·e3) = norm(2 e2 − e3).
    const top = normalize([3, 2, 0]);
    const bot = normalize([0, 2, -1]);
    top.forEach((v, i) => expect(out.top[i]).toBeCloseTo(v, 12));
    bot.forEach((v, i) => expect(out.bot[i]).toBeCloseTo(v, 12));
    const u = normalize(top.map((v, i) => v + bot[i]));
    u.forEach((v, i) => expect(out.u[i]).toBeCloseTo(v, 12));
    expect(Math.abs(dot(out.corrected, u))).toBeLessThan(1e-12);
  });

  it('refuses k that needs more entries than the vocabulary has', () => {
    expect(() => shiftedResidual(Float64Array.from([1, 0, 0, 1]), 2, [1, 1], 2)).toThrow(/k = 2 needs at least 4 vocabulary entries, there are 2/);
  });
});
