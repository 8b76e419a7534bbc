/** Probe: ‖mean E‖ and the spread of projections on r, stats space (issue 12 cause a). */
import { readdirSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { useTestBackend } from '../../src/ml/testing';
import { StatsEncoder } from '../../src/ml/encoders';
import syntheticBacklight from '../../nodes/syntheticBacklight';
import { BACKLIT, HELD_OUT, SAMPLES, loadDir, mean, runNode, fractions } from './harness';
import type { ImageBatchValue } from '../../src/engine';

await useTestBackend('wasm');
const enc = new StatsEncoder();
const well = await loadDir(SAMPLES, readdirSync(SAMPLES).sort(), 256);
const synth = (await runNode(syntheticBacklight, { images: well }, { seed: 3 })).images as ImageBatchValue;
const real = await loadDir(BACKLIT, HELD_OUT, 256);
const embed = (b: ImageBatchValue) => tf.concat(b.images.map((im) => enc.encodeImages(im.tensor.expandDims(0) as tf.Tensor4D, 'dataset')));
const Ew = embed(well), Es = embed(synth), Er = embed(real);
const mw = tf.mean(Ew, 0), ms = tf.mean(Es, 0);
const norm = (t: tf.Tensor) => tf.norm(t).dataSync()[0];
console.log(`‖mean E(well)‖ = ${norm(mw).toFixed(3)}   ‖mean E(synthetic backlit)‖ = ${norm(ms).toFixed(3)}  ‖mean E(real held-out)‖ = ${norm(tf.mean(Er, 0)).toFixed(3)}`);
const vPos = tf.div(mw, norm(mw)), vNeg = tf.div(ms, norm(ms));
const r = tf.div(tf.sub(vPos, vNeg), norm(tf.sub(vPos, vNeg)));
const proj = (E: tf.Tensor) => Array.from(tf.squeeze(tf.matMul(E as tf.Tensor2D, tf.reshape(r, [-1, 1]))).dataSync());
const thr = tf.sum(tf.mul(vPos, r)).dataSync()[0];
const q = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return `min ${s[0].toFixed(3)} q25 ${s[Math.floor(s.length * 0.25)].toFixed(3)} median ${s[Math.floor(s.length / 2)].toFixed(3)} max ${s[s.length - 1].toFixed(3)} mean ${mean(a).toFixed(3)}`; };
console.log(`thr paper <v_pos,r> = ${thr.toFixed(3)}  <v_neg,r> = ${tf.sum(tf.mul(vNeg, r)).dataSync()[0].toFixed(3)}`);
console.log(`well-lit proj:   ${q(proj(Ew))}`);
console.log(`synthetic proj:  ${q(proj(Es))}`);
console.log(`real held-out:   ${q(proj(Er))}`);
console.log(`mean-of-unnormalised well-lit proj = <mean E, r> = ${tf.sum(tf.mul(mw, r)).dataSync()[0].toFixed(3)}`);
const names = (await import('../../src/ml/encoders')).STATS_FEATURE_NAMES;
const rv = r.dataSync();
console.log('r top components:', [...rv].map((v, i) => [names[i], v] as const).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, 12).map(([n, v]) => `${n} ${v.toFixed(2)}`).join(', '));
for (const [label, b] of [['well', well], ['synth', synth], ['real', real]] as const) {
  const f = b.images.map((im) => fractions(im.tensor));
  console.log(`${label}: clipped ${(100 * mean(f.map((x) => x.clipped))).toFixed(1)}% dark ${(100 * mean(f.map((x) => x.dark))).toFixed(1)}% mean luma ${mean(f.map((x) => x.mean)).toFixed(3)}`);
}
