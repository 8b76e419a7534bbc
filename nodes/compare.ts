import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { defineNode, type ImageBatchValue, type NamedImage, type ReportValue } from '../src/engine';
import { downscale, drawGrid, fitSize, indexByName, listNames, rgbOf, textWidth, unmatched, type GridCell } from '../src/ml/interpret';
import { colorPsnr, raveMetrics, undefinedSsimNote } from '../src/ml/metrics';

const COLUMNS = ['a', 'b', 'c'] as const;

/**
 * A side-by-side figure: one row per input image (input | methods… | ground truth), rows matched
 * by file name, with column titles and per-cell PSNR/SSIM captions drawn in a built-in bitmap font.
 */
export default defineNode({
  type: 'compare',
  title: 'Compare',
  category: 'Analysis',
  description:
    'Builds a comparison figure: one row per input image (input | up to three methods | ground truth), matched by file name, each cell downscaled to cellSize, with column titles and, when ground truth is wired, RAVE-style gray PSNR/SSIM under each cell. Outputs the figure (one image, <name>.png; wire it to an Output node) and the per-image table, which adds RGB PSNR: gray scores cannot see a colour cast or washed-out colours.',
  inputs: {
    input: { kind: 'ImageBatch', label: 'Input (backlit)' },
    a: { kind: 'ImageBatch', label: 'Method A', optional: true },
    b: { kind: 'ImageBatch', label: 'Method B', optional: true },
    c: { kind: 'ImageBatch', label: 'Method C', optional: true },
    groundTruth: { kind: 'ImageBatch', label: 'Ground truth', optional: true },
  },
  outputs: {
    grid: { kind: 'ImageBatch', label: 'Figure' },
    report: { kind: 'Report', label: 'Per image' },
  },
  params: z.object({
    labelInput: z.string().max(40).default('input').describe('Title of the input column.'),
    labelA: z.string().max(40).default('A').describe('Title of method A.'),
    labelB: z.string().max(40).default('B').describe('Title of method B.'),
    labelC: z.string().max(40).default('C').describe('Title of method C.'),
    labelTruth: z.string().max(40).default('ground truth').describe('Title of the ground-truth column.'),
    cellSize: z.number().int().min(48).max(1024).default(192).describe('Side of each cell in pixels (images are fitted inside, aspect kept).'),
    maxRows: z.number().int().min(1).max(200).default(12).describe('Rows drawn at most (the table covers every image).'),
    name: z.string().regex(/^[\w.-]+$/, 'letters, digits, "-", "_" and "." only').default('compare').describe('File name of the figure (without .png).'),
  }),
  async run({ inputs, params, ctx }) {
    const input = inputs.input as ImageBatchValue;
    const truth = inputs.groundTruth as ImageBatchValue | undefined;
    const labels = { a: params.labelA, b: params.labelB, c: params.labelC };
    const methods = COLUMNS.filter((k) => inputs[k]).map((k) => ({ field: k, label: labels[k], batch: inputs[k] as ImageBatchValue }));
    if (input.images.length === 0) ctx.fail('input', 'The input batch is empty.', 'wire the images that the methods enhanced.');
    const indexed = methods.map((m) => ({ ...m, index: indexByName(m.batch.images) }));
    for (const m of indexed) {
      const missing = unmatched(input.images, m.index);
      if (missing.length) ctx.fail(m.field, `${m.label} (input "${m.field}") has no image named like ${listNames(missing)}.`, 'rows are matched by file name: wire the enhanced versions of the same input images.');
    }
    const truthIndex = truth && indexByName(truth.images);
    if (truthIndex) {
      const missing = unmatched(input.images, truthIndex);
      if (missing.length) ctx.fail('groundTruth', `No ground truth named like ${listNames(missing)}.`, 'rows are matched by file name: give the ground truth the same names as the inputs (extensions may differ).');
    }

    const columns: Array<{ label: string; get(name: string): NamedImage }> = [
      { label: params.labelInput, get: (n) => input.images.find((im) => im.name === n)! },
      ...indexed.map((m) => ({ label: m.label, get: (n: string) => m.index.get(n)! })),
      ...(truthIndex ? [{ label: params.labelTruth, get: (n: string) => truthIndex.get(n)! }] : []),
    ];
    const scored = truthIndex ? columns.slice(0, columns.length - 1) : [];
    const table: ReportValue['rows'] = [];
    const cells: GridCell[][] = [];
    for (let i = 0; i < input.images.length; i++) {
      ctx.throwIfCancelled();
      const name = input.images[i].name;
      ctx.progress(i, input.images.length, { message: name });
      const gt = truthIndex?.get(name);
      const gtRgb = gt && (await rgbOf(gt.tensor));
      const scores = new Map<number, { psnr: number; ssim: number }>();
      for (const [c, col] of scored.entries()) {
        const img = col.get(name);
        const [h, w] = img.tensor.shape;
        if (gtRgb && (gtRgb.width !== w || gtRgb.height !== h)) {
          ctx.fail('groundTruth', `"${name}" of ${col.label} is ${w}×${h} but its ground truth "${gt!.name}" is ${gtRgb.width}×${gtRgb.height}.`, 'load and enhance at the ground truth\'s size.');
        }
        const rgb = await rgbOf(img.tensor);
        const m = raveMetrics(gtRgb!, rgb);
        const flat = undefinedSsimNote(`"${name}" (${col.label})`, m);
        if (flat) ctx.log(flat);
        scores.set(c, m);
        // Gray PSNR/SSIM are RAVE's metrics; RGB PSNR (all channels, uint8 as cv2) is what sees colour.
        table.push({ name, column: col.label, PSNR: m.psnr, SSIM: m.ssim, 'RGB PSNR': colorPsnr(gtRgb!, rgb) });
      }
      if (i >= params.maxRows) continue;
      const row: GridCell[] = [];
      for (const [c, col] of columns.entries()) {
        const img = col.get(name);
        const [h, w] = img.tensor.shape;
        const size = fitSize(w, h, params.cellSize);
        const small = downscale(img.tensor, size.width, size.height);
        const data = await small.data();
        small.dispose();
        const s = scores.get(c);
        const caption = c === 0 ? name : s ? scoreCaption(s, params.cellSize) : undefined;
        row.push({ image: { ...size, data }, caption });
      }
      cells.push(row);
      await tf.nextFrame();
    }
    ctx.progress(input.images.length, input.images.length);
    if (input.images.length > params.maxRows) ctx.log(`drew the first ${params.maxRows} of ${input.images.length} rows (raise maxRows for more).`);
    const canvas = drawGrid(columns.map((c) => c.label), cells, params.cellSize);
    const grid: ImageBatchValue = { kind: 'ImageBatch', images: [{ name: `${params.name}.png`, tensor: tf.tensor3d(canvas.data, [canvas.height, canvas.width, 3]) }] };

    // Means first: the editor shows the first rows of a report.
    const means: ReportValue['rows'] = scored.map((col, c) => {
      const mine = table.filter((_, i) => i % scored.length === c);
      const mean = (k: string) => avg(mine.map((r) => r[k] as number));
      return { name: 'mean', column: col.label, PSNR: mean('PSNR'), SSIM: mean('SSIM'), 'RGB PSNR': mean('RGB PSNR') };
    });
    const report: ReportValue = {
      kind: 'Report',
      title: truthIndex ? `Compare: gray PSNR (dB) / SSIM vs ${params.labelTruth} (RAVE's metrics) and RGB PSNR (dB, sees colour), ${input.images.length} image(s)` : `Compare: ${input.images.length} image(s), no ground truth (no scores)`,
      rows: [...means, ...table],
    };
    return { grid, report };
  },
});

/** "PSNR 21.34 SSIM 0.812" when it fits the cell, else "21.34 / 0.812". */
export function scoreCaption(s: { psnr: number; ssim: number }, width: number): string {
  const long = `PSNR ${s.psnr.toFixed(2)} SSIM ${s.ssim.toFixed(3)}`;
  return textWidth(long) <= width ? long : `${s.psnr.toFixed(2)} / ${s.ssim.toFixed(3)}`;
}

function avg(xs: number[]): number {
  return xs.reduce((s, x) => s + x, 0) / xs.length;
}
