// Validation (and, with --heldout, test) scores of enhancer files for issue 12. Usage: npx tsx bench/bundled-validate.ts [--baselines] [--heldout] [--png DIR] file.safetensors...
import { readFileSync, readdirSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import clahe from '../nodes/clahe';
import exposure from '../nodes/exposure';
import syntheticBacklight from '../nodes/syntheticBacklight';
import { MemoryHost } from '../src/engine/testing/memoryHost';
import { fakeContext } from '../src/engine/testing/build';
import type { ImageBatchValue, NamedImage } from '../src/engine';
import { raveMetrics } from '../src/ml/metrics';
import { exposureStats } from '../src/ml/metrics/noReference';
import { decodeEnhancer } from '../src/ml/training/enhancerFiles';
import type { EnhancerNet } from '../src/ml/enhancer/network';
import { sharedDataDir, useTestBackend } from '../src/ml/testing';

const args = process.argv.slice(2);
const heldoutMode = args.includes('--heldout');
const gainMode = args.includes('--gain');
const baselines = args.includes('--baselines');
const pngIdx = args.indexOf('--png');
const pngDir = pngIdx >= 0 ? args[pngIdx + 1] : undefined;
const files = args.filter((a, i) => !a.startsWith('--') && !(pngIdx >= 0 && i === pngIdx + 1));
const SIDE = 256;
const BACKLIT = path.join(sharedDataDir, 'images/backlit');
const VAL_REAL = readdirSync(BACKLIT).filter((f) => /^lowlight_(lol|sci)_/.test(f)).sort();
const HELD = readdirSync(BACKLIT).filter((f) => /^(backlit_|lowlight_dicm_)/.test(f)).sort();
const VAL_SYN = ['opencv_butterfly.jpg', 'opencv_home.jpg', 'opencv_squirrel_cls.jpg'].map((f) => path.join(sharedDataDir, 'images/well-lit', f));
const TEST_SYN = ['opencv_board.jpg', 'opencv_baboon.jpg', 'skimage_motorcycle_left.png'].map((f) => path.join(sharedDataDir, 'images/well-lit', f));

async function load(file: string): Promise<NamedImage> {
  const { data, info } = await sharp(file).resize(SIDE, SIDE, { fit: 'inside', withoutEnlargement: true }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { name: path.basename(file).replace(/\.\w+$/, ''), tensor: tf.tidy(() => tf.div(tf.tensor3d(new Uint8Array(data), [info.height, info.width, 3], 'int32').toFloat(), 255)) as tf.Tensor3D };
}
const rgb = (t: tf.Tensor3D) => ({ width: t.shape[1], height: t.shape[0], data: t.dataSync() });
const rgb255 = (t: tf.Tensor3D) => ({ width: t.shape[1], height: t.shape[0], data: Float32Array.from(t.dataSync(), (v) => v * 255) });
const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
const enhanceOne = (net: EnhancerNet, t: tf.Tensor3D) => tf.tidy(() => net.forward(t.expandDims(0) as tf.Tensor4D, { padMode: 'reflect' }).out.squeeze([0])) as tf.Tensor3D;
const pct = (x: number) => (100 * x).toFixed(2);

async function savePng(t: tf.Tensor3D, file: string) {
  const d = Uint8Array.from(t.dataSync(), (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
  await sharp(Buffer.from(d), { raw: { width: t.shape[1], height: t.shape[0], channels: 3 } }).png().toFile(file);
}

function exposureSet(ims: NamedImage[], outs: tf.Tensor3D[]) {
  const a = ims.map((im) => exposureStats(rgb(im.tensor)));
  const b = outs.map((o) => exposureStats(rgb(o)));
  return { clip: [mean(a.map((x) => x.clipped)), mean(b.map((x) => x.clipped))], dark: [mean(a.map((x) => x.dark)), mean(b.map((x) => x.dark))], luma: [mean(a.map((x) => x.meanLuma)), mean(b.map((x) => x.meanLuma))], per: ims.map((im, i) => `${im.name}: clip ${pct(a[i].clipped)}→${pct(b[i].clipped)} dark ${pct(a[i].dark)}→${pct(b[i].dark)}`) };
}

async function synthPairs(truthFiles: string[], seed: number, extraLeuven: boolean, background = 0) {
  const truth = await Promise.all(truthFiles.map(load));
  const ctx = fakeContext(new MemoryHost(), 'eval');
  const synth = ((await syntheticBacklight.run({ inputs: { images: { kind: 'ImageBatch', images: truth } }, params: syntheticBacklight.params.parse({ seed, keepHighlights: background }), ctx })).images as ImageBatchValue).images;
  const inputs = [...synth];
  const gts = [...truth];
  if (extraLeuven) {
    const P = path.join(sharedDataDir, 'images/pairs');
    inputs.push({ ...(await load(path.join(P, 'opencv_leuvenB.jpg'))), name: 'leuven' });
    gts.push({ ...(await load(path.join(P, 'opencv_leuvenA.jpg'))), name: 'leuven' });
  }
  return { inputs, gts, ctx };
}
function score(gts: NamedImage[], outs: tf.Tensor3D[]) {
  const m = outs.map((o, i) => raveMetrics(rgb255(gts[i].tensor), rgb255(o)));
  return { psnr: mean(m.map((x) => x.psnr)), ssim: mean(m.map((x) => x.ssim)) };
}
async function baselineBest(pairs: Awaited<ReturnType<typeof synthPairs>>) {
  const batch = (images: NamedImage[]): ImageBatchValue => ({ kind: 'ImageBatch', images });
  const rows: Array<{ p: string; psnr: number; ssim: number }> = [];
  const runOn = async (def: typeof exposure | typeof clahe, name: string, params: Record<string, unknown>) => {
    const out = ((await def.run({ inputs: { images: batch(pairs.inputs) }, params: def.params.parse(params) as never, ctx: pairs.ctx })).images as ImageBatchValue).images.map((im) => im.tensor);
    rows.push({ p: name + JSON.stringify(params), ...score(pairs.gts, out) });
    tf.dispose(out);
  };
  for (const stops of [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2]) for (const gamma of [1, 1.25, 1.5, 2, 2.5]) await runOn(exposure, 'exp', { stops, gamma });
  for (const clipLimit of [1, 2, 3, 4, 6]) for (const tileGrid of [4, 8]) await runOn(clahe, 'clahe', { clipLimit, tileGrid });
  const bp = rows.reduce((a, b) => (b.psnr > a.psnr ? b : a));
  const bs = rows.reduce((a, b) => (b.ssim > a.ssim ? b : a));
  const expRows = rows.filter((r) => r.p.startsWith('exp'));
  const clRows = rows.filter((r) => r.p.startsWith('clahe'));
  const b = (rs: typeof rows, k: 'psnr' | 'ssim') => rs.reduce((a, x) => (x[k] > a[k] ? x : a));
  console.log(`  baselines: exp best psnr ${b(expRows, 'psnr').psnr.toFixed(2)} ${b(expRows, 'psnr').p}; exp best ssim ${b(expRows, 'ssim').ssim.toFixed(3)}; clahe best psnr ${b(clRows, 'psnr').psnr.toFixed(2)} ssim ${b(clRows, 'ssim').ssim.toFixed(3)}; overall psnr ${bp.psnr.toFixed(2)} ssim ${bs.ssim.toFixed(3)}`);
}

async function main() {
  await useTestBackend('wasm');
  const valReal = await Promise.all(VAL_REAL.map((f) => load(path.join(BACKLIT, f))));
  const held = heldoutMode ? await Promise.all(HELD.map((f) => load(path.join(BACKLIT, f)))) : [];
  const valSyn = await synthPairs(VAL_SYN, 11, false);
  const valBright = await synthPairs(VAL_SYN, 11, false, 1);
  const testSyn = heldoutMode ? await synthPairs(TEST_SYN, 7, true) : undefined;
  if (baselines) {
    console.log('VALIDATION synthetic'); await baselineBest(valSyn);
    if (testSyn) { console.log('TEST synthetic'); await baselineBest(testSyn); }
    console.log(`  val-syn input ${JSON.stringify(score(valSyn.gts, valSyn.inputs.map((i) => i.tensor)))}`);
    if (testSyn) console.log(`  test-syn input ${JSON.stringify(score(testSyn.gts, testSyn.inputs.map((i) => i.tensor)))}`);
  }
  for (const file of files) {
    const net = decodeEnhancer(path.basename(file), new Uint8Array(readFileSync(file))).net;
    const vr = valReal.map((im) => enhanceOne(net, im.tensor));
    const e = exposureSet(valReal, vr);
    const vsOut = valSyn.inputs.map((im) => enhanceOne(net, im.tensor));
    const vs = score(valSyn.gts, vsOut);
    if (pngDir) {
      // input | enhanced (| ground truth) side by side, per validation image.
      const dir = path.join(pngDir, `${path.basename(path.dirname(path.resolve(file)))}-${path.basename(file, '.safetensors')}`);
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < valReal.length; i++) await savePng(tf.concat([valReal[i].tensor, vr[i]], 1) as tf.Tensor3D, path.join(dir, `V1_${valReal[i].name}.png`));
      for (let i = 0; i < vsOut.length; i++) await savePng(tf.concat([valSyn.inputs[i].tensor, vsOut[i], valSyn.gts[i].tensor], 1) as tf.Tensor3D, path.join(dir, `V2_${valSyn.inputs[i].name}.png`));
    }
    const vb = exposureSet(valBright.inputs, valBright.inputs.map((im) => enhanceOne(net, im.tensor)));
    console.log(`${file}\n  VAL real(9): clip ${pct(e.clip[0])}→${pct(e.clip[1])} (+${(100 * (e.clip[1] - e.clip[0])).toFixed(2)}) dark ${pct(e.dark[0])}→${pct(e.dark[1])} (ratio ${(e.dark[1] / e.dark[0]).toFixed(3)}) luma ${e.luma[0].toFixed(3)}→${e.luma[1].toFixed(3)}\n  VAL syn(3): psnr ${vs.psnr.toFixed(2)} ssim ${vs.ssim.toFixed(3)}\n  VAL bright-bg syn(3): clip ${pct(vb.clip[0])}→${pct(vb.clip[1])} (+${(100 * (vb.clip[1] - vb.clip[0])).toFixed(2)})`);
    if (heldoutMode) {
      const ho = held.map((im) => enhanceOne(net, im.tensor));
      const h = exposureSet(held, ho);
      const ts = score(testSyn!.gts, testSyn!.inputs.map((im) => enhanceOne(net, im.tensor)));
      console.log(`  HELD-OUT(14): clip ${pct(h.clip[0])}→${pct(h.clip[1])} (+${(100 * (h.clip[1] - h.clip[0])).toFixed(2)}) dark ${pct(h.dark[0])}→${pct(h.dark[1])} (ratio ${(h.dark[1] / h.dark[0]).toFixed(3)}) luma ${h.luma[0].toFixed(3)}→${h.luma[1].toFixed(3)}\n  TEST syn(4): psnr ${ts.psnr.toFixed(2)} ssim ${ts.ssim.toFixed(3)}`);
      if (args.includes('--per')) console.log(h.per.map((s) => '    ' + s).join('\n'));
      if (pngDir) {
        mkdirSync(pngDir, { recursive: true });
        for (let i = 0; i < held.length; i++) { await savePng(held[i].tensor, path.join(pngDir, `${held[i].name}_in.png`)); await savePng(ho[i], path.join(pngDir, `${held[i].name}_out.png`)); }
      }
      if (gainMode) {
        // Gain out/in (luma) by input luma bin, over all held-out pixels.
        const bins = 10; const sum = new Float64Array(bins); const cnt = new Float64Array(bins);
        held.forEach((im, i) => { const a = rgb(im.tensor).data; const b = rgb(ho[i]).data; for (let p = 0; p < a.length; p += 3) { const ya = 0.299 * a[p] + 0.587 * a[p + 1] + 0.114 * a[p + 2]; const yb = 0.299 * b[p] + 0.587 * b[p + 1] + 0.114 * b[p + 2]; const k = Math.min(bins - 1, Math.floor(ya * bins)); sum[k] += yb - ya; cnt[k]++; } });
        console.log('  held-out mean Δluma by input luma decile: ' + Array.from(sum, (s, k) => `${(k / bins).toFixed(1)}:${(s / Math.max(1, cnt[k])).toFixed(3)}`).join(' '));
      }
    }
    net.dispose();
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
