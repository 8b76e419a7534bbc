/**
 * Probe: train on synthetic backlit samples (stats encoder) with a given recipe, evaluate on the
 * held-out real backlit photos (clipped / dark fractions, projection on r). Args: a JSON object
 * { target: 'paper'|'mean', ...trainer params, out?: 'dir for PNGs' }.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { useTestBackend } from '../../src/ml/testing';
import { StatsEncoder } from '../../src/ml/encoders';
import { EnhancerNet } from '../../src/ml/enhancer/network';
import { trainEnhancer } from '../../src/ml/training/enhancerTraining';
import { residualGuidance } from '../../src/ml/training/guidance';
import syntheticBacklight from '../../nodes/syntheticBacklight';
import enhancerTrainer from '../../nodes/enhancerTrainer';
import type { ImageBatchValue } from '../../src/engine';
import { BACKLIT, HELD_OUT, SAMPLES, fractions, loadDir, mean, runNode, savePng } from './harness';

const args = JSON.parse(process.argv[2] ?? '{}');
await useTestBackend('wasm');
const enc = new StatsEncoder();
const wellSamples = await loadDir(SAMPLES, readdirSync(SAMPLES).sort(), 256);
const MORE = SAMPLES.replace(/well-lit$/, 'more-well-lit');
const well: ImageBatchValue = args.more ? { kind: 'ImageBatch', images: [...wellSamples.images, ...(await loadDir(MORE, readdirSync(MORE).sort(), 256)).images] } : wellSamples;
const seeds: number[] = args.synthSeeds ?? [3];
const synthSets = await Promise.all(seeds.map(async (s) => (await runNode(syntheticBacklight, { images: well }, { seed: s, ...(args.synth ?? {}) })).images as ImageBatchValue));
const synth: ImageBatchValue = { kind: 'ImageBatch', images: synthSets.flatMap((b, i) => b.images.map((im) => ({ ...im, name: `${im.name}-${i}` }))) };
const real = await loadDir(BACKLIT, HELD_OUT, 256);
const embed = (b: ImageBatchValue) => tf.concat(b.images.map((im) => enc.encodeImages(im.tensor.expandDims(0) as tf.Tensor4D, 'dataset')));
const Ew = embed(well), Es = embed(synth);
const mw = tf.mean(Ew, 0), ms = tf.mean(Es, 0);
const norm = (t: tf.Tensor) => tf.norm(t).dataSync()[0];
const vPos = tf.div(mw, norm(mw)), vNeg = tf.div(ms, norm(ms));
let r = tf.div(tf.sub(vPos, vNeg), norm(tf.sub(vPos, vNeg))) as tf.Tensor1D;
if (args.biasCorrect) {
  // Bias Correct with concepts mean_r, mean_g, mean_b (unit feature axes 16..18): zero them, renormalise.
  const mask = tf.tensor1d(Array.from({ length: r.shape[0] }, (_, i) => (i >= 16 && i <= 18 ? 0 : 1)));
  const rm = tf.mul(r, mask);
  r = tf.div(rm, norm(rm)) as tf.Tensor1D;
}
const dot = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(a, b)).dataSync()[0];
const thrPaper = dot(vPos, r), thrMean = dot(mw, r), negMean = dot(ms, r);
const target = args.target === 'paper' ? thrPaper : thrMean;
console.log(`thr paper ${thrPaper.toFixed(3)}  mean-projection target ${thrMean.toFixed(3)}  backlit mean proj ${negMean.toFixed(3)}  → using ${target.toFixed(3)}`);
const p = enhancerTrainer.params.parse(args.trainer ?? {});
const gw = args.gapUnits ? p.guidanceWeight / (target - negMean) ** 2 : p.guidanceWeight;
const net = EnhancerNet.create(p.seed);
const t0 = Date.now();
const log: string[] = [];
await trainEnhancer(net, enc, residualGuidance(r, target, enc.space), { inputs: synth.images.map((im) => im.tensor) }, { ...p, guidanceWeight: gw, ...(args.extra ?? {}) }, {
  onStep: (s, total, m) => { if (s % 10 === 0 || s === total) console.error(`${s}: ${Object.entries(m).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(" ")}`); if (s % 10 === 0 || s === total) log.push(`${s}: ${Object.entries(m).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(' ')}`); },
});
console.log(`trained ${p.iterations} steps at ${p.imageSize}px in ${((Date.now() - t0) / 1000).toFixed(0)} s (gw effective ${gw.toFixed(2)})`);
console.log(log.join('\n'));
const proj = (t: tf.Tensor3D) => tf.tidy(() => tf.sum(tf.mul(enc.encodeImages(t.expandDims(0) as tf.Tensor4D, 'dataset'), r)).dataSync()[0]);
const rows: string[] = [];
const agg = { in: [] as ReturnType<typeof fractions>[], out: [] as ReturnType<typeof fractions>[], pin: [] as number[], pout: [] as number[] };
if (args.out) mkdirSync(args.out, { recursive: true });
for (const im of real.images) {
  const out = tf.tidy(() => net.forward(im.tensor.expandDims(0) as tf.Tensor4D, { padMode: 'reflect' }).out.squeeze([0])) as tf.Tensor3D;
  const a = fractions(im.tensor), b = fractions(out);
  const pa = proj(im.tensor), pb = proj(out);
  agg.in.push(a); agg.out.push(b); agg.pin.push(pa); agg.pout.push(pb);
  rows.push(`${im.name.padEnd(48)} clip ${(100 * a.clipped).toFixed(1).padStart(5)}→${(100 * b.clipped).toFixed(1).padStart(5)}  dark ${(100 * a.dark).toFixed(1).padStart(5)}→${(100 * b.dark).toFixed(1).padStart(5)}  luma ${a.mean.toFixed(2)}→${b.mean.toFixed(2)}  proj ${pa.toFixed(2)}→${pb.toFixed(2)}`);
  if (args.out) await savePng(tf.concat([im.tensor, out], 1) as tf.Tensor3D, path.join(args.out, `${im.name}.png`));
  out.dispose();
}
console.log(rows.join('\n'));
const f = (k: 'clipped' | 'dark' | 'mean', s: 'in' | 'out') => mean(agg[s].map((x) => x[k]));
console.log(`HELD-OUT MEAN: clipped ${(100 * f('clipped', 'in')).toFixed(2)}→${(100 * f('clipped', 'out')).toFixed(2)}  dark ${(100 * f('dark', 'in')).toFixed(1)}→${(100 * f('dark', 'out')).toFixed(1)}  luma ${f('mean', 'in').toFixed(3)}→${f('mean', 'out').toFixed(3)}  proj ${mean(agg.pin).toFixed(3)}→${mean(agg.pout).toFixed(3)} (target ${target.toFixed(3)})`);
if (args.save) { const { encodeEnhancer } = await import('../../src/ml/training/enhancerFiles'); (await import('node:fs')).writeFileSync(args.save, encodeEnhancer(net)); }
