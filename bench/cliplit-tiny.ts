/**
 * Why does CLIP-LIT on the tiny test CLIP darken (issue 12)? `npx tsx bench/cliplit-tiny.ts [--seeds N] [--round2]`
 *
 * (`--study 0` / `--study 1`: only the CLIP-LIT study / only the control; `--towers 0` skips section 5.)
 *
 * Runs the example graphs through the real nodes and executor (wasm backend), then measures:
 *  1. the guidance loss the Enhancer Trainer would see — mean softmax(scale·cos(E, g))[negative], on
 *     the images resized to the trainer's imageSize, `loss` preprocessing — for the example's backlit
 *     images after Exposure/Gamma at stops −1 … +2, with the prompts of the example's first Prompt
 *     Learner (seed 0) and of the same learner re-run with other seeds;
 *  2. prompt accuracy on its training sets and on other images (samples/more-well-lit against their
 *     Synthetic Backlight renderings);
 *  3. what the example's round 1 actually does: mean luma in → out, and the guidance / identity
 *     loss terms at the first and last guided step (and round 2 with --round2);
 *  4. how far exposure moves the embedding compared with the spread between images.
 * The same for the control, graphs/latent-prompts.json (latent prompts, stats encoder), where the
 * guidance is expected to ask for brighter images.
 *
 * Findings: docs/cliplit-tiny.md.
 */
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { Executor, requireGraph, loadGraph, type ExecutorEvent, type Graph, type ImageBatchValue, type NodeRegistry } from '../src/engine';
import { loadNodeRegistry } from '../src/cli/loadNodes';
import { NodeHost } from '../src/cli/nodeHost';
import type { ImageEncoder } from '../src/ml/encoder';
import { parseClipConfig } from '../src/ml/clip/config';
import { ClipEncoder } from '../src/ml/clip/encoder';
import { ClipModel } from '../src/ml/clip/model';
import { loadClipTensors, safetensorsSource } from '../src/ml/clip/weights';
import { SafetensorsFile } from '../src/ml/safetensors';
import { resizeImages } from '../src/ml/image';
import { negativeScore } from '../src/ml/losses';
import { encodeSet, hasTextTower, latentPrompts, randomLatentInit, textPrompts, trainPrompts, type LearnedPromptPair, type PromptParameters } from '../src/ml/prompts';
import { AUTO_LR } from '../nodes/promptLearner';
import { promptGuidance } from '../src/ml/training/guidance';
import { useTestBackend } from '../src/ml/testing';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const seedsArg = args.indexOf('--seeds');
const SEEDS = Array.from({ length: seedsArg >= 0 ? Number(args[seedsArg + 1]) : 3 }, (_, i) => i);
const ROUND2 = args.includes('--round2');
const towersArg = args.indexOf('--towers');
/** Re-drawn random towers of the tiny CLIP's shape (section 5); 0 skips. */
const TOWERS = towersArg >= 0 ? Number(args[towersArg + 1]) : 8;
/** The long prompt variant runs this many times the example's iterations. */
const LONG = 10;
const STOPS = [-1, -0.5, -0.25, 0, 0.25, 0.5, 1, 2];

interface Study {
  label: string;
  graphFile: string;
}
const STUDIES: Study[] = [
  { label: 'CLIP-LIT text prompts, tiny random CLIP (graphs/clip-lit.json)', graphFile: 'graphs/clip-lit.json' },
  { label: 'control: latent prompts, stats encoder (graphs/latent-prompts.json)', graphFile: 'graphs/latent-prompts.json' },
];

const fmt = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : String(x));
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

function table(head: string[], rows: Array<Array<string | number>>): string {
  const cells = [head, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const w = head.map((_, i) => Math.max(...cells.map((r) => String(r[i]).length)));
  const line = (r: Array<string | number>) => `| ${r.map((c, i) => String(c).padEnd(w[i])).join(' | ')} |`;
  return [line(cells[0]), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

/** Mean BT.601 luma of each image. */
async function lumas(batch: ImageBatchValue): Promise<number[]> {
  const out: number[] = [];
  for (const im of batch.images) {
    const t = tf.tidy(() => tf.mean(tf.sum(tf.mul(im.tensor, tf.tensor1d([0.299, 0.587, 0.114])), -1)));
    out.push((await t.data())[0]);
    t.dispose();
  }
  return out;
}

/**
 * Per-image guidance loss exactly as the Enhancer Trainer computes it: the image resized (bilinear)
 * to the trainer's imageSize, then encoder.encodeImages(·, 'loss'), then the prompt guidance loss.
 */
async function guidanceLosses(encoder: ImageEncoder, prompts: LearnedPromptPair, batch: ImageBatchValue, imageSize: number): Promise<number[]> {
  const g = promptGuidance(prompts.prompts, prompts.space, prompts.mode, prompts.logitScale);
  const out: number[] = [];
  for (const im of batch.images) {
    const t = tf.tidy(() => g.loss(encoder.encodeImages(resizeImages(tf.expandDims(im.tensor, 0) as tf.Tensor4D, imageSize, imageSize, { filter: 'bilinear' }), 'loss')));
    out.push((await t.data())[0]);
    t.dispose();
  }
  return out;
}

/** Accuracy (negative score > 0.5 for backlit, < 0.5 for well-lit) with the learner's `dataset` preprocessing, and mean |logit gap|. */
async function accuracy(encoder: ImageEncoder, prompts: LearnedPromptPair, batch: ImageBatchValue, backlit: boolean): Promise<{ acc: number; gap: number }> {
  const scale = prompts.logitScale ?? 100;
  const [s, gap] = tf.tidy(() => {
    const emb = encodeSet(encoder, batch.images.map((im) => im.tensor));
    const logits = tf.mul(tf.matMul(emb, prompts.prompts, false, true), scale);
    return [negativeScore(emb, prompts.prompts, scale), tf.mean(tf.abs(tf.sub(tf.slice(logits, [0, 0], [-1, 1]), tf.slice(logits, [0, 1], [-1, 1]))))];
  });
  const sv = Array.from(await s.data());
  const gv = (await gap.data())[0];
  tf.dispose([s, gap]);
  return { acc: mean(sv.map((x) => ((backlit ? x > 0.5 : x < 0.5) ? 1 : 0))), gap: gv };
}

/** Mean 1 − cos between E(x at stop a) and E(x at stop b) (same image), and between different images at stop 0. */
async function embeddingMotion(encoder: ImageEncoder, at: (stop: number) => ImageBatchValue, imageSize: number): Promise<{ exposure: number; between: number }> {
  const embed = (b: ImageBatchValue) =>
    tf.tidy(() => tf.concat(b.images.map((im) => encoder.encodeImages(resizeImages(tf.expandDims(im.tensor, 0) as tf.Tensor4D, imageSize, imageSize, { filter: 'bilinear' }), 'loss')), 0) as tf.Tensor2D);
  const lo = embed(at(-1));
  const hi = embed(at(1));
  const zero = embed(at(0));
  const [same, gram] = tf.tidy(() => [tf.sum(tf.mul(lo, hi), 1), tf.matMul(zero, zero, false, true)] as [tf.Tensor, tf.Tensor]);
  const sv = Array.from(await same.data());
  const gv = Array.from(await gram.data());
  const n = zero.shape[0];
  const off: number[] = [];
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) off.push(1 - gv[i * n + j]);
  tf.dispose([lo, hi, zero, same, gram]);
  return { exposure: mean(sv.map((c) => 1 - c)), between: mean(off) };
}

function addNode(graph: Graph, id: string, type: string, params: Record<string, unknown>, from?: { node: string; port: string }, toPort = 'images') {
  graph.nodes.push({ id, type, params, position: { x: 0, y: 0 } });
  if (from) graph.edges.push({ from, to: { node: id, port: toPort } });
}

async function runStudy(study: Study, registry: NodeRegistry): Promise<void> {
  const graphPath = path.join(root, study.graphFile);
  const graph = requireGraph(loadGraph(readFileSync(graphPath, 'utf8'), registry));
  const p1 = graph.nodes.find((n) => n.id === 'prompts-1')!;
  const t1 = graph.nodes.find((n) => n.id === 'train-1')!;
  const imageSize = Number(t1.params.imageSize);
  // Exposure sweep of the example's backlit images (Exposure/Gamma node, gamma 1).
  for (const s of STOPS) addNode(graph, `sweep${s}`, 'exposure', { stops: s, gamma: 1 }, { node: 'backlit', port: 'images' });
  // Other images: the more-well-lit samples and their Synthetic Backlight renderings (same settings as the example).
  const backlitParams = graph.nodes.find((n) => n.id === 'backlit')!.params;
  addNode(graph, 'other-well-lit', 'image-loader', { source: 'samples/more-well-lit/*', maxSide: 128 });
  addNode(graph, 'other-backlit', 'synthetic-backlight', { ...backlitParams }, { node: 'other-well-lit', port: 'images' });
  // The first Prompt Learner re-run with other seeds (seed 0 is the example's own node) and 10× longer.
  const variantNodes: Array<{ id: string; label: string }> = [{ id: 'prompts-1', label: `node, seed ${p1.params.seed ?? 0} (the example)` }];
  const learnerParams = (extra: Record<string, unknown>) => ({ ...p1.params, ...extra });
  const iterations = Number(p1.params.iterations ?? 100);
  const extras: Array<[string, string, Record<string, unknown>]> = [
    ...SEEDS.filter((seed) => seed !== (p1.params.seed ?? 0)).map((seed): [string, string, Record<string, unknown>] => [`prompts-seed${seed}`, `node, seed ${seed}`, { seed }]),
    ['prompts-long', `node, ${iterations * LONG} iterations`, { iterations: iterations * LONG }],
  ];
  for (const [id, label, extra] of extras) {
    graph.nodes.push({ id, type: 'prompt-learner', params: learnerParams(extra), position: { x: 0, y: 0 } });
    for (const e of graph.edges.filter((e) => e.to.node === 'prompts-1')) graph.edges.push({ from: e.from, to: { node: id, port: e.to.port } });
    variantNodes.push({ id, label });
  }
  // Round-1 trainer variants: guidance off (identity loss only: what the network does by itself) and 5× longer.
  const e1 = graph.nodes.find((n) => n.id === 'enhance-1')!;
  const trainIts = Number(t1.params.iterations);
  const trainerVariants: Array<{ id: string; label: string; extra: Record<string, unknown> }> = [
    { id: 'noguide', label: `guidanceWeight 0 (identity only), ${trainIts} steps`, extra: { guidanceWeight: 0 } },
    { id: 'long', label: `the example's settings, ${trainIts * 5} steps`, extra: { iterations: trainIts * 5 } },
  ];
  for (const v of trainerVariants) {
    graph.nodes.push({ id: `train-${v.id}`, type: 'enhancer-trainer', params: { ...t1.params, ...v.extra }, position: { x: 0, y: 0 } });
    for (const e of graph.edges.filter((e) => e.to.node === 'train-1')) graph.edges.push({ from: e.from, to: { node: `train-${v.id}`, port: e.to.port } });
    graph.nodes.push({ id: `enhance-${v.id}`, type: 'enhance', params: { ...e1.params }, position: { x: 0, y: 0 } });
    for (const e of graph.edges.filter((e) => e.to.node === 'enhance-1')) graph.edges.push({ from: e.to.port === 'enhancer' ? { node: `train-${v.id}`, port: 'enhancer' } : e.from, to: { node: `enhance-${v.id}`, port: e.to.port } });
  }
  const targets = [
    ...graph.nodes.filter((n) => n.id.startsWith('sweep') || n.id.startsWith('other-')).map((n) => n.id),
    ...variantNodes.map((v) => v.id),
    'enhance-1',
    ...trainerVariants.map((v) => `enhance-${v.id}`),
    ...(ROUND2 ? ['enhance-2'] : []),
  ];
  const steps: Record<string, Array<Record<string, number>>> = {};
  const onEvent = (e: ExecutorEvent) => {
    if (e.type === 'progress' && e.nodeId.startsWith('train-') && e.metrics) (steps[e.nodeId] ??= []).push({ step: e.step, ...e.metrics });
  };
  const host = new NodeHost({ baseDirs: [path.dirname(graphPath), root], outDir: path.join(os.tmpdir(), 'cliplit-tiny-bench') });
  const executor = new Executor(registry, host);
  const t0 = performance.now();
  const summary = await executor.run(graph, { targets, onEvent });
  if (!summary.ok) {
    const bad = Object.entries(summary.nodes).filter(([, r]) => r.status === 'error');
    throw new Error(`${study.graphFile}: ${bad.map(([id, r]) => `${id}: ${r.error?.message}`).join('; ')}${summary.errors.map((e) => e.message).join('; ')}`);
  }
  const out = (id: string, port: string) => executor.outputsOf(id)![port];
  const encoder = out('encoder', 'encoder') as ImageEncoder;
  const sweep = (s: number) => out(`sweep${s}`, 'images') as ImageBatchValue;
  const promptSets: Array<{ label: string; prompts: LearnedPromptPair; own?: boolean }> = variantNodes.map((v) => ({ label: v.label, prompts: out(v.id, 'prompts') as LearnedPromptPair }));
  // The same learner fed the trainer's preprocessing (whole image at imageSize, squashed, no crop) instead of the learner's (short side + centre crop).
  const B = out('backlit', 'images') as ImageBatchValue;
  const W = out('well-lit', 'images') as ImageBatchValue;
  for (const its of [iterations, iterations * LONG]) {
    promptSets.push({ label: `trainer preprocessing, ${its} iterations`, prompts: await learnDirect(encoder, B, W, p1.params, imageSize, its), own: true });
  }

  console.log(`\n## ${study.label}\n`);
  console.log(`encoder ${encoder.space} (D = ${encoder.dim}); prompt learner ${JSON.stringify(p1.params)}; trainer imageSize ${imageSize}; ${((performance.now() - t0) / 1000).toFixed(1)} s to run the graph part\n`);

  // 1. Loss vs exposure.
  const sweepLuma = await Promise.all(STOPS.map(async (s) => mean(await lumas(sweep(s)))));
  const rows: Array<Array<string | number>> = [['mean luma', ...sweepLuma]];
  const perSeedLoss: number[][] = [];
  let darkerLocally = '';
  for (const { label, prompts } of promptSets) {
    const per = await Promise.all(STOPS.map((s) => guidanceLosses(encoder, prompts, sweep(s), imageSize)));
    const ls = per.map(mean);
    perSeedLoss.push(ls);
    rows.push([label, ...ls]);
    if (!darkerLocally) {
      const im = STOPS.indexOf(-0.25);
      const ip = STOPS.indexOf(0.25);
      const i0 = STOPS.indexOf(0);
      const n = per[i0].length;
      const darker = per[i0].filter((_, k) => per[im][k] < per[i0][k]).length;
      const brighter = per[i0].filter((_, k) => per[ip][k] < per[i0][k]).length;
      darkerLocally = `Example prompts, per image: −0.25 stop lowers the loss for ${darker} of ${n} backlit images, +0.25 stop for ${brighter} of ${n}.`;
    }
  }
  console.log(`Guidance loss (mean softmax[negative]; lower = "more well-lit") of the backlit images after Exposure/Gamma:\n`);
  console.log(table(['', ...STOPS.map((s) => `${s > 0 ? '+' : ''}${s} stops`)], rows));
  const i0 = STOPS.indexOf(0);
  const i1 = STOPS.indexOf(1);
  const brighterHelps = perSeedLoss.filter((l) => l[i1] < l[i0]).length;
  console.log(`\n+1 stop lowers the loss for ${brighterHelps} of ${perSeedLoss.length} prompt pairs. ${darkerLocally}`);

  // 2. Accuracy.
  const sets = [
    { name: 'training backlit', node: 'backlit', backlit: true },
    { name: 'training well-lit', node: 'well-lit', backlit: false },
    { name: 'more-well-lit', node: 'other-well-lit', backlit: false },
    { name: 'more-well-lit, Synthetic Backlight', node: 'other-backlit', backlit: true },
  ];
  const accRows: Array<Array<string | number>> = [];
  for (const { label, prompts } of promptSets) {
    const row: Array<string | number> = [label];
    let gap = 0;
    for (const s of sets) {
      const a = await accuracy(encoder, prompts, out(s.node, 'images') as ImageBatchValue, s.backlit);
      row.push(a.acc);
      if (s.node === 'backlit') gap = a.gap;
    }
    row.push(gap);
    row.push(await lumaCorrelation(encoder, prompts, [out('other-well-lit', 'images') as ImageBatchValue, out('other-backlit', 'images') as ImageBatchValue]));
    accRows.push(row);
  }
  console.log(`\nPrompt accuracy (learner's dataset preprocessing) and mean |logit gap| on the training backlit set:\n`);
  console.log(table(['prompts', ...sets.map((s) => `${s.name} (${(out(s.node, 'images') as ImageBatchValue).images.length})`), '|logit gap|', 'rank corr(P(pos), luma), other 20'], accRows));

  // 3. What round 1 does.
  const inLuma = mean(await lumas(out('backlit', 'images') as ImageBatchValue));
  const x0 = perSeedLoss[0][STOPS.indexOf(0)];
  const trainRows: Array<Array<string | number>> = [['input (backlit)', inLuma, x0, '', '']];
  const runs = [{ id: '1', label: `round 1 as in the example (${trainIts} steps)` }, ...trainerVariants, ...(ROUND2 ? [{ id: '2', label: 'round 2 as in the example' }] : [])];
  for (const r of runs) {
    const batch = out(`enhance-${r.id}`, 'images') as ImageBatchValue;
    const list = steps[`train-${r.id}`] ?? [];
    const trainer = graph.nodes.find((n) => n.id === `train-${r.id}`)!;
    const guided = list.filter((m) => m.step > Number(trainer.params.warmupIterations) && m.identity !== undefined);
    const tail = guided.slice(-10);
    trainRows.push([
      r.label,
      mean(await lumas(batch)),
      mean(await guidanceLosses(encoder, promptSets[0].prompts, batch, imageSize)),
      tail.length ? mean(tail.map((m) => m.guidance)) : '',
      tail.length ? mean(tail.map((m) => m.identity)) : '',
    ]);
  }
  console.log(`\nWhat the trainer does with the example's prompts (enhanced backlit images; last 10 guided steps' weighted loss terms, per batch):\n`);
  console.log(table(['run', 'mean luma', 'guidance loss (eval)', 'w·guidance (train)', 'w·identity (train)'], trainRows));

  // 4. Embedding motion.
  const motion = await embeddingMotion(encoder, sweep, imageSize);
  console.log(`Embedding motion: mean 1 − cos(E(−1 stop), E(+1 stop)) of one image = ${fmt(motion.exposure, 4)}; between different images at 0 stops = ${fmt(motion.between, 4)}`);
  // 5. Other random towers of the same shape: is the direction the prompts learn tied to brightness?
  if (TOWERS > 0 && encoder.space.startsWith('clip:')) await otherTowers(B, W, sweep, p1.params, imageSize);
  for (const p of promptSets) if (p.own) p.prompts.prompts.dispose();
  executor.dispose();
}

/** Spearman rank correlation of P(positive) (dataset preprocessing) with mean luma over the given images. */
async function lumaCorrelation(encoder: ImageEncoder, prompts: LearnedPromptPair, batches: ImageBatchValue[]): Promise<number> {
  const images = batches.flatMap((b) => b.images);
  const y = (await lumas({ kind: 'ImageBatch', images } as ImageBatchValue));
  const s = tf.tidy(() => tf.sub(1, negativeScore(encodeSet(encoder, images.map((im) => im.tensor)), prompts.prompts, prompts.logitScale ?? 100)));
  const x = Array.from(await s.data());
  s.dispose();
  const rank = (v: number[]) => {
    const order = v.map((val, i) => [val, i] as const).sort((a, b) => a[0] - b[0]);
    const r = new Array<number>(v.length);
    order.forEach(([, i], k) => (r[i] = k));
    return r;
  };
  const rx = rank(x);
  const ry = rank(y);
  const mx = mean(rx);
  const my = mean(ry);
  let num = 0;
  let dx = 0;
  let dy = 0;
  for (let i = 0; i < rx.length; i++) {
    num += (rx[i] - mx) * (ry[i] - my);
    dx += (rx[i] - mx) ** 2;
    dy += (ry[i] - my) ** 2;
  }
  return num / Math.sqrt(dx * dy);
}

/**
 * The tiny CLIP with its weights re-drawn: every tensor gets fresh N(mean, std) values with that
 * tensor's own mean and std in the fixture (so each layer keeps its initialisation scale; constant
 * tensors such as layer-norm gains and zero biases stay as they are), seeds 1…TOWERS. Then the
 * example's prompt learning (text, same steps and lr, dataset preprocessing as the node) on the same
 * images, and the guidance loss at −0.25 / 0 / +0.25 / +1 stops. If the learnt direction were
 * brightness, every tower would ask for brighter images.
 */
async function otherTowers(B: ImageBatchValue, W: ImageBatchValue, sweep: (s: number) => ImageBatchValue, p: Record<string, unknown>, imageSize: number): Promise<void> {
  const dir = path.join(root, 'public/models/tiny-clip');
  const config = parseClipConfig(readFileSync(path.join(dir, 'config.json'), 'utf8'));
  const fixture = loadClipTensors(config, safetensorsSource(SafetensorsFile.parse(readFileSync(path.join(dir, 'model.safetensors')), 'tiny-clip/model.safetensors')));
  const moments = new Map<string, { mean: number; std: number }>();
  for (const [key, t] of fixture) {
    const v = Array.from(await t.data());
    const m = mean(v);
    moments.set(key, { mean: m, std: Math.sqrt(mean(v.map((x) => (x - m) ** 2))) });
  }
  const rows: Array<Array<string | number>> = [];
  let darker = 0;
  let brighter = 0;
  let plusOne = 0;
  const probe = [-0.25, 0, 0.25, 1];
  for (let k = 1; k <= TOWERS; k++) {
    const weights = new Map<string, tf.Tensor>();
    let i = 0;
    for (const [key, t] of fixture) {
      const { mean: m, std } = moments.get(key)!;
      weights.set(key, std === 0 || t.dtype !== 'float32' ? t.clone() : tf.randomNormal(t.shape, m, std, 'float32', 7919 * k + i++));
    }
    const enc = new ClipEncoder(new ClipModel(config, weights), { name: `tiny-random-${k}` });
    const data = { backlit: encodeSet(enc, B.images.map((im) => im.tensor)), wellLit: encodeSet(enc, W.images.map((im) => im.tensor)) };
    const learnable = textPrompts(enc);
    try {
      await trainPrompts(learnable, data, { iterations: Number(p.iterations ?? 100), lr: Number(p.lr ?? 0) > 0 ? Number(p.lr) : AUTO_LR.text, weightDecay: Number(p.weightDecay ?? 1e-3), batchSize: Number(p.batchSize ?? 16), seed: Number(p.seed ?? 0) });
      const snap = learnable.snapshot();
      snap.tokens?.dispose();
      const pair: LearnedPromptPair = { kind: 'PromptPair', space: enc.space, mode: 'text', prompts: snap.prompts, logitScale: 100 };
      const ls = await Promise.all(probe.map(async (s) => mean(await guidanceLosses(enc, pair, sweep(s), imageSize))));
      const acc = [(await accuracy(enc, pair, B, true)).acc, (await accuracy(enc, pair, W, false)).acc];
      snap.prompts.dispose();
      if (ls[0] < ls[1]) darker++;
      if (ls[2] < ls[1]) brighter++;
      if (ls[3] < ls[1]) plusOne++;
      rows.push([`tower ${k}`, ...ls, `${fmt(acc[0], 2)} / ${fmt(acc[1], 2)}`]);
    } finally {
      learnable.dispose();
      tf.dispose([data.backlit, data.wellLit]);
      enc.dispose();
    }
  }
  tf.dispose([...fixture.values()]);
  console.log(`\nThe same prompt learning on ${TOWERS} other random towers of the tiny CLIP's shape (guidance loss of the backlit images; lower = "more well-lit"):\n`);
  console.log(table(['tower', ...probe.map((s) => `${s > 0 ? '+' : ''}${s} stops`), 'train acc B / W'], rows));
  console.log(`\nOf ${TOWERS} towers, −0.25 stop lowers the loss for ${darker}, +0.25 stop for ${brighter} (both: a bump at 0), +1 stop for ${plusOne}.`);
}

/**
 * The Prompt Learner's initial stage through the library (same init, lr, decay, batch, scale), but
 * on embeddings made as the trainer makes them: each image resized to imageSize, then `loss`
 * preprocessing (whole image, no crop) — as the reference CLIP-LIT prompt loader does.
 */
async function learnDirect(encoder: ImageEncoder, backlit: ImageBatchValue, wellLit: ImageBatchValue, p: Record<string, unknown>, imageSize: number, iterations: number): Promise<LearnedPromptPair> {
  const mode = (p.mode ?? 'latent') as 'text' | 'latent';
  const seed = Number(p.seed ?? 0);
  const logitScale = Number(p.logitScale ?? 100);
  const embed = (b: ImageBatchValue) =>
    tf.tidy(() => tf.concat(b.images.map((im) => encoder.encodeImages(resizeImages(tf.expandDims(im.tensor, 0) as tf.Tensor4D, imageSize, imageSize, { filter: 'bilinear' }), 'loss')), 0) as tf.Tensor2D);
  const data = { backlit: embed(backlit), wellLit: embed(wellLit) };
  let learnable: PromptParameters;
  if (mode === 'text') {
    if (!hasTextTower(encoder)) throw new Error('text prompts need a text tower');
    learnable = textPrompts(encoder);
  } else learnable = latentPrompts(randomLatentInit(encoder.dim, seed));
  try {
    const lr = Number(p.lr ?? 0) > 0 ? Number(p.lr) : AUTO_LR[mode];
    await trainPrompts(learnable, data, { iterations, lr, weightDecay: Number(p.weightDecay ?? 1e-3), batchSize: Number(p.batchSize ?? 16), seed, logitScale });
    const snap = learnable.snapshot();
    snap.tokens?.dispose();
    return { kind: 'PromptPair', space: encoder.space, mode, prompts: snap.prompts, logitScale };
  } finally {
    learnable.dispose();
    tf.dispose([data.backlit, data.wellLit]);
  }
}

async function main() {
  await useTestBackend('wasm');
  const registry = await loadNodeRegistry();
  const before = tf.memory().numTensors;
  const only = args.indexOf('--study');
  for (const study of only >= 0 ? [STUDIES[Number(args[only + 1])]] : STUDIES) await runStudy(study, registry);
  console.log(`\ntensors left: ${tf.memory().numTensors - before}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
