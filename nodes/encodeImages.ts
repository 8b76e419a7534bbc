import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { defineNode, type EmbeddingsValue, type ImageBatchValue } from '../src/engine';
import type { ImageEncoder } from '../src/ml/encoder';
import { imageEncodeEngine } from '../src/ml/onnx/engine';

/** Images → L2-normalised embeddings [N,D] in the encoder's space (preprocessing as METHODS.md). */
export default defineNode({
  type: 'encode-images',
  title: 'Encode Images',
  category: 'Embedding',
  description: 'Embeds each image with the encoder. "dataset" preprocessing = short side resize + centre crop (for set means); "loss" = whole image resized (as in the guidance loss).',
  inputs: {
    images: { kind: 'ImageBatch', label: 'Images' },
    encoder: { kind: 'Encoder', label: 'Encoder' },
  },
  outputs: { embeddings: { kind: 'Embeddings', label: 'Embeddings' } },
  params: z.object({
    preprocess: z.enum(['dataset', 'loss']).default('dataset').describe('dataset: short side + centre crop (bicubic); loss: whole image resized.'),
  }),
  async run({ inputs, params, ctx }) {
    const batch = inputs.images as ImageBatchValue;
    const encoder = inputs.encoder as ImageEncoder;
    const rows: tf.Tensor2D[] = [];
    // The CLI may install a faster engine for the CLIP tower (onnxruntime-node, same weights; equal within 1e-4).
    const engine = imageEncodeEngine();
    const useEngine = engine?.accepts(encoder) ? engine : null;
    if (useEngine) ctx.log(`CLIP vision tower on ${useEngine.name}`);
    try {
      for (let i = 0; i < batch.images.length; i++) {
        ctx.throwIfCancelled();
        ctx.progress(i, batch.images.length, { message: batch.images[i].name });
        // One image at a time: photos differ in size, and the encoder resizes each anyway.
        if (useEngine) {
          const x = batch.images[i].tensor.expandDims(0) as tf.Tensor4D;
          try {
            rows.push(await useEngine.encodeImages(encoder, x, params.preprocess));
          } finally {
            x.dispose();
          }
        } else rows.push(tf.tidy(() => encoder.encodeImages(batch.images[i].tensor.expandDims(0) as tf.Tensor4D, params.preprocess)));
        await tf.nextFrame();
      }
      ctx.progress(batch.images.length, batch.images.length);
      const embeddings: EmbeddingsValue = { kind: 'Embeddings', space: encoder.space, tensor: tf.concat(rows, 0), names: batch.images.map((im) => im.name) };
      return { embeddings };
    } finally {
      tf.dispose(rows);
    }
  },
});
