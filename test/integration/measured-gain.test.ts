/**
 * Measured gain on real photos (issue 12). Held-out split, stated before any enhancer was run on
 * them (see the header of training-gain.test.ts): the real backlit/low-light photos in
 * ../shared/data/images/backlit have unclear licences, so nothing bundled or trained by a committed
 * graph ever sees them; this test evaluates on the 6 `backlit_*` and 8 `lowlight_dicm_*` photos
 * (longest side 256 px). The 11 others are reserved.
 *
 * Two enhancers are measured:
 *  - the bundled enhancer (public/models/bundled-enhancer, made by graphs/recipes/train-bundled.json);
 *  - the default recipe: the editor's default graph (graphs/quick-start.json) trained here as a
 *    new user would run it; its part ③ (Compare: the trained enhancer, Exposure/Gamma and CLAHE on
 *    Synthetic Backlight renderings of the 10 samples/more-well-lit photos it never trained on) is
 *    read from the same run.
 * On the held-out photos (means over the 14): for the bundled enhancer, issue 12's targets — the clipped
 * fraction (luma > 0.98) rises by at most 1 point, the dark fraction (luma < 0.1) falls by at least a
 * third, and the projection on r moves toward the target (its recipe's r and target); the same for the
 * default recipe.
 * On synthetic pairs of photos not used in training (Synthetic Backlight seed 7 of opencv_board,
 * opencv_baboon, skimage_motorcycle_left — local evaluation only — plus the real darker/brighter
 * exposure pair opencv_leuvenB → leuvenA), RAVE's gray PSNR/SSIM of the bundled enhancer against
 * Exposure/Gamma and CLAHE, each at its best single global setting (one setting for all images,
 * chosen on these very pairs — an upper bound for the baselines).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import clahe from '../../nodes/clahe';
import exposure from '../../nodes/exposure';
import syntheticBacklight from '../../nodes/syntheticBacklight';
import { BUNDLED_ENHANCER } from '../../nodes/enhance';
import { NodeHost } from '../../src/cli/nodeHost';
import { loadNodeRegistry } from '../../src/cli/loadNodes';
import { Executor, loadGraph, type Graph, type ImageBatchValue, type NamedImage, type ReportValue, type ResidualValue } from '../../src/engine';
import { MemoryHost } from '../../src/engine/testing/memoryHost';
import { fakeContext } from '../../src/engine/testing/build';
import type { ImageEncoder } from '../../src/ml/encoder';
import type { EnhancerNet } from '../../src/ml/enhancer/network';
import { raveMetrics } from '../../src/ml/metrics';
import { exposureStats } from '../../src/ml/metrics/noReference';
import { decodeEnhancer } from '../../src/ml/training/enhancerFiles';
import { sharedDataDir, useTestBackend } from '../../src/ml/testing';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BACKLIT = path.join(sharedDataDir, 'images/backlit');
const HELD_OUT = readdirSync(BACKLIT).filter((f) => /^(backlit_|lowlight_dicm_)/.test(f)).sort();
const SIDE = 256;

let tmp: string;
let registry: Awaited<ReturnType<typeof loadNodeRegistry>>;
let heldOut: NamedImage[];

async function load(file: string): Promise<NamedImage> {
  const { data, info } = await sharp(file).resize(SIDE, SIDE, { fit: 'inside', withoutEnlargement: true }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { name: path.basename(file).replace(/\.\w+$/, ''), tensor: tf.tidy(() => tf.div(tf.tensor3d(new Uint8Array(data), [info.height, info.width, 3], 'int32').toFloat(), 255)) as tf.Tensor3D };
}

beforeAll(async () => {
  await useTestBackend('wasm');
  tmp = await mkdtemp(path.join(os.tmpdir(), 'backlit-gain-'));
  registry = await loadNodeRegistry();
  expect(HELD_OUT).toHaveLength(14);
  heldOut = await Promise.all(HELD_OUT.map((f) => load(path.join(BACKLIT, f))));
});
afterAll(async () => {
  if (heldOut) tf.dispose(heldOut.map((im) => im.tensor));
  await rm(tmp, { recursive: true, force: true });
});

/** Runs a committed graph (all of it, or only the nodes `keep` allows) and keeps its executor. */
async function runGraph(file: string, keep?: (id: string) => boolean): Promise<Executor> {
  const json = JSON.parse(readFileSync(path.join(ROOT, file), 'utf8')) as Graph;
  if (keep) {
    json.nodes = json.nodes.filter((n) => keep(n.id));
    json.edges = json.edges.filter((e) => keep(e.from.node) && keep(e.to.node));
  }
  const loaded = loadGraph(json, registry);
  expect(loaded.errors).toEqual([]);
  const graph = loaded.graph!;
  const host = new NodeHost({ baseDirs: [path.dirname(path.join(ROOT, file)), ROOT], outDir: path.join(tmp, path.basename(file, '.json')) });
  const ex = new Executor(registry, host);
  const summary = await ex.run(graph);
  expect(summary.ok, JSON.stringify(Object.entries(summary.nodes).filter(([, n]) => n.error))).toBe(true);
  return ex;
}

interface Gain {
  clipped: [number, number];
  dark: [number, number];
  proj: [number, number];
  target: number;
  meanLuma: [number, number];
}

const rgb = (t: tf.Tensor3D) => ({ width: t.shape[1], height: t.shape[0], data: t.dataSync() });
const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
const enhanceOne = (net: EnhancerNet, t: tf.Tensor3D) => tf.tidy(() => net.forward(t.expandDims(0) as tf.Tensor4D, { padMode: 'reflect' }).out.squeeze([0])) as tf.Tensor3D;

function measure(label: string, net: EnhancerNet, encoder: ImageEncoder, residual: ResidualValue): Gain {
  const r = residual.r.dataSync();
  const project = (t: tf.Tensor3D) => tf.tidy(() => encoder.encodeImages(t.expandDims(0) as tf.Tensor4D, 'dataset').dataSync()).reduce((s, v, i) => s + v * r[i], 0);
  const rows = heldOut.map((im) => {
    const out = enhanceOne(net, im.tensor);
    const a = exposureStats(rgb(im.tensor));
    const b = exposureStats(rgb(out));
    const row = { name: im.name, a, b, pa: project(im.tensor), pb: project(out) };
    out.dispose();
    return row;
  });
  const pct = (x: number) => (100 * x).toFixed(1).padStart(5);
  console.log(
    [
      `${label} on ${rows.length} held-out real photos (${SIDE} px; target ${residual.thr.toFixed(3)})`,
      `  ${'photo'.padEnd(50)} clipped %     dark %        mean luma    <E,r>`,
      ...rows.map((x) => `  ${x.name.padEnd(50)} ${pct(x.a.clipped)}→${pct(x.b.clipped)}  ${pct(x.a.dark)}→${pct(x.b.dark)}  ${x.a.meanLuma.toFixed(3)}→${x.b.meanLuma.toFixed(3)}  ${x.pa.toFixed(3)}→${x.pb.toFixed(3)}`),
      `  ${'MEAN'.padEnd(50)} ${pct(mean(rows.map((x) => x.a.clipped)))}→${pct(mean(rows.map((x) => x.b.clipped)))}  ${pct(mean(rows.map((x) => x.a.dark)))}→${pct(mean(rows.map((x) => x.b.dark)))}  ${mean(rows.map((x) => x.a.meanLuma)).toFixed(3)}→${mean(rows.map((x) => x.b.meanLuma)).toFixed(3)}  ${mean(rows.map((x) => x.pa)).toFixed(3)}→${mean(rows.map((x) => x.pb)).toFixed(3)}`,
    ].join('\n'),
  );
  return {
    clipped: [mean(rows.map((x) => x.a.clipped)), mean(rows.map((x) => x.b.clipped))],
    dark: [mean(rows.map((x) => x.a.dark)), mean(rows.map((x) => x.b.dark))],
    proj: [mean(rows.map((x) => x.pa)), mean(rows.map((x) => x.pb))],
    meanLuma: [mean(rows.map((x) => x.a.meanLuma)), mean(rows.map((x) => x.b.meanLuma))],
    target: residual.thr,
  };
}

function expectGain(g: Gain): void {
  // Issue 12: the clipped fraction rises by at most 1 point (measured, bundled: 1.75 → 0.2 %; the
  // two files before it: 1.75 → 2.18 % and 1.75 → 4.02 %).
  expect(g.clipped[1] - g.clipped[0]).toBeLessThanOrEqual(0.01);
  // Dark fraction falls by at least a third (measured, bundled: 42.1 → 25.0 %, ratio 0.59).
  expect(g.dark[1]).toBeLessThanOrEqual((2 / 3) * g.dark[0]);
  // The projection on r moves toward the target.
  expect(Math.abs(g.proj[1] - g.target)).toBeLessThan(Math.abs(g.proj[0] - g.target));
}

describe('measured gain on held-out real backlit photos', () => {
  it('the bundled enhancer: clipped +≤1 pt, dark −≥⅓, <E,r> toward the target of its own recipe', async () => {
    // r and the target of the recipe that made it: run graphs/recipes/train-bundled.json up to Bias Correct.
    const front = new Set(['well-lit', 'backlit', 'encoder', 'encode-well-lit', 'encode-backlit', 'v-pos', 'v-neg', 'residual', 'remove-colour']);
    const ex = await runGraph('graphs/recipes/train-bundled.json', (id) => front.has(id));
    const bytes = readFileSync(path.join(ROOT, 'public', BUNDLED_ENHANCER));
    const net = decodeEnhancer('bundled-enhancer.safetensors', new Uint8Array(bytes)).net;
    const g = measure('BUNDLED ENHANCER', net, ex.outputsOf('encoder')!.encoder as ImageEncoder, ex.outputsOf('remove-colour')!.residual as ResidualValue);
    expectGain(g);
    net.dispose();
    ex.dispose();
  }, 300_000);

  it('the default recipe (graphs/quick-start.json, trained here): clipped +≤1 pt, dark −≥⅓, <E,r> toward its target; part ③ compared with the baselines', async () => {
    const t0 = Date.now();
    const ex = await runGraph('graphs/quick-start.json');
    console.log(`default graph ran in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    const g = measure('DEFAULT RECIPE (quick-start.json)', ex.outputsOf('train')!.enhancer as EnhancerNet, ex.outputsOf('encoder')!.encoder as ImageEncoder, ex.outputsOf('remove-colour')!.residual as ResidualValue);
    // Measured (this test and the CLI): clipped 1.75 → 0.20 %, dark 42.1 → 23.3 % (ratio 0.55), mean luma
    // 0.297 → 0.373. With identity weight 22.5 (the previous default) it was 0.03 %, 26.8 % and 0.312.
    expectGain(g);
    expect(g.meanLuma[1]).toBeGreaterThan(g.meanLuma[0]);

    // Part ③: the Compare node's means (first rows) over the 10 held-out renderings, as the editor shows them.
    const rows = (ex.outputsOf('compare')!.report as ReportValue).rows.filter((r) => r.name === 'mean');
    const col = (label: string) => {
      const r = rows.find((x) => x.column === label);
      expect(r, `Compare column ${label}`).toBeDefined();
      return { psnr: Number(r!.PSNR), ssim: Number(r!.SSIM) };
    };
    const [input, trained, gamma, claheCol] = ['backlit', 'trained here', 'Exposure/Gamma', 'CLAHE'].map(col);
    console.log(`QUICK START ③ (10 held-out renderings, gray PSNR dB / SSIM): input ${input.psnr.toFixed(2)} / ${input.ssim.toFixed(3)}; trained ${trained.psnr.toFixed(2)} / ${trained.ssim.toFixed(3)}; Exposure/Gamma ${gamma.psnr.toFixed(2)} / ${gamma.ssim.toFixed(3)}; CLAHE ${claheCol.psnr.toFixed(2)} / ${claheCol.ssim.toFixed(3)}`);
    // Measured: input 14.50 / 0.721, trained 19.51 / 0.890, Exposure/Gamma (stops 0, gamma 2) 22.02 / 0.904,
    // CLAHE (clip 3, 4×4) 17.26 / 0.799. The trained enhancer beats the input and CLAHE by a wide margin;
    // it does NOT beat the best global curve on these renderings (100 steps at 64 px; see the graph's
    // description), so that is printed, not asserted either way.
    expect(trained.psnr).toBeGreaterThan(input.psnr + 3);
    expect(trained.ssim).toBeGreaterThan(input.ssim + 0.1);
    expect(trained.psnr).toBeGreaterThan(claheCol.psnr + 1);
    expect(trained.ssim).toBeGreaterThan(claheCol.ssim + 0.03);
    ex.dispose();
  }, 1_200_000); // ~1 min on a free laptop CPU; many minutes on a shared 2-core box
});

describe('synthetic pairs not used in training: gray PSNR/SSIM against the best global baselines', () => {
  it('the bundled enhancer beats Exposure/Gamma and CLAHE at their best single setting on PSNR and SSIM', async () => {
    const WELL = path.join(sharedDataDir, 'images/well-lit');
    const PAIRS = path.join(sharedDataDir, 'images/pairs');
    const truth = await Promise.all(['opencv_board.jpg', 'opencv_baboon.jpg', 'skimage_motorcycle_left.png'].map((f) => load(path.join(WELL, f))));
    const ctx = fakeContext(new MemoryHost(), 'eval');
    const synth = ((await syntheticBacklight.run({ inputs: { images: { kind: 'ImageBatch', images: truth } }, params: syntheticBacklight.params.parse({ seed: 7 }), ctx })).images as ImageBatchValue).images;
    const leuvenA = await load(path.join(PAIRS, 'opencv_leuvenA.jpg'));
    const leuvenB = await load(path.join(PAIRS, 'opencv_leuvenB.jpg'));
    const inputs = [...synth, { ...leuvenB, name: 'leuven' }];
    const gts = [...truth, { ...leuvenA, name: 'leuven' }];
    const score = (outs: tf.Tensor3D[]) => {
      const m = outs.map((o, i) => raveMetrics(rgb255(gts[i].tensor), rgb255(o)));
      return { psnr: mean(m.map((x) => x.psnr)), ssim: mean(m.map((x) => x.ssim)) };
    };
    const rgb255 = (t: tf.Tensor3D) => ({ width: t.shape[1], height: t.shape[0], data: Float32Array.from(t.dataSync(), (v) => v * 255) });
    const batch = (images: NamedImage[]): ImageBatchValue => ({ kind: 'ImageBatch', images });
    const runOn = async (def: typeof exposure | typeof clahe, params: Record<string, unknown>) => {
      const out = ((await def.run({ inputs: { images: batch(inputs) }, params: def.params.parse(params) as never, ctx })).images as ImageBatchValue).images.map((im) => im.tensor);
      const s = score(out);
      tf.dispose(out);
      return { params, ...s };
    };
    const best = (rows: Array<{ params: Record<string, unknown>; psnr: number; ssim: number }>) => ({
      psnr: rows.reduce((a, b) => (b.psnr > a.psnr ? b : a)),
      ssim: rows.reduce((a, b) => (b.ssim > a.ssim ? b : a)),
    });
    const expRows = [];
    for (const stops of [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2]) for (const gamma of [1, 1.25, 1.5, 2, 2.5]) expRows.push(await runOn(exposure, { stops, gamma }));
    const claheRows = [];
    for (const clipLimit of [1, 2, 3, 4, 6]) for (const tileGrid of [4, 8]) claheRows.push(await runOn(clahe, { clipLimit, tileGrid }));
    const net = decodeEnhancer('bundled-enhancer.safetensors', new Uint8Array(readFileSync(path.join(ROOT, 'public', BUNDLED_ENHANCER)))).net;
    const enhanced = inputs.map((im) => enhanceOne(net, im.tensor));
    const ours = score(enhanced);
    const input = score(inputs.map((im) => im.tensor));
    const bestExp = best(expRows);
    const bestClahe = best(claheRows);
    console.log(
      [
        `SYNTHETIC PAIRS (${inputs.length}: ${inputs.map((i) => i.name).join(', ')}; gray PSNR dB / SSIM, mean)`,
        `  input                                ${input.psnr.toFixed(2)} / ${input.ssim.toFixed(3)}`,
        `  Exposure/Gamma, best for PSNR ${JSON.stringify(bestExp.psnr.params).padEnd(24)} ${bestExp.psnr.psnr.toFixed(2)} / ${bestExp.psnr.ssim.toFixed(3)}`,
        `  Exposure/Gamma, best for SSIM ${JSON.stringify(bestExp.ssim.params).padEnd(24)} ${bestExp.ssim.psnr.toFixed(2)} / ${bestExp.ssim.ssim.toFixed(3)}`,
        `  CLAHE, best for PSNR ${JSON.stringify(bestClahe.psnr.params).padEnd(33)} ${bestClahe.psnr.psnr.toFixed(2)} / ${bestClahe.psnr.ssim.toFixed(3)}`,
        `  CLAHE, best for SSIM ${JSON.stringify(bestClahe.ssim.params).padEnd(33)} ${bestClahe.ssim.psnr.toFixed(2)} / ${bestClahe.ssim.ssim.toFixed(3)}`,
        `  bundled enhancer                     ${ours.psnr.toFixed(2)} / ${ours.ssim.toFixed(3)}`,
      ].join('\n'),
    );
    // Issue 12: ours beats both at their best single setting, per metric. Measured 16.84 dB / 0.731
    // against Exposure/Gamma 15.85 dB (γ 2) / 0.729 (+1 stop, γ 1.25) and CLAHE 16.23 (clip 4) / 0.695
    // (clip 3), input 11.25 / 0.441. The baselines' setting is picked on these very pairs, ours was chosen
    // on validation pairs only (SOURCE.md, candidate M). The SSIM margin over Exposure/Gamma is small (0.002).
    expect(ours.psnr).toBeGreaterThan(Math.max(bestExp.psnr.psnr, bestClahe.psnr.psnr));
    expect(ours.ssim).toBeGreaterThan(Math.max(bestExp.ssim.ssim, bestClahe.ssim.ssim));
    expect(ours.psnr).toBeGreaterThan(input.psnr + 2);
    tf.dispose([...enhanced, ...synth.map((s) => s.tensor), ...truth.map((t) => t.tensor), leuvenA.tensor, leuvenB.tensor]);
    net.dispose();
  }, 300_000);
});
