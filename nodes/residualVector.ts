import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { defineNode, outputPath, type EmbeddingValue, type EmbeddingsValue, type ReportValue, type ResidualValue } from '../src/engine';
import { projections, quantileOf, residualTarget, type ResidualCalibration } from '../src/ml/training/guidance';

/** A Residual with what is needed to recompute its target for another r (Bias Correct) and to scale the loss. */
export type CalibratedResidual = ResidualValue & {
  /** RAVE's thr = <v_pos, r>, whatever target is used. */
  thrPaper: number;
  /** <mean E(backlit), r>: where the backlit set starts (undefined when the backlit input carries no mean). */
  start?: number;
  calibration: ResidualCalibration;
};

const round = (x: number, d = 4) => Math.round(x * 10 ** d) / 10 ** d;

/**
 * RAVE's guidance direction r = norm(v_pos − v_neg), with a choice of target (the value the
 * enhanced images' projections <E, r> are pulled to):
 *   mean-projection (default): <mean E(well-lit), r>, where the average well-lit photo projects;
 *   paper: RAVE's thr = <v_pos, r> with the normalised mean v_pos;
 *   quantile: a quantile of the well-lit projections (needs the well-lit embeddings wired).
 * Why the default is not the paper's: unit-norm embeddings of a varied set average to a vector of
 * norm ‖mean E‖ < 1 (stats space, 8 samples: 0.50), and <v_pos, r> = <mean E, r>/‖mean E‖ lies past
 * nearly every real well-lit photo (samples: thr 0.62, well-lit projections mean 0.31, 2 of 8
 * above thr). Pulling images there pushes them past any real well-lit photo (the issue-12 blow-outs).
 * With CLIP's tightly clustered embeddings (‖mean E‖ ≈ 0.9) both targets nearly agree.
 */
export default defineNode({
  type: 'residual-vector',
  title: 'Residual Vector',
  category: 'Embedding',
  description:
    "r = norm(mean E(well-lit) − mean E(backlit)), the direction that guides the enhancer (RAVE), and the target projection. Target 'mean-projection' (default) = <mean E(well-lit), r>, where the average well-lit photo lies; 'paper' = RAVE's thr = <v_pos, r> with the normalised mean, which lies past most real well-lit photos by 1/‖mean E‖ when the embeddings spread out; 'quantile' = a quantile of the well-lit projections (wire the well-lit embeddings). The report shows ‖mean E‖ of each set and the spread of the projections.",
  inputs: {
    wellLit: { kind: 'Embedding', label: 'Well-lit mean (v_pos)' },
    backlit: { kind: 'Embedding', label: 'Backlit mean (v_neg)' },
    wellLitEmbeddings: { kind: 'Embeddings', label: 'Well-lit embeddings', optional: true, description: 'For the spread of the well-lit projections and the quantile target.' },
    backlitEmbeddings: { kind: 'Embeddings', label: 'Backlit embeddings', optional: true, description: 'For the spread of the backlit projections.' },
  },
  outputs: {
    residual: { kind: 'Residual', label: 'Residual' },
    r: { kind: 'Embedding', label: 'r' },
    report: { kind: 'Report', label: 'Projections' },
  },
  params: z.object({
    target: z
      .enum(['mean-projection', 'paper', 'quantile'])
      .default('mean-projection')
      .describe("Projection the guidance pulls to: mean-projection = <mean E(well-lit), r> (calibrated, default); paper = RAVE's <v_pos, r>; quantile = that quantile of the well-lit projections."),
    quantile: z.number().min(0).max(1).default(0.5).describe('target = quantile: which quantile of the well-lit projections (0.5 = median).'),
    saveAs: outputPath('file').regex(/^([\w.-]+\.json)?$/, 'a file name ending in .json, or empty').default('').describe('Also write r, v_pos, v_neg and thr to this JSON file in the output folder.'),
  }),
  async run({ inputs, params, ctx }) {
    const pos = inputs.wellLit as EmbeddingValue;
    const neg = inputs.backlit as EmbeddingValue;
    const posSet = inputs.wellLitEmbeddings as EmbeddingsValue | undefined;
    const negSet = inputs.backlitEmbeddings as EmbeddingsValue | undefined;
    const dim = pos.tensor.shape[0];
    for (const [field, set] of [['wellLitEmbeddings', posSet], ['backlitEmbeddings', negSet]] as const) {
      if (set && set.tensor.shape[1] !== dim) ctx.fail(field, `The embeddings are ${set.tensor.shape[1]}-d but the means are ${dim}-d.`, 'wire the embeddings the means were computed from (same Encoder).');
    }
    if (params.target === 'quantile' && !posSet) ctx.fail('target', "The quantile target needs the well-lit embeddings.", "wire the well-lit Encode Images output into 'Well-lit embeddings', or pick mean-projection.");
    const vPos = tf.tidy(() => tf.div(pos.tensor, tf.norm(pos.tensor))) as tf.Tensor1D;
    const vNeg = tf.tidy(() => tf.div(neg.tensor, tf.norm(neg.tensor))) as tf.Tensor1D;
    const diff = tf.sub(vPos, vNeg);
    const gapT = tf.norm(diff);
    const gap = (await gapT.data())[0];
    gapT.dispose();
    if (!(gap > 1e-6)) {
      tf.dispose([vPos, vNeg, diff]);
      ctx.fail('wellLit', 'The well-lit and backlit means are identical, so there is no direction between them.', 'feed two different image sets (well-lit and backlit).');
    }
    const r = tf.tidy(() => tf.div(diff, gap)) as tf.Tensor1D;
    diff.dispose();
    const rArr = await r.data();
    const vPosArr = await vPos.data();
    const vNegArr = await vNeg.data();
    // Unnormalised set means from a Mean Embedding's sum and count (or from the wired embeddings).
    const unnormalisedMean = async (e: EmbeddingValue, set?: EmbeddingsValue): Promise<Float32Array | undefined> => {
      if (e.sum && e.count) return Float32Array.from(await e.sum.data(), (v) => v / e.count!);
      if (set) {
        const m = tf.mean(set.tensor, 0);
        const values = (await m.data()) as Float32Array;
        m.dispose();
        return values;
      }
      return undefined;
    };
    const calibration: ResidualCalibration = {
      mode: params.target,
      quantile: params.quantile,
      meanPos: await unnormalisedMean(pos, posSet),
      meanNeg: await unnormalisedMean(neg, negSet),
      wellLitRows: posSet ? ((await posSet.tensor.data()) as Float32Array) : undefined,
    };
    const paper = residualTarget(rArr, vPosArr, { ...calibration, mode: 'paper' }).thr;
    const chosen = residualTarget(rArr, vPosArr, calibration);
    if (chosen.mode !== params.target) ctx.log(`target ${params.target} needs the unnormalised well-lit mean (a Mean Embedding output or the well-lit embeddings); using the paper's thr = <v_pos, r> instead.`);
    const dot = (a: ArrayLike<number>) => Array.from(rArr).reduce((s, v, i) => s + v * a[i], 0);
    const start = calibration.meanNeg ? dot(calibration.meanNeg) : undefined;
    const residual: CalibratedResidual = { kind: 'Residual', space: pos.space, r, vPos, vNeg, thr: chosen.thr, target: chosen.mode, thrPaper: paper, start, calibration };

    // The report: how spread out each set is, and where the targets sit among the projections.
    const norm = (a?: Float32Array) => (a ? Math.hypot(...a) : NaN);
    const rows: ReportValue['rows'] = [];
    // Read asynchronously up front: a synchronous read of a GPU tensor is impossible on webgpu in Node.
    const rowsOf = new Map<EmbeddingsValue, Float32Array>();
    for (const set of [posSet, negSet]) if (set && !rowsOf.has(set)) rowsOf.set(set, (await set.tensor.data()) as Float32Array);
    const spread = (label: string, set: EmbeddingsValue | undefined, meanVec: Float32Array | undefined) => {
      const row: Record<string, string | number> = { set: label, '‖mean E‖': round(norm(meanVec)), '<mean E, r>': meanVec ? round(dot(meanVec)) : 'n/a' };
      if (set) {
        const p = projections(calibration.wellLitRows && set === posSet ? calibration.wellLitRows : rowsOf.get(set)!, rArr);
        Object.assign(row, { n: p.length, min: round(Math.min(...p)), q25: round(quantileOf(p, 0.25)), median: round(quantileOf(p, 0.5)), q75: round(quantileOf(p, 0.75)), max: round(Math.max(...p)), 'share ≥ paper thr': round(p.filter((v) => v >= paper).length / p.length, 3) });
      }
      rows.push(row);
    };
    spread('well-lit', posSet, calibration.meanPos);
    spread('backlit', negSet, calibration.meanNeg);
    rows.push({ set: "target: paper thr = <v_pos, r>", '<mean E, r>': round(paper) });
    rows.push({ set: `target used (${chosen.mode}${chosen.mode === 'quantile' ? ` ${params.quantile}` : ''})`, '<mean E, r>': round(chosen.thr) });
    const report: ReportValue = { kind: 'Report', title: 'Residual vector: projections on r', rows };
    ctx.log(`‖mean E(well-lit)‖ ${round(norm(calibration.meanPos), 3)}, ‖mean E(backlit)‖ ${round(norm(calibration.meanNeg), 3)}; target ${chosen.mode} ${round(chosen.thr)} (paper thr ${round(paper)}${start !== undefined ? `, backlit mean ${round(start)}` : ''})`);

    if (params.saveAs) {
      const json = JSON.stringify({ space: pos.space, dim, thr: chosen.thr, target: chosen.mode, thrPaper: paper, r: Array.from(rArr), vPos: Array.from(vPosArr), vNeg: Array.from(vNegArr), counts: { wellLit: pos.count, backlit: neg.count } });
      const written = await ctx.host.writeFile('', params.saveAs, new TextEncoder().encode(json), { overwrite: false });
      ctx.log(`wrote ${written.location}`);
    }
    const rOut: EmbeddingValue = { kind: 'Embedding', space: pos.space, tensor: r };
    return { residual, r: rOut, report };
  },
});
