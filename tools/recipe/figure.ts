/**
 * The README's before/after figure, from redistributable images only: the ImageMagick "darker"
 * bluebells rendering and Synthetic Backlight (seed 7) of two samples. Columns: input, Exposure/Gamma
 * (+1 stop, gamma 1.5), CLAHE (clip 2, 8×8), the bundled enhancer. Args: weights file, output .jpg.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import clahe from '../../nodes/clahe';
import exposure from '../../nodes/exposure';
import syntheticBacklight from '../../nodes/syntheticBacklight';
import type { ImageBatchValue } from '../../src/engine';
import { useTestBackend } from '../../src/ml/testing';
import { decodeEnhancer } from '../../src/ml/training/enhancerFiles';
import { ROOT, loadImage, runNode } from './harness';

await useTestBackend('wasm');
const [weights, outFile] = process.argv.slice(2);
const net = decodeEnhancer(path.basename(weights), new Uint8Array(readFileSync(weights))).net;
const S = path.join(ROOT, 'public/samples');
const darker = await loadImage(path.join(S, 'pairs/imagemagick_bluebells_darker.jpg'), 320);
const wells = await Promise.all(['well-lit/opencv_building.jpg', 'more-well-lit/opencv_home.jpg'].map((f) => loadImage(path.join(S, f), 320)));
const synth = ((await runNode(syntheticBacklight, { images: { kind: 'ImageBatch', images: wells } }, { seed: 7 })).images as ImageBatchValue).images;
const inputs = [darker, ...synth];
const batch = { kind: 'ImageBatch', images: inputs } as ImageBatchValue;
const exp = ((await runNode(exposure, { images: batch }, { stops: 1, gamma: 1.5 })).images as ImageBatchValue).images;
const cl = ((await runNode(clahe, { images: batch }, { clipLimit: 2, tileGrid: 8 })).images as ImageBatchValue).images;
const ours = inputs.map((im) => tf.tidy(() => net.forward(im.tensor.expandDims(0) as tf.Tensor4D, { padMode: 'reflect' }).out.squeeze([0])) as tf.Tensor3D);
const H = 240;
const cells: Buffer[] = [];
for (let i = 0; i < inputs.length; i++) {
  for (const t of [inputs[i].tensor, exp[i].tensor, cl[i].tensor, ours[i]]) {
    const [h, w] = t.shape;
    const data = Buffer.from(tf.tidy(() => tf.clipByValue(tf.mul(t, 255), 0, 255).round().toInt().dataSync()));
    cells.push(await sharp(data, { raw: { width: w, height: h, channels: 3 } }).resize({ height: H, width: 320, fit: 'contain', background: '#ffffff' }).png().toBuffer());
  }
}
const cols = 4;
const rows = inputs.length;
const composite = cells.map((input, k) => ({ input, left: (k % cols) * 324, top: 28 + Math.floor(k / cols) * (H + 4) }));
const labels = ['input', 'Exposure/Gamma (+1 stop, γ 1.5)', 'CLAHE (clip 2, 8×8)', 'bundled enhancer'];
const svg = Buffer.from(`<svg width="${cols * 324}" height="28" xmlns="http://www.w3.org/2000/svg">${labels.map((l, i) => `<text x="${i * 324 + 6}" y="20" font-family="sans-serif" font-size="16">${l}</text>`).join('')}</svg>`);
await sharp({ create: { width: cols * 324, height: 28 + rows * (H + 4), channels: 3, background: '#ffffff' } })
  .composite([{ input: svg, left: 0, top: 0 }, ...composite])
  .jpeg({ quality: 88 })
  .toFile(outFile);
console.log(`wrote ${outFile}`);
