/** Probe: clipped / dark fractions of an enhancer file on the held-out real photos (256 px). Args: weights file [png dir]. */
import { mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { useTestBackend } from '../../src/ml/testing';
import { decodeEnhancer } from '../../src/ml/training/enhancerFiles';
import { readdirSync } from 'node:fs';
import { BACKLIT, HELD_OUT, fractions, loadDir, mean, savePng } from './harness';

/** VALIDATION=1: the reserved real photos (not the held-out test split; sharp cannot read the 2 BMPs). */
const RESERVED = readdirSync(BACKLIT).filter((f) => !HELD_OUT.includes(f) && !f.endsWith('.bmp')).sort();

await useTestBackend('wasm');
const file = process.argv[2];
const outDir = process.argv[3];
const net = decodeEnhancer(path.basename(file), new Uint8Array(readFileSync(file))).net;
const real = await loadDir(BACKLIT, process.env.VALIDATION ? RESERVED : HELD_OUT, 256);
if (outDir) mkdirSync(outDir, { recursive: true });
const a: ReturnType<typeof fractions>[] = [], b: ReturnType<typeof fractions>[] = [];
for (const im of real.images) {
  const out = tf.tidy(() => net.forward(im.tensor.expandDims(0) as tf.Tensor4D, { padMode: 'reflect' }).out.squeeze([0])) as tf.Tensor3D;
  const fa = fractions(im.tensor), fb = fractions(out);
  a.push(fa); b.push(fb);
  console.log(`${im.name.padEnd(48)} clip ${(100 * fa.clipped).toFixed(1).padStart(5)}→${(100 * fb.clipped).toFixed(1).padStart(5)}  dark ${(100 * fa.dark).toFixed(1).padStart(5)}→${(100 * fb.dark).toFixed(1).padStart(5)}  luma ${fa.mean.toFixed(2)}→${fb.mean.toFixed(2)}`);
  if (outDir) await savePng(tf.concat([im.tensor, out], 1) as tf.Tensor3D, path.join(outDir, `${im.name}.png`));
  out.dispose();
}
const m = (x: typeof a, k: 'clipped' | 'dark' | 'mean') => mean(x.map((v) => v[k]));
console.log(`MEAN clipped ${(100 * m(a, 'clipped')).toFixed(2)}→${(100 * m(b, 'clipped')).toFixed(2)}  dark ${(100 * m(a, 'dark')).toFixed(1)}→${(100 * m(b, 'dark')).toFixed(1)}  luma ${m(a, 'mean').toFixed(3)}→${m(b, 'mean').toFixed(3)}`);
