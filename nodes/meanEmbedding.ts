import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { defineNode, type EmbeddingValue, type EmbeddingsValue } from '../src/engine';

/**
 * v = norm(mean of the embeddings). Carries the raw sum and count, so a big folder can be encoded
 * in shards: chain Mean Embedding nodes through `merge` and the result equals one pass over all.
 */
export default defineNode({
  type: 'mean-embedding',
  title: 'Mean Embedding',
  category: 'Embedding',
  description: 'Normalised mean of a set of embeddings (v_pos / v_neg of RAVE). Optionally merges a partial mean from another shard.',
  inputs: {
    embeddings: { kind: 'Embeddings', label: 'Embeddings' },
    merge: { kind: 'Embedding', label: 'Merge partial', optional: true, description: 'A Mean Embedding of another shard of the same set.' },
  },
  outputs: { mean: { kind: 'Embedding', label: 'Mean' } },
  params: z.object({}),
  async run({ inputs, ctx }) {
    const e = inputs.embeddings as EmbeddingsValue;
    const partial = inputs.merge as EmbeddingValue | undefined;
    if (partial && (!partial.sum || partial.count === undefined)) {
      ctx.fail('merge', 'The merged embedding is not a Mean Embedding output (it has no sum and count).', 'wire the mean output of another Mean Embedding node.');
    }
    if (partial && partial.tensor.shape[0] !== e.tensor.shape[1]) {
      ctx.fail('merge', `Dimensions differ (${partial.tensor.shape[0]} vs ${e.tensor.shape[1]}).`, 'merge shards encoded by the same encoder.');
    }
    const sum = tf.tidy(() => (partial ? tf.add(tf.sum(e.tensor, 0), partial.sum!) : tf.sum(e.tensor, 0))) as tf.Tensor1D;
    const count = e.tensor.shape[0] + (partial?.count ?? 0);
    const tensor = tf.tidy(() => tf.div(sum, tf.add(tf.norm(sum), 1e-12))) as tf.Tensor1D;
    const mean: EmbeddingValue = { kind: 'Embedding', space: e.space, tensor, count, sum };
    return { mean };
  },
});
