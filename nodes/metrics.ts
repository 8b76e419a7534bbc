import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { defineNode, outputPath, writeFileGroup, type ImageBatchValue, type PromptPairValue, type ReportValue, type ResidualValue } from '../src/engine';
import type { ImageEncoder } from '../src/ml/encoder';
import { indexByName, listNames, reportCsv, rgbOf, unmatched } from '../src/ml/interpret';
import { colorMetrics, raveMetrics, undefinedSsimNote } from '../src/ml/metrics';
import { distribution, exposureStats, newlyClipped, percentileRank, type FloatRgb } from '../src/ml/metrics/noReference';

/** CLIP's logit scale in RAVE/CLIP-LIT: logits = 100·cos. */
const LOGIT_SCALE = 100;

type Row = ReportValue['rows'][number];

/** What a Residual Vector may add to a Residual (calibrated targets): read when present, never required. */
interface ResidualExtras {
  thrPaper?: number;
  calibration?: { wellLitRows?: Float32Array };
}

/**
 * Evaluates enhanced images: full-reference PSNR/SSIM against ground truth, exactly as RAVE's
 * compute_metrics.py (gray) plus colour variants; no-reference exposure statistics (clipped and
 * dark fractions, local contrast; against the un-enhanced input when wired); and the projection
 * <E(x), r> in the guidance space with its spread over the batch.
 *
 * Why the exposure statistics: <E(x), r> − thr alone ranked a global Exposure/Gamma curve above
 * CLAHE and the released enhancers on real backlit photos (see README "Metrics"), because in the
 * stats space r is mostly "fewer dark pixels" — a curve that lifts everything and clips the sky
 * scores well. Clipped/dark fractions and local contrast show what eyes see: blown highlights,
 * crushed shadows, and haze (flattened local contrast).
 */
export default defineNode({
  type: 'metrics',
  title: 'Metrics',
  category: 'Analysis',
  description:
    "Scores enhanced images. Always: luma statistics per image — clipped (Y > 0.98) and dark (Y < 0.1) fractions, mean luma, local contrast (mean std of Y in a box of ~1/32 of the short side) and the no-reference score well-exposed contrast = local contrast × (1 − clipped − dark), which does not reward a hazy global curve or blown highlights as <E(x), r> does; with the un-enhanced input wired (paired by name) also the change in each and the newly clipped fraction. With ground truth (paired by file name): PSNR and SSIM on gray images exactly as RAVE's compute_metrics.py (cv2 gray of BGR data, SSIM range = max − min of the enhanced image), plus colour PSNR/SSIM. With a residual + encoder: <E(x), r> against thr and the spread of <E(x), r> over the images (std, min, median, max; the well-lit photos' percentile when the residual carries their embeddings) and CLIP's well-lit probability softmax(100·cos)[positive] (prompts + encoder). Per image and mean; saveAs writes CSV + JSON. LPIPS is not computed: no maintained JS implementation or bundled AlexNet-LPIPS weights exist on npm.",
  inputs: {
    images: { kind: 'ImageBatch', label: 'Enhanced images' },
    groundTruth: { kind: 'ImageBatch', label: 'Ground truth', optional: true, description: 'Paired by file name (extension ignored when needed); same sizes.' },
    before: { kind: 'ImageBatch', label: 'Input (before)', optional: true, description: 'The un-enhanced images, paired by file name: adds Δ clipped, newly clipped, Δ dark and the local-contrast ratio.' },
    residual: { kind: 'Residual', label: 'Residual', optional: true, description: 'For the no-reference score <E(x), r> vs thr.' },
    prompts: { kind: 'PromptPair', label: 'Prompts', optional: true, description: 'For the well-lit probability softmax(100·cos(E(x), p))[positive].' },
    encoder: { kind: 'Encoder', label: 'Encoder', optional: true, description: 'Needed for the no-reference scores: the encoder of the residual/prompts.' },
  },
  outputs: { report: { kind: 'Report', label: 'Metrics' } },
  params: z.object({
    preprocess: z.enum(['dataset', 'loss']).default('dataset').describe('No-reference scores: encoder preprocessing (dataset = as the set means behind r; loss = as the guidance loss).'),
    saveAs: outputPath('file').regex(/^[\w.-]*$/, 'letters, digits, "-", "_" and "." only').default('').describe('Also write <name>.csv and <name>.json to the output folder ("" = no files).'),
  }),
  async run({ inputs, params, ctx }) {
    const batch = inputs.images as ImageBatchValue;
    const truth = inputs.groundTruth as ImageBatchValue | undefined;
    const residual = inputs.residual as ResidualValue | undefined;
    const prompts = inputs.prompts as PromptPairValue | undefined;
    const encoder = inputs.encoder as ImageEncoder | undefined;
    const before = inputs.before as ImageBatchValue | undefined;
    if ((residual || prompts) && !encoder) ctx.fail('encoder', `A ${residual ? 'residual' : 'prompt pair'} is wired but no encoder: the images must be embedded to be scored in its space.`, 'wire the Encoder node that computed it.');
    for (const [field, v] of [['residual', residual], ['prompts', prompts]] as const) {
      if (!v || !encoder) continue;
      if (v.space !== encoder.space) ctx.fail(field, `The ${field} lives in "${v.space}" but the encoder is "${encoder.space}".`, 'wire the Encoder node that computed it.');
      const dim = field === 'residual' ? residual!.r.shape[0] : prompts!.prompts.shape[1];
      if (dim !== encoder.dim) ctx.fail(field, `The ${field} has ${dim} dimensions but the encoder's embeddings have ${encoder.dim}.`, 'wire the Encoder node that computed it.');
    }
    let pairs: ReturnType<typeof indexByName<{ name: string; tensor: tf.Tensor3D }>> | undefined;
    if (truth) {
      pairs = indexByName(truth.images);
      const missing = unmatched(batch.images, pairs);
      if (missing.length) {
        ctx.fail('groundTruth', `No ground truth named like ${listNames(missing)} (of ${batch.images.length} enhanced image(s); ground truth: ${listNames(truth.images.map((i) => i.name))}).`, 'pairs are matched by file name: give the enhanced images and their ground truth the same names (extensions may differ).');
      }
    }

    let beforeByName: ReturnType<typeof indexByName<{ name: string; tensor: tf.Tensor3D }>> | undefined;
    if (before) {
      beforeByName = indexByName(before.images);
      const missing = unmatched(batch.images, beforeByName);
      if (missing.length) ctx.fail('before', `No input image named like ${listNames(missing)} (inputs: ${listNames(before.images.map((i) => i.name))}).`, 'wire the images that went into the enhancer (same file names).');
    }

    const rPos = residual && tf.tidy(() => tf.div(residual.r, tf.norm(residual.r)).reshape([-1, 1]) as tf.Tensor2D);
    const pT = prompts && tf.tidy(() => tf.div(prompts.prompts, tf.norm(prompts.prompts, 'euclidean', 1, true)).transpose() as tf.Tensor2D);
    const rows: Row[] = [];
    try {
      for (let i = 0; i < batch.images.length; i++) {
        ctx.throwIfCancelled();
        const img = batch.images[i];
        ctx.progress(i, batch.images.length, { message: img.name });
        const row: Row = { name: img.name };
        const [h, w] = img.tensor.shape;
        const after: FloatRgb = { width: w, height: h, data: await img.tensor.data() };
        const st = exposureStats(after);
        Object.assign(row, { 'mean luma': st.meanLuma, 'clipped %': 100 * st.clipped, 'dark %': 100 * st.dark, 'local contrast': st.localContrast, 'well-exposed contrast': st.wellExposedContrast });
        if (beforeByName) {
          const src = beforeByName.get(img.name)!;
          const [bh, bw] = src.tensor.shape;
          if (bh !== h || bw !== w) ctx.fail('before', `"${img.name}" is ${w}×${h} but its input "${src.name}" is ${bw}×${bh}.`, 'wire the images exactly as they went into the enhancer (same loader and maxSide).');
          const prev: FloatRgb = { width: bw, height: bh, data: await src.tensor.data() };
          const b = exposureStats(prev);
          Object.assign(row, {
            'Δ clipped %': 100 * (st.clipped - b.clipped),
            'newly clipped %': 100 * newlyClipped(prev, after),
            'Δ dark %': 100 * (st.dark - b.dark),
            'contrast ratio': b.localContrast > 0 ? st.localContrast / b.localContrast : Number.NaN,
          });
        }
        if (pairs) {
          const gt = pairs.get(img.name)!;
          const [gh, gw] = gt.tensor.shape;
          if (gh !== h || gw !== w) ctx.fail('groundTruth', `"${img.name}" is ${w}×${h} but its ground truth "${gt.name}" is ${gw}×${gh}.`, 'evaluate at the ground truth\'s size (load both with the same maxSide, and enhance at native resolution).');
          const [g, e] = await Promise.all([rgbOf(gt.tensor), rgbOf(img.tensor)]);
          const gray = raveMetrics(g, e);
          const flat = undefinedSsimNote(`"${img.name}"`, gray);
          if (flat) ctx.log(flat);
          const color = colorMetrics(g, e);
          Object.assign(row, { PSNR: gray.psnr, SSIM: gray.ssim, 'PSNR rgb': color.psnr, 'SSIM rgb': color.ssim });
        }
        if (encoder && (rPos || pT)) {
          const scores = tf.tidy(() => {
            const e = encoder.encodeImages(img.tensor.expandDims(0) as tf.Tensor4D, params.preprocess);
            const parts: tf.Tensor[] = [];
            if (rPos) parts.push(tf.matMul(e, rPos).reshape([1]));
            if (pT) parts.push(tf.softmax(tf.matMul(e, pT).mul(LOGIT_SCALE)).reshape([2]).slice([1], [1]));
            return tf.concat(parts);
          });
          const s = Array.from(await scores.data());
          scores.dispose();
          if (residual) Object.assign(row, { '<E,r>': s[0], '<E,r>−thr': s[0] - residual.thr });
          if (prompts) row['P(well-lit)'] = s[rPos ? 1 : 0];
          await tf.nextFrame();
        }
        rows.push(row);
      }
    } finally {
      tf.dispose([rPos, pT].filter((t): t is tf.Tensor2D => t !== undefined));
    }
    ctx.progress(batch.images.length, batch.images.length);
    const mean: Row = { name: 'mean' };
    for (const key of Object.keys(rows[0] ?? {})) {
      if (key === 'name') continue;
      mean[key] = rows.reduce((s, r) => s + (r[key] as number), 0) / rows.length;
    }
    const table = rows.length ? [...rows, mean] : rows;
    let spread: ReturnType<typeof distribution> | undefined;
    let wellLit: ReturnType<typeof distribution> | undefined;
    if (residual && rows.length) {
      // The spread of the projections over the batch, and where the well-lit photos lie when known.
      const proj = rows.map((r) => r['<E,r>'] as number);
      spread = distribution(proj);
      const extras = residual as ResidualValue & ResidualExtras;
      const wl = extras.calibration?.wellLitRows;
      let wlProj: number[] | undefined;
      if (wl && wl.length % residual.r.shape[0] === 0) {
        const r = await residual.r.data();
        const d = r.length;
        let norm = 0;
        for (const v of r) norm += v * v;
        norm = Math.sqrt(norm);
        wlProj = Array.from({ length: wl.length / d }, (_, i) => {
          let s = 0;
          for (let j = 0; j < d; j++) s += wl[i * d + j] * r[j];
          return s / norm;
        });
        wellLit = distribution(wlProj);
        for (const row of rows) row['well-lit percentile'] = 100 * percentileRank(row['<E,r>'] as number, wlProj);
        mean['well-lit percentile'] = rows.reduce((s, r) => s + (r['well-lit percentile'] as number), 0) / rows.length;
      }
      const reached = proj.filter((p) => p >= residual.thr).length;
      table.push(
        { name: '<E,r> std', '<E,r>': spread.std },
        { name: '<E,r> min', '<E,r>': spread.min },
        { name: '<E,r> median', '<E,r>': spread.median },
        { name: '<E,r> max', '<E,r>': spread.max },
        { name: 'images ≥ thr', '<E,r>': reached },
      );
      if (wellLit) table.push({ name: 'well-lit <E,r> (p25 | median | p75)', '<E,r>': wellLit.median, '<E,r>−thr': wellLit.median - residual.thr, 'p25': wellLit.p25, 'p75': wellLit.p75 });
      if (extras.thrPaper !== undefined && extras.thrPaper !== residual.thr) table.push({ name: "paper's thr", '<E,r>': extras.thrPaper });
    }
    const written: Row[] = [];
    if (params.saveAs) {
      const json = JSON.stringify({ thr: residual?.thr, space: encoder?.space, projections: spread, wellLitProjections: wellLit, rows: table }, null, 1);
      // One stem for both files, so the .csv and .json of one run always pair up.
      const files = [{ rest: '.csv', bytes: new TextEncoder().encode(reportCsv(table)) }, { rest: '.json', bytes: new TextEncoder().encode(json) }];
      for (const w of await writeFileGroup(ctx.host, '', params.saveAs, files, { overwrite: false })) {
        if (w.renamedFrom) ctx.log(`${w.renamedFrom} exists; wrote ${w.name} instead.`);
        written.push({ name: w.name, location: w.location, bytes: w.bytes });
      }
    }
    const what = [
      'clipped/dark %, local contrast',
      before && 'change from the input',
      truth && 'vs ground truth (RAVE gray PSNR/SSIM + colour)',
      residual && `<E(x), r> vs thr ${residual.thr.toFixed(4)}${spread ? ` (spread ${spread.min.toFixed(3)}…${spread.max.toFixed(3)}, std ${spread.std.toFixed(3)})` : ''}`,
      prompts && 'P(well-lit)',
    ].filter(Boolean).join('; ');
    const report: ReportValue = { kind: 'Report', title: `Metrics of ${batch.images.length} image(s): ${what}`, rows: [...table, ...written] };
    return { report };
  },
});
