/**
 * HELD-OUT SPLIT OF THE REAL BACKLIT PHOTOS (stated 2026-12-02 06:45 UTC, before any enhancer was run on them):
 * ../shared/data/images/backlit/ has unclear licences, so no enhancer that is bundled or trained by a
 * committed graph ever trains on any of them: all 25 are held out. The measured-gain test evaluates on
 * a fixed subset: the 6 `backlit_*` photos and the 8 `lowlight_dicm_*` photos (14 images, longest side
 * 256 px); the 11 others (lime, lol, sci) are reserved and not looked at.
 *
 * The project's evidence that training works: RAVE guidance (+ identity loss) trained on synthetic
 * backlit versions of some well-lit photos improves *other* photos, measured against their ground
 * truth with RAVE's own metrics.
 *
 * Data: the 8 bundled well-lit samples (public/samples/well-lit), downscaled to ≤ 48 px. Ground
 * truth = the photo; backlit = Synthetic Backlight of it. 5 photos train, 3 others are held out
 * (never seen by the residual vector or the trainer).
 * Guidance: r = norm(mean E(well-lit train) − mean E(backlit train)), thr = <v_pos, r> (RAVE's
 * paired sets; no pixel loss: the ground truth is used only to measure).
 * Compared on the held-out photos: the unenhanced input, the warm-up-only network (same seed,
 * iterations = W: exactly the first W steps of the full run) and the trained network.
 *
 * Everything runs through the real nodes and the executor (Image Loader → Synthetic Backlight →
 * Encoder → Encode Images → Mean Embedding → Residual Vector → Enhancer Trainer → Enhance).
 */
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import encodeImages from '../../nodes/encodeImages';
import encoderNode from '../../nodes/encoder';
import enhance from '../../nodes/enhance';
import enhancerTrainer from '../../nodes/enhancerTrainer';
import imageLoader from '../../nodes/imageLoader';
import meanEmbedding from '../../nodes/meanEmbedding';
import residualVector from '../../nodes/residualVector';
import syntheticBacklight from '../../nodes/syntheticBacklight';
import { Executor, NodeRegistry, type AnyNodeDefinition, type ExecutorEvent, type ImageBatchValue, type ResidualValue } from '../../src/engine';
import { MemoryHost, encodeRaw } from '../../src/engine/testing/memoryHost';
import { graph, node, wire } from '../../src/engine/testing/build';
import type { ImageEncoder } from '../../src/ml/encoder';
import { raveMetrics } from '../../src/ml/metrics';
import { sharedDataDir, useTestBackend } from '../../src/ml/testing';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SAMPLES = path.join(ROOT, 'public/samples/well-lit');
const TRAIN = ['skimage_astronaut', 'skimage_chelsea', 'opencv_fruits', 'opencv_building', 'imagemagick_bluebells_lin'];
const HELD_OUT = ['skimage_coffee', 'skimage_rocket', 'opencv_aero1'];
const SIDE = 48;

const registry = new NodeRegistry([imageLoader, syntheticBacklight, encoderNode, encodeImages, meanEmbedding, residualVector, enhancerTrainer, enhance] as AnyNodeDefinition[]);
let photos: Map<string, Uint8Array>; // "<name>.raw" → raw RGBA, ≤ 48 px

beforeAll(async () => {
  await useTestBackend('wasm');
  expect(readdirSync(SAMPLES).filter((f) => f.endsWith('.jpg')).sort()).toEqual([...TRAIN, ...HELD_OUT].map((n) => `${n}.jpg`).sort());
  photos = new Map();
  for (const name of [...TRAIN, ...HELD_OUT]) {
    const { data, info } = await sharp(path.join(SAMPLES, `${name}.jpg`)).resize(SIDE, SIDE, { fit: 'inside' }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    photos.set(`${name}.raw`, encodeRaw({ width: info.width, height: info.height, data: new Uint8ClampedArray(data) }));
  }
});

function host(): MemoryHost {
  const h = new MemoryHost();
  for (const n of TRAIN) h.addFile(`train/${n}.raw`, photos.get(`${n}.raw`)!);
  for (const n of HELD_OUT) h.addFile(`heldout/${n}.raw`, photos.get(`${n}.raw`)!);
  for (const f of ['config.json', 'model.safetensors']) h.addFile(`models/tiny-clip/${f}`, new Uint8Array(readFileSync(path.join(sharedDataDir, 'tiny-clip', f))));
  return h;
}

interface Setup {
  encoder: Record<string, unknown>;
  /** Trainer params shared by the full run and the warm-up-only run. */
  train: Record<string, unknown>;
  iterations: number;
  warmup: number;
}

/**
 * The experiment graph: ground truth → synthetic backlight; r from (well-lit train, backlit train);
 * two trainers (full, warm-up only; same seed); Enhance of the held-out and training backlit sets.
 */
function experiment(s: Setup) {
  const trainer = (iterations: number) => ({ ...s.train, iterations, warmupIterations: s.warmup, seed: 1 });
  return graph(
    [
      node('gt-train', 'image-loader', { source: 'train/*' }),
      node('gt-held', 'image-loader', { source: 'heldout/*' }),
      node('bl-train', 'synthetic-backlight', { seed: 3 }),
      node('bl-held', 'synthetic-backlight', { seed: 7 }),
      node('enc', 'encoder', s.encoder),
      node('e-well', 'encode-images'),
      node('e-back', 'encode-images'),
      node('v-pos', 'mean-embedding'),
      node('v-neg', 'mean-embedding'),
      node('residual', 'residual-vector', { target: 'paper' }), // the paper's thr = <v_pos, r>, as this test's header says
      node('train', 'enhancer-trainer', trainer(s.iterations)),
      node('warm', 'enhancer-trainer', trainer(s.warmup)),
      node('out-held', 'enhance', { mode: 'full' }),
      node('warm-held', 'enhance', { mode: 'full' }),
      node('out-train', 'enhance', { mode: 'full' }),
    ],
    [
      wire('gt-train.images', 'bl-train.images'),
      wire('gt-held.images', 'bl-held.images'),
      wire('gt-train.images', 'e-well.images'),
      wire('bl-train.images', 'e-back.images'),
      wire('enc.encoder', 'e-well.encoder'),
      wire('enc.encoder', 'e-back.encoder'),
      wire('e-well.embeddings', 'v-pos.embeddings'),
      wire('e-back.embeddings', 'v-neg.embeddings'),
      wire('v-pos.mean', 'residual.wellLit'),
      wire('v-neg.mean', 'residual.backlit'),
      ...['train', 'warm'].flatMap((t) => [wire('bl-train.images', `${t}.images`), wire('enc.encoder', `${t}.encoder`), wire('residual.residual', `${t}.residual`)]),
      wire('bl-held.images', 'out-held.images'),
      wire('train.enhancer', 'out-held.enhancer'),
      wire('bl-held.images', 'warm-held.images'),
      wire('warm.enhancer', 'warm-held.enhancer'),
      wire('bl-train.images', 'out-train.images'),
      wire('train.enhancer', 'out-train.enhancer'),
    ],
  );
}

interface Row {
  label: string;
  psnr: number;
  ssim: number;
  /** mean <E(x), r> over the set */
  proj: number;
  /** mean |<E(x), r> − thr| */
  gap: number;
}

async function runExperiment(s: Setup) {
  const ex = new Executor(registry, host());
  const losses: Array<Record<string, number>> = [];
  const summary = await ex.run(experiment(s), {
    onEvent: (e: ExecutorEvent) => void (e.type === 'progress' && e.nodeId === 'train' && e.metrics && losses.push(e.metrics)),
  });
  expect(summary.ok, JSON.stringify(Object.entries(summary.nodes).filter(([, n]) => n.error))).toBe(true);
  const images = (id: string) => (ex.outputsOf(id)!.images as ImageBatchValue).images;
  const encoder = ex.outputsOf('enc')!.encoder as ImageEncoder;
  const residual = ex.outputsOf('residual')!.residual as ResidualValue;
  const r = Array.from(residual.r.dataSync());
  const project = (t: tf.Tensor3D) => {
    const e = tf.tidy(() => encoder.encodeImages(t.expandDims(0) as tf.Tensor4D, 'loss').dataSync());
    return e.reduce((acc, v, i) => acc + v * r[i], 0);
  };
  const rgb = (t: tf.Tensor3D) => ({ width: t.shape[1], height: t.shape[0], data: Float32Array.from(t.dataSync(), (v) => v * 255) });
  const row = (label: string, set: ReturnType<typeof images>, truth: ReturnType<typeof images>): Row => {
    expect(set.map((i) => i.name)).toEqual(truth.map((i) => i.name));
    const m = set.map((im, i) => raveMetrics(rgb(truth[i].tensor), rgb(im.tensor)));
    const p = set.map((im) => project(im.tensor));
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    return { label, psnr: mean(m.map((x) => x.psnr)), ssim: mean(m.map((x) => x.ssim)), proj: mean(p), gap: mean(p.map((v) => Math.abs(v - residual.thr))) };
  };
  const held = images('gt-held');
  const heldRows = [row('input (backlit)', images('bl-held'), held), row(`warm-up only (${s.warmup} it)`, images('warm-held'), held), row(`trained (${s.iterations} it)`, images('out-held'), held)];
  const trainRows = [row('input (backlit)', images('bl-train'), images('gt-train')), row(`trained (${s.iterations} it)`, images('out-train'), images('gt-train'))];
  const reports = ['train', 'warm'].map((id) => (ex.outputsOf(id)!.report as { rows: Array<Record<string, unknown>> }).rows[0]);
  const out = { thr: residual.thr, space: encoder.space, heldRows, trainRows, losses, reports };
  ex.dispose();
  return out;
}

function printTable(title: string, thr: number, rows: Row[]): void {
  const lines = [
    `${title}  (thr = <v_pos, r> = ${thr.toFixed(4)})`,
    `  ${'output'.padEnd(22)} ${'PSNR dB'.padStart(8)} ${'SSIM'.padStart(7)} ${'<E,r>'.padStart(8)} ${'|<E,r>-thr|'.padStart(12)}`,
    ...rows.map((r) => `  ${r.label.padEnd(22)} ${r.psnr.toFixed(2).padStart(8)} ${r.ssim.toFixed(3).padStart(7)} ${r.proj.toFixed(4).padStart(8)} ${r.gap.toFixed(4).padStart(12)}`),
  ];
  console.log(lines.join('\n'));
}

describe('training gain (RAVE guidance on synthetic backlight, held-out photos)', () => {
  it('stats encoder: the trained network beats the input and the warm-up-only network on held-out PSNR and SSIM, and moves <E(out), r> toward thr', async () => {
    // Loss weights: the identity weight is the paper's (0.9·25); the guidance weight is scaled to the
    // space. In the stats space backlit and well-lit projections on r lie ~1.3 apart (CLIP: a few
    // hundredths), so the paper's 6·320 lets the guidance swamp the identity loss and the network
    // runs past the ground truth into an all-white, gradient-free output. 20 balances them.
    const res = await runExperiment({
      encoder: { model: 'stats' },
      train: { imageSize: SIDE, batchSize: 2, microBatch: 2, lr: 1e-3, guidanceWeight: 20, identityWeight: 22.5 },
      warmup: 10,
      iterations: 80,
    });
    printTable(`HELD-OUT (${HELD_OUT.length} photos, ${res.space})`, res.thr, res.heldRows);
    printTable(`TRAINING SET (${TRAIN.length} photos)`, res.thr, res.trainRows);
    const [input, warm, trained] = res.heldRows;
    expect(res.losses).toHaveLength(80);
    for (const l of res.losses) for (const v of Object.values(l)) expect(Number.isFinite(v)).toBe(true);
    expect(res.reports[0]).toMatchObject({ steps: 80, resumedFrom: 0 });
    expect(res.reports[1]).toMatchObject({ steps: 10, resumedFrom: 0 });
    // The warm-up (reconstruction) keeps the image: it neither helps nor hurts.
    expect(Math.abs(warm.psnr - input.psnr)).toBeLessThan(0.5);
    // The guided network improves photos it never saw, on both metrics, by a clear margin.
    expect(trained.psnr).toBeGreaterThan(input.psnr + 1);
    expect(trained.psnr).toBeGreaterThan(warm.psnr + 1);
    expect(trained.ssim).toBeGreaterThan(input.ssim + 0.1);
    expect(trained.ssim).toBeGreaterThan(warm.ssim + 0.1);
    // ... and their embeddings moved toward the well-lit side of r.
    expect(trained.gap).toBeLessThan(input.gap);
    expect(trained.proj).toBeGreaterThan(input.proj);
    expect(res.trainRows[1].gap).toBeLessThan(res.trainRows[0].gap);
  }, 360_000); // real training on 2 cores: 1–2 min idle, several minutes on a shared machine

  it('tiny CLIP (random weights: no lighting meaning) runs the same path end to end with finite losses and moves the training projections toward thr', async () => {
    // The paper's loss weights. No augmentation: a random ViT is not flip/rotation invariant, so an
    // augmented view would be guided somewhere else than the photo that is measured.
    const res = await runExperiment({
      encoder: { model: 'clip', source: 'models/tiny-clip' },
      train: { imageSize: 32, batchSize: 5, augment: false, lr: 1e-3, guidanceWeight: 1920, identityWeight: 22.5 },
      warmup: 2,
      iterations: 12,
    });
    expect(res.space).toBe('clip:tiny-clip');
    printTable(`TRAINING SET (${TRAIN.length} photos, ${res.space})`, res.thr, res.trainRows);
    printTable(`HELD-OUT (${HELD_OUT.length} photos, ${res.space})`, res.thr, res.heldRows);
    expect(res.losses).toHaveLength(12);
    for (const l of res.losses) for (const v of Object.values(l)) expect(Number.isFinite(v)).toBe(true);
    const guided = res.losses.slice(2);
    for (const l of guided) expect(Object.keys(l).sort()).toEqual(['guidance', 'identity', 'loss']);
    // (Batches are drawn with replacement, so the per-step guidance term varies with the draw.)
    console.log(`guidance loss per guided step: ${guided.map((l) => l.guidance.toFixed(2)).join(' ')}`);
    // The enhanced training photos (native size) sit closer to thr than the inputs.
    const [input, trained] = res.trainRows;
    expect(trained.gap).toBeLessThan(input.gap);
  }, 360_000); // real training on 2 cores: 1–2 min idle, several minutes on a shared machine
});
