import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { defineNode, type ImageBatchValue } from '../src/engine';

/** Global exposure and gamma: the simplest enhancement, and a baseline to compare learned ones with. */
export default defineNode({
  type: 'exposure',
  title: 'Exposure / Gamma',
  category: 'Image',
  description: 'Multiplies by 2^stops, then applies gamma (out = in^(1/gamma)), clamped to 0..1.',
  inputs: { images: { kind: 'ImageBatch', label: 'Images' } },
  outputs: { images: { kind: 'ImageBatch', label: 'Images' } },
  params: z.object({
    stops: z.number().min(-8).max(8).default(1).describe('Exposure change in stops (+1 doubles brightness).'),
    gamma: z.number().min(0.1).max(10).default(1).describe('Gamma; above 1 lifts shadows.'),
  }),
  migrations: [
    // v0 called the exposure param "ev".
    ({ ev, ...rest }) => (ev === undefined ? rest : { ...rest, stops: ev }),
  ],
  async run({ inputs, params }) {
    const batch = inputs.images as ImageBatchValue;
    const gain = 2 ** params.stops;
    const images = batch.images.map((img) => ({
      name: img.name,
      tensor: tf.tidy(() => img.tensor.mul(gain).clipByValue(0, 1).pow(1 / params.gamma)) as tf.Tensor3D,
    }));
    const value: ImageBatchValue = { kind: 'ImageBatch', images };
    return { images: value };
  },
});
