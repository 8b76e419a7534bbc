import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { defineNode, imageFromRgba, type ImageBatchValue, type NamedImage } from '../src/engine';

/**
 * Loads photos from a file, folder or glob (CLI: relative to the graph file, then the working
 * folder, then the bundled samples; editor: bundled samples or files you drop/pick). Files that
 * are not images, fail to decode or are too large are skipped with a warning naming the file and
 * the reason; the rest still load. BMP is read too (CLI: decode-bmp; browser: createImageBitmap).
 */
export default defineNode({
  type: 'image-loader',
  title: 'Image Loader',
  category: 'Input',
  description: 'Loads PNG, JPEG, WebP, TIFF, GIF, AVIF or BMP images from a file, folder or glob (e.g. samples/well-lit/*). Other, bad or huge files are skipped with a warning that names the file and the reason.',
  inputs: {},
  outputs: { images: { kind: 'ImageBatch', label: 'Images' } },
  params: z.object({
    source: z.string().min(1).default('samples/well-lit/*').describe('File, folder or glob; several separated by ";". Editor: a sample set or "upload:…" from dropped files.'),
    maxCount: z.number().int().min(1).max(10000).default(64).describe('Load at most this many images (sorted by name).'),
    maxSide: z.number().int().min(0).max(16384).default(0).describe('Downscale so the longest side is at most this (0 keeps the original size).'),
    maxMegapixels: z.number().min(0.01).max(200).default(50).describe('Skip images larger than this many megapixels.'),
  }),
  externalKey: (params, host) => host.fingerprint(params.source),
  async run({ params, ctx }) {
    const files = await ctx.host.listImageFiles(params.source);
    if (files.length === 0) {
      ctx.fail('source', `No images found for "${params.source}".`, 'point it at an existing image file, a folder of images, or a glob such as photos/*.jpg (paths are relative to the graph file).');
    }
    const images: NamedImage[] = [];
    const skipped: string[] = [];
    let i = 0;
    // maxCount counts images loaded, not files listed: a skipped file does not use up a slot.
    for (; i < files.length && images.length < params.maxCount; i++) {
      ctx.throwIfCancelled();
      const file = files[i];
      ctx.progress(i, files.length, { message: file.name });
      try {
        const bytes = await file.read();
        const decoded = await ctx.host.decodeImage(bytes, file.name, { maxPixels: params.maxMegapixels * 1e6 });
        const mp = (decoded.width * decoded.height) / 1e6;
        if (mp > params.maxMegapixels) throw new Error(`${mp.toFixed(1)} MP is above maxMegapixels (${params.maxMegapixels}); raise it or downscale the file`);
        const full = imageFromRgba(decoded);
        images.push({ name: file.name, tensor: params.maxSide > 0 ? downscale(full, params.maxSide) : full });
      } catch (err) {
        skipped.push(file.name);
        const e = err as Error & { info?: { message: string; fix?: string } };
        ctx.log(`skipped ${file.name}: ${e.info ? `${e.info.message}${e.info.fix ? ` Fix: ${e.info.fix}` : ''}` : e.message}`);
      }
    }
    ctx.progress(files.length, files.length);
    if (i < files.length) ctx.log(`loaded the first ${params.maxCount} image(s) (maxCount); ${files.length - i} more file(s) not read.`);
    if (skipped.length && images.length) ctx.log(`warning: ${skipped.length} of ${i} file(s) skipped: ${skipped.slice(0, 5).join(', ')}${skipped.length > 5 ? ', …' : ''} (reasons above).`);
    if (images.length === 0) {
      ctx.fail('source', `None of the ${files.length} file(s) for "${params.source}" could be read (${skipped.slice(0, 3).join(', ')}).`, 'use PNG, JPEG, WebP, TIFF or BMP files (see the warnings for each file).');
    }
    const value: ImageBatchValue = { kind: 'ImageBatch', images };
    return { images: value };
  },
});

function downscale(image: tf.Tensor3D, maxSide: number): tf.Tensor3D {
  const [h, w] = image.shape;
  const scale = maxSide / Math.max(h, w);
  if (scale >= 1) return image;
  const size: [number, number] = [Math.max(1, Math.round(h * scale)), Math.max(1, Math.round(w * scale))];
  // Area-like downscale: bilinear with antialiasing via half-pixel centres is close enough for previews and training sets.
  const out = tf.tidy(() => tf.image.resizeBilinear(image, size, false, true));
  image.dispose();
  return out;
}
