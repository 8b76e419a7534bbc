/**
 * The three guidance methods side by side: `npx tsx bench/methods.ts [--quick] [--seeds N]`.
 *
 * CLIP-LIT (text prompts through the text tower), CLIP-LIT-Latent (prompts as two vectors in the
 * embedding space) and RAVE (residual vector), on the same data (synthetic backlit versions of the
 * bundled sample photos, whose originals are ground truth; split into train and held-out images),
 * the same encoder (the tiny test CLIP for all three — text prompts need a text tower — and the
 * offline stats encoder for latent vs residual), the same backend (wasm), in one run. Measures:
 * time per prompt step, steps and wall time until the prompt loss and the enhancer's guidance
 * loss plateau (src/ml/prompts/plateau.ts), held-out PSNR/SSIM (RAVE's metrics), and the spread
 * over seeds. Also times a prompt step of text vs latent at ViT-B/32 size (random weights: the
 * real text tower's cost, not its results).
 *
 * `--save DIR` writes, per method, a PNG strip of the held-out results of seed 0 (top: backlit input,
 * middle: enhanced, bottom: ground truth).
 *
 * Only one round (prompt init → enhancer) per prompt method: the refinement rounds are in
 * graphs/clip-lit.json and graphs/latent-prompts.json.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { mulberry32 } from '../src/ml/random';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import sharp from 'sharp';
import { backlight } from '../nodes/syntheticBacklight';
import { AUTO_LR } from '../nodes/promptLearner';
import { parseClipConfig } from '../src/ml/clip/config';
import { ClipEncoder } from '../src/ml/clip/encoder';
import { loadClipFromFolder } from '../src/ml/clip/loadNode';
import { ClipModel } from '../src/ml/clip/model';
import { clipTensorSpecs } from '../src/ml/clip/weights';
import type { ImageEncoder } from '../src/ml/encoder';
import { StatsEncoder } from '../src/ml/encoders/stats';
import { EnhancerNet } from '../src/ml/enhancer/network';
import { raveMetrics } from '../src/ml/metrics';
import { encodeSet, hasTextTower, latentPrompts, plateauStep, randomLatentInit, textPrompts, trainPrompts, type PromptParameters } from '../src/ml/prompts';
import { trainEnhancer } from '../src/ml/training/enhancerTraining';
import { promptGuidance, residualGuidance, type Guidance } from '../src/ml/training/guidance';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const seedsArg = args.indexOf('--seeds');
const saveArg = args.indexOf('--save');
/** `--save DIR`: write each method's held-out results (seed 0) as one PNG strip per method. */
const SAVE_DIR = saveArg >= 0 ? args[saveArg + 1] : undefined;
const SEEDS = Array.from({ length: seedsArg >= 0 ? Number(args[seedsArg + 1]) : quick ? 1 : 3 }, (_, i) => i);

const S = {
  imageSide: 32, // every sample image, centre-cropped square (= trainSize: no train/test scale gap)
  heldOutEvery: 3, // images i % 3 === 0 are held out
  backlitVariants: 2, // synthetic backlight layouts per image
  promptIterations: quick ? 60 : 150,
  promptBatch: 16,
  promptWeightDecay: 1e-3,
  enhancerIterations: quick ? 30 : 80,
  warmup: 10,
  enhancerLr: 1e-4, // as the example graphs; 2e-4 blew some runs out to white
  enhancerBatch: 2,
  trainSize: 32,
  weightPrompts: 320, // CLIP-LIT
  weightResidual: 1920, // RAVE: 6·320
  identityWeight: 22.5,
  plateauWindow: 10,
  plateauTol: 0.01,
  b32Steps: quick ? 1 : 3,
};

interface Pair { name: string; backlit: tf.Tensor3D; truth: tf.Tensor3D }


/** Same layout draw as the Synthetic Backlight node (seed·7919 + index), default strengths. */
function synthBacklit(image: tf.Tensor3D, seed: number, index: number): tf.Tensor3D {
  const rand = mulberry32(seed * 7919 + index);
  return backlight(image, { darkness: 0.6, glow: 0.5, haze: 0.2, warmth: 0.3 }, { sunX: 0.2 + 0.6 * rand(), sunY: 0.05 + 0.2 * rand(), subjectX: 0.35 + 0.3 * rand(), subjectY: 0.55 + 0.25 * rand(), subjectSize: 0.3 + 0.15 * rand() });
}

async function loadSamples(): Promise<{ names: string[]; images: tf.Tensor3D[] }> {
  const dir = path.join(root, 'public/samples/well-lit');
  const names = readdirSync(dir).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
  const images: tf.Tensor3D[] = [];
  for (const n of names) {
    const { data, info } = await sharp(path.join(dir, n)).resize(S.imageSide, S.imageSide, { fit: 'cover' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    images.push(tf.tidy(() => tf.div(tf.tensor3d(new Uint8Array(data), [info.height, info.width, 3], 'int32'), 255)) as tf.Tensor3D);
  }
  return { names, images };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / (xs.length - 1)));

interface RunResult {
  promptMsPerStep?: number;
  promptPlateau?: number; // steps (undefined: still improving at the end)
  promptSteps?: number;
  prepMs: number; // encode sets + prompt learning to its plateau (or the residual's means)
  enhancerMsPerStep: number;
  guidancePlateau?: number; // guided steps (after the warm-up)
  guidedSteps: number;
  wallToPlateauS: number;
  totalWallS: number;
  psnr: number;
  ssim: number;
  trainAcc?: number;
  /** Held-out outputs blown out: > 90% of pixels ≥ 0.98 in every channel (the enhancer's L collapsed to 0). */
  blownOut: boolean;
}

type Method = { label: string; kind: 'text' | 'latent' | 'residual'; logitScale?: number; guidanceWeight?: number };

async function runOne(encoder: ImageEncoder, method: Method, seed: number, train: { backlit: tf.Tensor3D[]; wellLit: tf.Tensor3D[] }, heldOut: Pair[]): Promise<RunResult> {
  const t0 = performance.now();
  const data = { backlit: encodeSet(encoder, train.backlit), wellLit: encodeSet(encoder, train.wellLit) };
  const encodeMs = performance.now() - t0;
  let guidance: Guidance;
  let prompts: tf.Tensor2D | undefined;
  const out: Partial<RunResult> = {};
  let prepMs: number;
  let prepTotalMs: number;
  if (method.kind === 'residual') {
    const t1 = performance.now();
    const { r, thr } = tf.tidy(() => {
      const norm = (v: tf.Tensor1D) => tf.div(v, tf.norm(v)) as tf.Tensor1D;
      const vPos = norm(tf.mean(data.wellLit, 0) as tf.Tensor1D);
      const vNeg = norm(tf.mean(data.backlit, 0) as tf.Tensor1D);
      const rr = norm(tf.sub(vPos, vNeg) as tf.Tensor1D);
      return { r: rr, thr: tf.sum(tf.mul(vPos, rr)) };
    });
    const thrValue = (await thr.data())[0];
    thr.dispose();
    guidance = residualGuidance(r, thrValue, encoder.space);
    prompts = r as unknown as tf.Tensor2D; // disposed below
    prepMs = encodeMs + (performance.now() - t1);
    prepTotalMs = prepMs;
  } else {
    let learnable: PromptParameters;
    if (method.kind === 'text') {
      if (!hasTextTower(encoder)) throw new Error('text prompts need a text tower');
      learnable = textPrompts(encoder);
    } else {
      learnable = latentPrompts(randomLatentInit(encoder.dim, seed));
    }
    const stepMs: number[] = [];
    const res = await trainPrompts(
      learnable,
      data,
      { iterations: S.promptIterations, lr: AUTO_LR[method.kind], weightDecay: S.promptWeightDecay, batchSize: S.promptBatch, seed, logitScale: method.logitScale },
      { onStep: (_s, _t, m) => void stepMs.push(m.ms), yieldEvery: 50 },
    );
    const snap = learnable.snapshot();
    learnable.dispose();
    tf.dispose(snap.tokens);
    prompts = snap.prompts;
    guidance = promptGuidance(prompts, encoder.space, method.kind, method.logitScale);
    out.promptMsPerStep = res.msPerStep;
    out.promptPlateau = plateauStep(res.losses, { window: S.plateauWindow, tol: S.plateauTol });
    out.promptSteps = res.steps;
    out.trainAcc = (res.last.accBacklit + res.last.accWellLit) / 2;
    prepMs = encodeMs + stepMs.slice(0, out.promptPlateau ?? stepMs.length).reduce((a, b) => a + b, 0);
    prepTotalMs = encodeMs + stepMs.reduce((a, b) => a + b, 0);
  }
  tf.dispose([data.backlit, data.wellLit]);

  const net = EnhancerNet.create(seed);
  const stepTimes: number[] = [];
  const guided: number[] = [];
  let last = performance.now();
  await trainEnhancer(
    net,
    encoder,
    guidance,
    { inputs: train.backlit },
    {
      iterations: S.enhancerIterations, warmupIterations: S.warmup, lr: S.enhancerLr, weightDecay: 1e-3, batchSize: S.enhancerBatch, imageSize: S.trainSize,
      guidanceWeight: method.guidanceWeight ?? (method.kind === 'residual' ? S.weightResidual : S.weightPrompts), identityWeight: S.identityWeight, pixelWeight: 0, augment: true, seed, checkpointEvery: 0, microBatch: S.enhancerBatch,
    },
    {
      onStep: (step, _total, metrics) => {
        const now = performance.now();
        stepTimes.push(now - last);
        last = now;
        if (step > S.warmup) guided.push(metrics.guidance);
      },
    },
  );
  const guidancePlateau = plateauStep(guided, { window: S.plateauWindow, tol: S.plateauTol });
  const enhMsTo = (steps: number) => stepTimes.slice(0, steps).reduce((a, b) => a + b, 0);
  // Quality on held-out pairs at native resolution (reflect padding, as at test time).
  const ps: number[] = [];
  const ss: number[] = [];
  const strip: tf.Tensor3D[] = [];
  const white: number[] = [];
  for (const p of heldOut) {
    const res = net.forward(p.backlit.expandDims(0) as tf.Tensor4D, { padMode: 'reflect' });
    white.push(tf.tidy(() => tf.mean(tf.cast(tf.all(tf.greaterEqual(res.out, 0.98), -1), 'float32')).dataSync()[0]));
    if (SAVE_DIR && seed === 0) strip.push(tf.tidy(() => tf.concat([p.backlit, res.out.squeeze([0]), p.truth], 0) as tf.Tensor3D));
    const m = metricsOf(p.truth, res.out.squeeze([0]) as tf.Tensor3D);
    tf.dispose([res.out, res.L]);
    ps.push(m.psnr);
    ss.push(m.ssim);
  }
  if (strip.length) {
    const img = tf.tidy(() => tf.concat(strip, 1).mul(255).round().clipByValue(0, 255).toInt());
    const [h, w] = img.shape;
    mkdirSync(SAVE_DIR!, { recursive: true });
    const file = path.join(SAVE_DIR!, `${encoder.space.replace(/[^\w.-]+/g, '_')}-${method.label.replace(/[^\w.-]+/g, '_')}.png`);
    await sharp(Buffer.from(Uint8Array.from(img.dataSync())), { raw: { width: w, height: h, channels: 3 } }).png().toFile(file);
    tf.dispose([img, ...strip]);
  }
  net.dispose();
  tf.dispose(prompts);
  return {
    ...out,
    prepMs,
    enhancerMsPerStep: mean(stepTimes.slice(1)),
    guidancePlateau,
    guidedSteps: guided.length,
    wallToPlateauS: (prepMs + enhMsTo(S.warmup + (guidancePlateau ?? guided.length))) / 1000,
    totalWallS: (prepTotalMs + enhMsTo(stepTimes.length)) / 1000,
    psnr: mean(ps),
    ssim: mean(ss),
    blownOut: mean(white) > 0.9,
  };
}

function metricsOf(truth: tf.Tensor3D, image: tf.Tensor3D): { psnr: number; ssim: number } {
  const [h, w] = truth.shape;
  const rgb = (t: tf.Tensor3D) => ({ width: w, height: h, data: tf.tidy(() => tf.mul(tf.clipByValue(t, 0, 1), 255)).dataSync() });
  const r = raveMetrics(rgb(truth), rgb(image));
  image.dispose();
  return r;
}

/** A text tower of ViT-B/32's size (random weights; tiny vision tower) to time a text prompt step. */
function randomB32TextTower(): ClipEncoder {
  const config = parseClipConfig({
    text_config: {},
    vision_config: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 1, image_size: 32, patch_size: 16 },
    projection_dim: 512,
  });
  const weights = new Map<string, tf.Tensor>();
  clipTensorSpecs(config).forEach(({ key, shape }, i) => {
    const isNormWeight = /(layer_norm\d?|layrnorm|layernorm)\.weight$/.test(key);
    weights.set(key, key === 'logit_scale' ? tf.scalar(Math.log(100)) : isNormWeight ? tf.ones(shape) : tf.randomNormal(shape, 0, 0.02, 'float32', 1000 + i));
  });
  return new ClipEncoder(new ClipModel(config, weights), { name: 'random-b32-text' });
}

async function timePromptStep(make: () => PromptParameters, dim: number, steps: number): Promise<number> {
  const data = { backlit: tf.tidy(() => tf.randomNormal([16, dim], 0, 1, 'float32', 1).div(tf.scalar(Math.sqrt(dim)))) as tf.Tensor2D, wellLit: tf.tidy(() => tf.randomNormal([16, dim], 0, 1, 'float32', 2).div(tf.scalar(Math.sqrt(dim)))) as tf.Tensor2D };
  const p = make();
  const r = await trainPrompts(p, data, { iterations: steps + 1, lr: 1e-3, weightDecay: 1e-3, batchSize: 16, seed: 0 });
  p.dispose();
  tf.dispose([data.backlit, data.wellLit]);
  return r.msPerStep;
}

const fmt = (xs: Array<number | undefined>, digits: number, cap?: number) => {
  const known = xs.filter((x): x is number => x !== undefined);
  const open = xs.length - known.length;
  if (known.length === 0) return cap !== undefined ? `>${cap}` : '—';
  const m = mean(known).toFixed(digits);
  const s = known.length > 1 ? ` ± ${std(known).toFixed(digits)}` : '';
  return `${m}${s}${open ? ` (${open}/${xs.length} >${cap})` : ''}`;
};

async function main(): Promise<void> {
  setWasmPaths(path.join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist/'));
  await tf.setBackend('wasm');
  await tf.ready();
  const started = performance.now();
  console.log('# Methods bench: CLIP-LIT (text prompts) vs CLIP-LIT-Latent vs RAVE (residual vector)');
  console.log(`# Node ${process.version}, tfjs ${tf.version.tfjs}, backend ${tf.getBackend()}, ${quick ? 'quick' : 'full'} mode, seeds ${SEEDS.join(',')}`);
  console.log(`# Settings: ${JSON.stringify({ ...S, promptLr: AUTO_LR })}`);

  const { names, images } = await loadSamples();
  const trainIdx = names.map((_, i) => i).filter((i) => i % S.heldOutEvery !== 0);
  const testIdx = names.map((_, i) => i).filter((i) => i % S.heldOutEvery === 0);
  const variants = Array.from({ length: S.backlitVariants }, (_, v) => v + 1);
  const train = {
    backlit: trainIdx.flatMap((i) => variants.map((v) => synthBacklit(images[i], v, i))),
    wellLit: trainIdx.map((i) => images[i]),
  };
  const heldOut: Pair[] = testIdx.flatMap((i) => variants.map((v) => ({ name: `${names[i]}#${v + 10}`, backlit: synthBacklit(images[i], v + 10, i), truth: images[i] })));
  console.log(`# Data: ${S.imageSide}×${S.imageSide} crops of public/samples/well-lit. Train: backlit = ${train.backlit.length} synthetic backlit (${trainIdx.length} images × ${S.backlitVariants} layouts), well-lit = their ${trainIdx.length} originals (paired regime as two sets). Held-out: ${heldOut.length} pairs from ${testIdx.map((i) => names[i]).join(', ')} (other layouts).`);
  const baseline = heldOut.map((p) => metricsOf(p.truth, p.backlit.clone()));
  console.log(`# Plateau: the ${S.plateauWindow}-step moving average improved by ≤ ${S.plateauTol * 100}% of the drop so far over the last ${S.plateauWindow} steps (src/ml/prompts/plateau.ts); enhancer plateau counted on guided steps (after ${S.warmup} warm-up steps).`);
  console.log('# Blown-out run: > 90% of held-out output pixels ≥ 0.98 in every channel (the illumination map collapsed to 0; such a run never recovers).');
  console.log('# Wall to plateau = encode sets + prompt steps up to the prompt plateau (residual: its means) + enhancer steps (warm-up included) up to the guidance plateau.');

  const tiny = loadClipFromFolder(path.join(root, '../shared/data/tiny-clip'));
  const stats = new StatsEncoder();
  const plan: Array<{ encoder: ImageEncoder; methods: Method[] }> = [
    { encoder: tiny, methods: [{ label: 'CLIP-LIT text prompts', kind: 'text' }, { label: 'latent prompts', kind: 'latent' }, { label: 'residual vector (RAVE, weight 1920)', kind: 'residual' }] },
    { encoder: stats, methods: [{ label: 'latent prompts', kind: 'latent' }, { label: 'latent prompts, logit scale 10', kind: 'latent', logitScale: 10 }, { label: 'residual vector (RAVE, weight 1920)', kind: 'residual' }, { label: 'residual vector, weight 320', kind: 'residual', guidanceWeight: 320 }] },
  ];
  const rows: string[] = [];
  for (const { encoder, methods } of plan) {
    for (const method of methods) {
      const results: RunResult[] = [];
      for (const seed of SEEDS) {
        const r = await runOne(encoder, method, seed, train, heldOut);
        results.push(r);
        console.error(`  ${encoder.space} ${method.label} seed ${seed}: prompt ${r.promptMsPerStep?.toFixed(2) ?? '—'} ms/step, prompt plateau ${r.promptPlateau ?? '—'}, guidance plateau ${r.guidancePlateau ?? `>${r.guidedSteps}`}, PSNR ${r.psnr.toFixed(2)}, SSIM ${r.ssim.toFixed(4)}${r.blownOut ? ' (blown out)' : ''}, ${r.totalWallS.toFixed(1)} s`);
      }
      const col = <K extends keyof RunResult>(k: K) => results.map((r) => r[k] as number | undefined);
      rows.push(`| ${encoder.space} | ${method.label} | ${method.kind === 'residual' ? '—' : fmt(col('promptMsPerStep'), 2)} | ${method.kind === 'residual' ? '—' : fmt(col('promptPlateau'), 0, S.promptIterations)} | ${method.kind === 'residual' ? '—' : fmt(col('trainAcc'), 2)} | ${fmt(col('enhancerMsPerStep'), 0)} | ${fmt(col('guidancePlateau'), 0, S.enhancerIterations - S.warmup)} | ${fmt(col('wallToPlateauS'), 1)} | ${fmt(col('totalWallS'), 1)} | ${fmt(col('psnr'), 2)} | ${fmt(col('ssim'), 4)} | ${results.filter((r) => r.blownOut).length}/${results.length} |`);
    }
  }
  tiny.dispose();
  stats.dispose();

  console.log('\n## Guidance methods (mean ± sample std over seeds)\n');
  console.log('| encoder | method | prompt ms/step | prompt steps to plateau | prompt train acc | enhancer ms/step | guided steps to plateau | wall to plateau (s) | total wall (s) | held-out PSNR | held-out SSIM | blown-out runs |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  console.log(`| — | input (no enhancement) | — | — | — | — | — | — | — | ${mean(baseline.map((b) => b.psnr)).toFixed(2)} | ${mean(baseline.map((b) => b.ssim)).toFixed(4)} | — |`);

  // Per-step cost of the prompt side at the real model's size.
  const b32 = randomB32TextTower();
  const textMs = await timePromptStep(() => textPrompts(b32), 512, S.b32Steps);
  b32.dispose();
  const latentMs = await timePromptStep(() => latentPrompts(randomLatentInit(512, 0)), 512, 20);
  console.log('\n## One prompt step at ViT-B/32 size (2 prompts × 77 tokens through a 12-layer 512-wide text tower, random weights; batch 16 + 16 precomputed image embeddings)\n');
  console.log('| mode | ms/step | ratio |');
  console.log('|---|---|---|');
  console.log(`| text (CLIP-LIT) | ${textMs.toFixed(1)} | ${(textMs / latentMs).toFixed(0)}× |`);
  console.log(`| latent (method A) | ${latentMs.toFixed(2)} | 1× |`);
  console.log(`\n# Total bench time ${((performance.now() - started) / 1000).toFixed(0)} s.`);
  tf.dispose([...images, ...train.backlit, ...heldOut.map((p) => p.backlit)]);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
