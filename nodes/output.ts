import { z } from 'zod';
import { defineNode, outputPath, rgbaFromImage, type ImageBatchValue, type ReportValue } from '../src/engine';
import { isPng, pngWithGraph } from '../src/engine/schema/pngWorkflow';

/**
 * Writes images: to a folder under the run's output root (CLI `--out`), or to downloads in the
 * editor. Existing files are never overwritten silently: a free name is chosen and reported.
 */
export default defineNode({
  type: 'output',
  title: 'Output',
  category: 'Output',
  description: 'Saves images as PNG or JPEG (CLI: into --out/<folder>; editor: preview grid and download). Never overwrites unless asked.',
  inputs: { images: { kind: 'ImageBatch', label: 'Images' } },
  outputs: { files: { kind: 'Report', label: 'Written files' } },
  params: z.object({
    folder: outputPath('folder').regex(/^[\w\-. /]*$/, 'use letters, digits, "-", "_", "." and "/" only').default('').describe('Sub-folder of the output root.'),
    format: z.enum(['png', 'jpeg']).default('png'),
    quality: z.number().int().min(1).max(100).default(92).describe('JPEG quality.'),
    suffix: outputPath('name-part').max(64).default('').describe('Appended to each file name before the extension.'),
    overwrite: z.boolean().default(false).describe('Replace existing files instead of choosing a new name.'),
  }),
  async run({ inputs, params, ctx }) {
    const batch = inputs.images as ImageBatchValue;
    const rows: ReportValue['rows'] = [];
    const ext = params.format === 'png' ? 'png' : 'jpg';
    for (let i = 0; i < batch.images.length; i++) {
      ctx.throwIfCancelled();
      const img = batch.images[i];
      ctx.progress(i, batch.images.length, { message: img.name });
      const rgba = await rgbaFromImage(img.tensor);
      const encoded = await ctx.host.encodeImage(rgba, params.format, params.quality);
      // A PNG carries the graph that made it (tEXt "backlit-graph", as ComfyUI does): drop it on the editor, or `backlit run it.png`.
      // (Hosts that do not encode real PNGs, e.g. the tests' in-memory host, get their bytes back untouched.)
      const bytes = params.format === 'png' && ctx.workflow && isPng(encoded) ? pngWithGraph(encoded, ctx.workflow) : encoded;
      const name = `${img.name.replace(/\.[^.]+$/, '')}${params.suffix}.${ext}`;
      const written = await ctx.host.writeFile(params.folder, name, bytes, { overwrite: params.overwrite });
      if (written.renamedFrom) ctx.log(`${written.renamedFrom} exists; wrote ${written.name} instead (set overwrite to replace).`);
      rows.push({ name: written.name, location: written.location, bytes: written.bytes, width: rgba.width, height: rgba.height });
    }
    ctx.progress(batch.images.length, batch.images.length);
    const files: ReportValue = { kind: 'Report', title: 'Written files', rows };
    return { files };
  },
});
