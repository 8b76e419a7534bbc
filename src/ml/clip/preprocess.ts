/**
 * CLIP image preprocessing as METHODS.md ("CLIP pieces"), on [N,H,W,3] 0..1 images:
 * - `dataset`: short side → size with bicubic (Pillow-equivalent weights) + centre crop, as HF
 *   CLIPImageProcessor does for dataset embeddings;
 * - `loss`: the whole image resized to size×size (aspect not kept, no crop), antialiased bilinear —
 *   the differentiable path enhancer losses use (CLIP-LIT resizes whole outputs to 224×224);
 * then (x − mean) / std per channel. Both are differentiable unless `quantize` is set.
 */
import * as tf from '@tensorflow/tfjs';
import { centerCrop, resizeImages, shortSideSize, type ResampleFilter } from '../image';

export const CLIP_MEAN: readonly [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_STD: readonly [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

export type PreprocessMode = 'dataset' | 'loss';

export interface ClipPreprocessOptions {
  /** Resize target (shortest edge in `dataset`, both sides in `loss`). */
  size: number;
  /** Centre-crop size for `dataset` (defaults to `size`). */
  cropSize?: number;
  mean?: readonly number[];
  std?: readonly number[];
  /** Filter of the `loss` path (default bilinear; `dataset` is always bicubic). */
  lossFilter?: ResampleFilter;
  /** HF `do_resize`; false skips resizing (dataset mode then only centre-crops). Default true. */
  doResize?: boolean;
  /** Round to 8-bit after each resize pass: exact HF parity for 8-bit inputs, not differentiable. */
  quantize?: boolean;
}

export function normalizeForClip(images: tf.Tensor4D, mean: readonly number[] = CLIP_MEAN, std: readonly number[] = CLIP_STD): tf.Tensor4D {
  return tf.tidy(() => tf.div(tf.sub(images, tf.tensor1d([...mean])), tf.tensor1d([...std])) as tf.Tensor4D);
}

export function preprocessForClip(images: tf.Tensor4D, mode: PreprocessMode, options: ClipPreprocessOptions): tf.Tensor4D {
  const { size } = options;
  const cropSize = options.cropSize ?? size;
  return tf.tidy(() => {
    const [, h, w] = images.shape;
    let resized: tf.Tensor4D;
    if (mode === 'dataset' && options.doResize === false) {
      resized = centerCrop(images, cropSize, cropSize);
    } else if (mode === 'dataset') {
      const target = shortSideSize(h, w, size);
      const scaled = resizeImages(images, target.height, target.width, { filter: 'bicubic', quantize: options.quantize });
      resized = centerCrop(scaled, cropSize, cropSize);
    } else {
      resized = resizeImages(images, size, size, { filter: options.lossFilter ?? 'bilinear', quantize: options.quantize });
    }
    return normalizeForClip(resized, options.mean, options.std);
  });
}
