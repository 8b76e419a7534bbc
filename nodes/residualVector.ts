import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { defineNode, type EmbeddingValue, type ResidualValue } from '../src/engine';

/** RAVE's guidance: r = norm(v_pos − v_neg), thr = <v_pos, r>; optionally written to a JSON file. */
export default defineNode({
  type: 'residual-vector',
  title: 'Residual Vector',
  category: 'Embedding',
  description: 'r = norm(mean E(well-lit) − mean E(backlit)) and thr = <v_pos, r>: the direction that guides the enhancer (RAVE).',
  inputs: {
    wellLit: { kind: 'Embedding', label: 'Well-lit mean (v_pos)' },
    backlit: { kind: 'Embedding', label: 'Backlit mean (v_neg)' },
  },
  outputs: {
    residual: { kind: 'Residual', label: 'Residual' },
    r: { kind: 'Embedding', label: 'r' },
  },
  params: z.object({
    saveAs: z.string().regex(/^([\w.-]+\.json)?$/, 'a file name ending in .json, or empty').default('').describe('Also write r, v_pos, v_neg and thr to this JSON file in the output folder.'),
  }),
  async run({ inputs, params, ctx }) {
    const pos = inputs.wellLit as EmbeddingValue;
    const neg = inputs.backlit as EmbeddingValue;
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
    const thrT = tf.tidy(() => tf.sum(tf.mul(vPos, r)));
    const thr = (await thrT.data())[0];
    thrT.dispose();
    const residual: ResidualValue = { kind: 'Residual', space: pos.space, r, vPos, vNeg, thr };
    if (params.saveAs) {
      const json = JSON.stringify({ space: pos.space, dim: r.shape[0], thr, r: Array.from(await r.data()), vPos: Array.from(await vPos.data()), vNeg: Array.from(await vNeg.data()), counts: { wellLit: pos.count, backlit: neg.count } });
      const written = await ctx.host.writeFile('', params.saveAs, new TextEncoder().encode(json), { overwrite: false });
      ctx.log(`wrote ${written.location}`);
    }
    const rOut: EmbeddingValue = { kind: 'Embedding', space: pos.space, tensor: r };
    return { residual, r: rOut };
  },
});
