import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { defineNode, type ReportValue, type ResidualValue } from '../src/engine';
import type { ImageEncoder } from '../src/ml/encoder';
import {
  buildOptions,
  conceptDirections,
  cosines,
  directionOf,
  dot,
  gramSchmidt,
  normalize,
  parsePhraseList,
  removeDirections,
  round,
  shiftedResidual,
  splitRows,
  topBottom,
  vocabularyFor,
  vocabularyParams,
  withVocabularyErrors,
} from '../src/ml/interpret';
import { residualTarget } from '../src/ml/training/guidance';
import type { CalibratedResidual } from './residualVector';

/**
 * Removes chosen directions from RAVE's residual: the paper's shifted residual (the component along
 * u = norm(top + bot) of the k most and least similar vocabulary entries) and/or explicit concepts
 * (Gram–Schmidt orthonormalised, r' = norm(r − Σ ⟨r, u_k⟩u_k)); the target is recomputed for r' in the Residual Vector's mode.
 */
export default defineNode({
  type: 'bias-correct',
  title: 'Bias Correct',
  category: 'Embedding',
  description:
    "Removes directions from a residual r: \"shifted\" = RAVE's shifted residual (u = norm(top + bot), top/bot = score-weighted means of the k most/least similar vocabulary entries; r' = norm(r − ⟨u,r⟩u)); \"concepts\" = your concepts, orthonormalised, r' = norm(r − Σ⟨r,u_k⟩u_k). thr is recomputed for r' the way the Residual Vector chose its target (paper: ⟨v_pos, r'⟩; mean-projection: ⟨mean E(well-lit), r'⟩). The report lists each removed component (cos before, ≈0 after), thr, cos(r, r') and the top/bottom entries before vs after.",
  inputs: {
    encoder: { kind: 'Encoder', label: 'Encoder', description: 'The encoder r was computed with (its text tower embeds the vocabulary and concepts).' },
    residual: { kind: 'Residual', label: 'Residual' },
  },
  outputs: {
    residual: { kind: 'Residual', label: 'Corrected residual' },
    report: { kind: 'Report', label: 'Correction' },
    summary: { kind: 'Text', label: 'Summary' },
  },
  params: z.object({
    method: z.enum(['shifted', 'concepts', 'shifted+concepts']).default('shifted').describe('What to remove: the shifted-residual direction u, your concepts, or both.'),
    ...vocabularyParams('tokens'),
    k: z.number().int().min(1).max(1000).default(15).describe('shifted: how many most/least similar entries build top and bot (the paper: 15 tokens).'),
    concepts: z.string().max(10_000).default('sunset, blue sky').describe('concepts: directions to remove (comma/newline separated): phrases (text tower), or vocabulary entries such as #5 or mean_b.'),
    show: z.number().int().min(1).max(50).default(5).describe('How many top/bottom entries to list before vs after.'),
  }),
  async run({ inputs, params, ctx }) {
    const encoder = inputs.encoder as ImageEncoder;
    const residual = inputs.residual as ResidualValue;
    const r = await directionOf(ctx, encoder, 'residual', { space: residual.space, tensor: residual.r });
    const vocab = await withVocabularyErrors(ctx, () => vocabularyFor(encoder, params, ctx.host.readModelFile.bind(ctx.host), buildOptions(ctx, `embedding the ${params.vocabulary}`)));
    const dim = vocab.dim;

    // The directions to remove, named, in order: u first, then the concepts.
    const removed: Array<{ label: string; vector: ArrayLike<number> }> = [];
    if (params.method !== 'concepts') {
      let shift: ReturnType<typeof shiftedResidual>;
      try {
        shift = shiftedResidual(vocab.vectors, dim, r, params.k);
      } catch (err) {
        return ctx.fail('k', `${(err as Error).message}.`, `lower k (the ${vocab.kind} vocabulary has ${vocab.labels.length} entries).`);
      }
      const names = (rows: typeof shift.topRows) => rows.slice(0, 3).map((t) => vocab.labels[t.index]).join(', ');
      removed.push({ label: `shift u (top ${params.k}: ${names(shift.topRows)}…; bottom: ${names(shift.bottomRows)}…)`, vector: shift.u });
    }
    if (params.method !== 'shifted') {
      const names = parsePhraseList(params.concepts);
      if (!names.length) ctx.fail('concepts', 'No concepts to remove.', 'list concepts (e.g. "sunset, blue sky"), or pick method "shifted".');
      const matrix = await withVocabularyErrors(ctx, () => conceptDirections(encoder, names, vocab, 'concepts', buildOptions(ctx, 'embedding the concepts')));
      splitRows(matrix, dim).forEach((v, i) => removed.push({ label: names[i], vector: v }));
    }
    const gs = gramSchmidt(removed.map((d) => d.vector));
    if (gs.dependent.length) ctx.log(`${gs.dependent.map((i) => `"${removed[i].label}"`).join(', ')} lie in the span of the directions before them; nothing extra removed for them.`);
    let removal: ReturnType<typeof removeDirections>;
    try {
      removal = removeDirections(r, gs.basis);
    } catch (err) {
      return ctx.fail(params.method === 'shifted' ? 'k' : 'concepts', `${(err as Error).message}.`, 'remove fewer directions.');
    }
    const corrected = removal.corrected;

    const vPos = await residual.vPos.data();
    // The target is recomputed for r' the way the Residual Vector chose it (paper: <v_pos, r'>;
    // mean-projection: <mean E(well-lit), r'>; quantile: of the well-lit projections on r').
    const calibration = (residual as Partial<CalibratedResidual>).calibration;
    const thrPaperAfter = dot(normalize(vPos, 'v_pos'), corrected);
    const targetAfter = calibration ? residualTarget(corrected, vPos, calibration) : { thr: thrPaperAfter, mode: 'paper' };
    const thrAfter = targetAfter.thr;
    const out: ResidualValue | CalibratedResidual = {
      kind: 'Residual',
      space: residual.space,
      r: tf.tensor1d(Float32Array.from(corrected)),
      vPos: tf.clone(residual.vPos),
      vNeg: tf.clone(residual.vNeg),
      thr: thrAfter,
      target: targetAfter.mode,
      ...(calibration ? { calibration, thrPaper: thrPaperAfter, start: calibration.meanNeg ? dot(calibration.meanNeg, corrected) : undefined } : {}),
    };

    const rows: ReportValue['rows'] = [];
    gs.basis.forEach((q, j) => {
      const label = removed[gs.from[j]].label + (j > 0 ? ' (⊥ earlier)' : '');
      rows.push({ section: 'removed', rank: j + 1, before: label, 'cos before': round(removal.components[j], 6), after: label, 'cos after': round(dot(corrected, q), 9) });
    });
    if (gs.basis.length > 1) rows.push({ section: 'removed', rank: gs.basis.length + 1, before: 'all removed (norm)', 'cos before': round(removal.removedNorm, 6), after: 'all removed (norm)', 'cos after': 0 });
    const thrName = calibration ? `target (${calibration.mode})` : 'thr = <v_pos, r>';
    rows.push({ section: 'thr', rank: 1, before: thrName, 'cos before': round(residual.thr, 6), after: `${thrName} on r'`, 'cos after': round(thrAfter, 6) });
    rows.push({ section: "cos(r, r')", rank: 1, before: 'r', 'cos before': 1, after: "r'", 'cos after': round(dot(r, corrected), 6) });
    const before = topBottom(cosines(vocab.vectors, dim, r), params.show);
    const after = topBottom(cosines(vocab.vectors, dim, corrected), params.show);
    for (const end of ['top', 'bottom'] as const) {
      before[end].forEach((b, i) => {
        const a = after[end][i];
        rows.push({ section: end, rank: i + 1, before: vocab.labels[b.index], 'cos before': round(b.score, 6), after: vocab.labels[a.index], 'cos after': round(a.score, 6) });
      });
    }
    const list = (xs: Array<{ index: number }>) => xs.map((t) => vocab.labels[t.index]).join(', ');
    const summary = `removed ${gs.basis.length} direction(s), ${round(100 * removal.removedNorm ** 2, 1)}% of ‖r‖²; top before: ${list(before.top)}; after: ${list(after.top)}; thr ${round(residual.thr, 4)} → ${round(thrAfter, 4)}`;
    ctx.log(summary);
    const report: ReportValue = { kind: 'Report', title: `Bias correction (${params.method}; ${vocab.kind}: ${vocab.description})`, rows };
    return { residual: out, report, summary };
  },
});
