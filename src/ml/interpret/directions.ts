/**
 * The linear algebra of reading and correcting a direction in an embedding space (DESIGN §1,
 * "Interpretation and bias correction"; METHODS.md "Shifted residual"). Plain Float64 maths on
 * typed arrays — no tfjs: these are a few thousand dot products, they need no gradients, and
 * plain numbers are what the tests compare against hand computations.
 *
 * A vocabulary matrix is `V` rows of width `D`, row-major, each row L2-normalised.
 */

export type Vector = Float64Array;

export function toVector(values: ArrayLike<number>): Vector {
  return Float64Array.from(values);
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function norm(a: ArrayLike<number>): number {
  return Math.sqrt(dot(a, a));
}

/** a / ‖a‖; throws on a (near-)zero vector, which has no direction. */
export function normalize(a: ArrayLike<number>, what = 'vector'): Vector {
  const n = norm(a);
  if (!(n > 1e-12)) throw new Error(`${what} has zero length, so it has no direction`);
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] / n;
  return out;
}

/** Row `i` of a row-major [V, D] matrix (a view, no copy). */
export function row(matrix: Float32Array | Float64Array, dim: number, i: number): Float32Array | Float64Array {
  return matrix.subarray(i * dim, (i + 1) * dim);
}

/** cos(direction, row_i) for every row: rows are unit, so a dot product with the unit direction. */
export function cosines(matrix: Float32Array | Float64Array, dim: number, direction: ArrayLike<number>): Float64Array {
  if (direction.length !== dim) throw new Error(`direction has ${direction.length} values but the vocabulary rows have ${dim}`);
  const d = normalize(direction, 'direction');
  const rows = matrix.length / dim;
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    const o = i * dim;
    for (let j = 0; j < dim; j++) s += matrix[o + j] * d[j];
    out[i] = s;
  }
  return out;
}

export interface Ranked {
  index: number;
  score: number;
}

/**
 * The k highest and k lowest scores (each best first: `top[0]` is the highest, `bottom[0]` the
 * lowest). Ties keep the lower index first, so rankings are deterministic.
 */
export function topBottom(scores: ArrayLike<number>, k: number): { top: Ranked[]; bottom: Ranked[] } {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const n = Math.min(k, order.length);
  const top = order.slice(0, n).map((index) => ({ index, score: scores[index] }));
  const bottom = order
    .slice(order.length - n)
    .reverse()
    .map((index) => ({ index, score: scores[index] }));
  return { top, bottom };
}

export interface Orthonormalised {
  /** Orthonormal vectors spanning the inputs, in input order. */
  basis: Vector[];
  /** Which input each basis vector came from. */
  from: number[];
  /** Inputs that added nothing new (linearly dependent on earlier ones, up to `eps`). */
  dependent: number[];
}

/**
 * Modified Gram–Schmidt with one re-orthogonalisation pass ("twice is enough"), so the basis is
 * orthonormal to ~1e-15 even when the inputs are nearly parallel — CLIP text embeddings are
 * (cosines of 0.7–0.95 between unrelated words are common).
 */
export function gramSchmidt(vectors: ArrayLike<number>[], eps = 1e-6): Orthonormalised {
  const basis: Vector[] = [];
  const from: number[] = [];
  const dependent: number[] = [];
  vectors.forEach((v, index) => {
    const n0 = norm(v);
    let w = toVector(v);
    for (let pass = 0; pass < 2; pass++) {
      for (const q of basis) {
        const c = dot(w, q);
        for (let j = 0; j < w.length; j++) w[j] -= c * q[j];
      }
    }
    const n = norm(w);
    if (!(n0 > 0) || n <= eps * n0) {
      dependent.push(index);
      return;
    }
    w = w.map((x) => x / n);
    basis.push(w);
    from.push(index);
  });
  return { basis, from, dependent };
}

export interface Removal {
  /** norm(r − Σ ⟨r, q_k⟩ q_k). */
  corrected: Vector;
  /** ⟨r̂, q_k⟩ for each basis vector, with r̂ = r/‖r‖ (what was removed, as a cosine). */
  components: number[];
  /** ‖r̂ − corrected part‖ before renormalising: sqrt(Σ components²), the share of r that was removed. */
  removedNorm: number;
}

/**
 * Removes an orthonormal set of directions from r and renormalises: r' = norm(r − Σ (r·q_k) q_k).
 * Throws when r lies (almost) entirely in their span — nothing would be left to guide with.
 */
export function removeDirections(r: ArrayLike<number>, basis: ArrayLike<number>[]): Removal {
  const rhat = normalize(r, 'the residual');
  const w = toVector(rhat);
  const components: number[] = [];
  for (const q of basis) {
    const c = dot(rhat, q);
    components.push(c);
    for (let j = 0; j < w.length; j++) w[j] -= c * q[j];
  }
  // Second pass: removes what rounding left along the basis (keeps ⟨r', q⟩ at ~1e-16).
  for (const q of basis) {
    const c = dot(w, q);
    for (let j = 0; j < w.length; j++) w[j] -= c * q[j];
  }
  const left = norm(w);
  if (!(left > 1e-6)) throw new Error('the residual lies entirely along the removed directions; nothing is left');
  return { corrected: w.map((x) => x / left), components, removedNorm: Math.sqrt(components.reduce((s, c) => s + c * c, 0)) };
}

export interface ShiftedResidual {
  /** u = norm(top + bot). */
  u: Vector;
  top: Vector;
  bot: Vector;
  /** The k most similar rows (highest cosine first) and the k least similar (lowest first). */
  topRows: Ranked[];
  bottomRows: Ranked[];
  /** norm(r − ⟨u, r⟩u). */
  corrected: Vector;
  /** ⟨u, r̂⟩: the component that was removed. */
  component: number;
}

/**
 * RAVE's shifted residual (METHODS.md): top = norm(Σ_{k most similar} s_i t_i / k),
 * bot = norm(Σ_{k least similar} s_i t_i / k) with s_i = cos(t_i, r) — the *signed* score, so the
 * least similar tokens (negative s_i) pull bot away from themselves — u = norm(top + bot),
 * r' = norm(r − ⟨u, r⟩u). (The reference code weights raw, unnormalised CLIP token embeddings; the
 * ImageEncoder contract gives normalised ones, which is what is used here.)
 */
export function shiftedResidual(vocab: Float32Array | Float64Array, dim: number, r: ArrayLike<number>, k: number): ShiftedResidual {
  const rows = vocab.length / dim;
  if (!Number.isInteger(rows) || rows < 1) throw new Error(`the vocabulary is not a [V, ${dim}] matrix`);
  if (k < 1 || 2 * k > rows) throw new Error(`k = ${k} needs at least ${2 * k} vocabulary entries, there are ${rows}`);
  const scores = cosines(vocab, dim, r);
  const { top: topRows, bottom: bottomRows } = topBottom(scores, k);
  const weightedMean = (picked: Ranked[], what: string): Vector => {
    const acc = new Float64Array(dim);
    for (const { index, score } of picked) {
      const t = row(vocab, dim, index);
      for (let j = 0; j < dim; j++) acc[j] += (score * t[j]) / picked.length;
    }
    return normalize(acc, what);
  };
  const top = weightedMean(topRows, 'the score-weighted mean of the most similar entries');
  const bot = weightedMean(bottomRows, 'the score-weighted mean of the least similar entries');
  const sum = new Float64Array(dim);
  for (let j = 0; j < dim; j++) sum[j] = top[j] + bot[j];
  const u = normalize(sum, 'top + bot');
  const removal = removeDirections(r, [u]);
  return { u, top, bot, topRows, bottomRows, corrected: removal.corrected, component: removal.components[0] };
}

export interface AlongConcept {
  label: string;
  /** cos(r, c). */
  cos: number;
  /** cos²: the share of ‖r‖² along c. */
  share: number;
}

/**
 * How much of a unit direction lies along each concept (cos and cos²), and along all of them
 * together: ‖proj_span(r)‖ via an orthonormal basis of the span.
 */
export function alongConcepts(direction: ArrayLike<number>, concepts: ArrayLike<number>[], labels: string[]): { each: AlongConcept[]; span: number; spanRank: number; dependent: number[] } {
  const d = normalize(direction, 'the direction');
  const each = concepts.map((v, i) => {
    const c = dot(d, normalize(v, `concept "${labels[i]}"`));
    return { label: labels[i], cos: c, share: c * c };
  });
  const gs = gramSchmidt(concepts);
  const span = Math.sqrt(gs.basis.reduce((s, q) => s + dot(d, q) ** 2, 0));
  return { each, span, spanRank: gs.basis.length, dependent: gs.dependent };
}
