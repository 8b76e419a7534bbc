/**
 * Portable GPU benchmark (issue #10): tfjs on WebGPU (Dawn in Node) and wasm against PyTorch CUDA
 * eager, one table. Runs from the pack (bench/gpu/pack.sh → bench/gpu/run.sh) on a bare Linux
 * x86-64 machine with an NVIDIA driver, or from the repo:
 *
 *   bench/gpu/run.sh [--quick]                         # from the pack (what a GPU session runs)
 *   npx tsx bench/gpu/bench.ts --quick --no-torch      # from source (needs VK_ICD_FILENAMES here)
 *
 * The process is an orchestrator: it runs one worker process per tfjs backend (this same script with
 * `--worker <backend>`) and the PyTorch reference (tools/reference/gpu_bench.py), one after the other
 * (each gets the GPU alone), samples `nvidia-smi` for the peak GPU memory of each, and prints ONE table.
 *
 * What is measured (full mode; --quick shrinks every size so it finishes on SwiftShader in CI):
 * - training step of the enhancer (fwd + bwd + Adam, batch 8, 256² and 512²) with the RAVE main-stage
 *   loss of METHODS.md: 6·320·L_rave on a ViT-B/32-shaped CLIP vision tower (random weights, real
 *   shapes) + 0.9·25·L_id. L_id uses the guidance tower's hidden states (the documented substitute for
 *   RN101, as the product's trainer does), so a step runs the tower three times: embeddings of the
 *   output, features of the output, features of the input (no gradient);
 * - Enhance: full-resolution forward at 1 MP (s/MP) and a 12 MP photo end to end (upload 8-bit
 *   pixels, enhance, read the result back);
 * - tf.memory() before and after the timed training steps (flat = no tensor leaks).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { prepareWebGPU } from '../../src/cli/webgpu';
import { useBackend, type BackendName } from '../../src/ml/backend';
import { ClipEncoder } from '../../src/ml/clip/encoder';
import { parseClipConfig } from '../../src/ml/clip/config';
import { ClipModel } from '../../src/ml/clip/model';
import { clipTensorSpecs } from '../../src/ml/clip/weights';
import { enhanceTiledAsync } from '../../src/ml/enhancer/inference';
import { EnhancerNet, type EnhanceResult } from '../../src/ml/enhancer/network';
import { trainStepLazy } from '../../src/ml/enhancer/train';
import { registerWasmTrainingKernels } from '../../src/ml/kernels/wasmTraining';
import { encoderIdentityLoss, IDENTITY_WEIGHTS_MAIN, raveLoss } from '../../src/ml/losses';

// ---- sizes ---------------------------------------------------------------------------------------

interface Plan {
  quick: boolean;
  /** Training: image side, batch, timed steps (after one untimed warm-up step). */
  train: { size: number; batch: number; steps: number }[];
  /** Side of the warm-up step's images: the same shape on webgpu (compiles its shaders), small on wasm (nothing to compile). */
  warmupSide?: number;
  /** Micro-batch of the training step (the trainer's option: exact gradient, bounded memory), for wasm's 4 GB heap. */
  microBatch?: number;
  /** Full-resolution forward (square side) for seconds per megapixel. */
  fullSide: number;
  /** The "photo" end to end, tile side of enhanceTiled. */
  photo: { w: number; h: number; tile: number };
  /** CLIP vision tower: ViT-B/32 (HF defaults) or a tiny one in quick mode. */
  vision: Record<string, number>;
  projectionDim: number;
}

const VIT_B32 = { hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12, image_size: 224, patch_size: 32 };
const TINY_VISION = { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2, image_size: 32, patch_size: 16 };

export function makePlan(quick: boolean, backend: string, steps?: number): Plan {
  if (quick) {
    return {
      quick,
      train: [{ size: 16, batch: 2, steps: steps ?? 1 }],
      fullSide: 32,
      // Two tiles of one shape per pass: SwiftShader compiles every new shape's kernels (seconds each).
    photo: { w: 64, h: 32, tile: 32 },
      vision: TINY_VISION,
      projectionDim: 16,
    };
  }
  // wasm is the CPU baseline: one step per size would take minutes at 512² batch 8, so it runs 256² only.
  const wasm = backend === 'wasm';
  return {
    quick,
    train: wasm ? [{ size: 256, batch: 8, steps: steps ?? 1 }] : [{ size: 256, batch: 8, steps: steps ?? 20 }, { size: 512, batch: 8, steps: steps ?? 5 }],
    warmupSide: wasm ? 32 : undefined,
    microBatch: wasm ? 2 : undefined,
    // s/MP on wasm from 512² (≈ 5 s a pass on one thread) rather than 1 MP (≈ 20 s): per-pixel cost is the same.
    fullSide: wasm ? 512 : 1024,
    photo: { w: 4000, h: 3000, tile: 1024 },
    vision: VIT_B32,
    projectionDim: 512,
  };
}

// ---- worker: measurements on one tfjs backend ----------------------------------------------------

export interface TrainCell { size: number; batch: number; steps: number; microBatch?: number; msPerStep?: number; firstStepMs?: number; loss?: number; tensorsBefore?: number; tensorsAfter?: number; bytesBefore?: number; bytesAfter?: number; error?: string }
export interface TimedCell { label: string; seconds?: number; secondsPerMP?: number; error?: string }
export interface BackendResult {
  backend: string;
  /** The Node binary that ran it (the packed one when run from the pack). */
  node?: string;
  device?: string;
  train: TrainCell[];
  enhanceFull?: TimedCell;
  photo?: TimedCell;
  gpuPeakMiB?: number;
  error?: string;
  /** Set when the worker was killed: what it had measured by then is kept, the rest says this. */
  incomplete?: string;
  wallSeconds?: number;
}

function randomVisionTower(plan: Plan): ClipEncoder {
  const config = parseClipConfig({ vision_config: plan.vision, projection_dim: plan.projectionDim });
  const weights = new Map<string, tf.Tensor>();
  clipTensorSpecs(config).forEach(({ key, shape }, i) => {
    if (key.startsWith('text_model.') || key === 'text_projection.weight') return; // vision only (text is unused here)
    const isNormWeight = /(layer_norm\d?|layrnorm|layernorm)\.weight$/.test(key);
    weights.set(key, key === 'logit_scale' ? tf.scalar(Math.log(100)) : isNormWeight ? tf.ones(shape) : tf.randomNormal(shape, 0, 0.02, 'float32', 1000 + i));
  });
  return new ClipEncoder(new ClipModel(config, weights), { name: plan.quick ? 'random-tiny' : 'random-vit-b-32' });
}

/** The product's training step (fused layers, L2 weight decay as METHODS.md) without a synchronous loss read. */
const STEP = { weightDecay: 1e-3 } as const;

async function timeTraining(plan: Plan, cell: TrainCell, encoder: ClipEncoder): Promise<void> {
  const dim = encoder.dim;
  const rv = new Float32Array(dim).map((_, i) => Math.sin(1 + i * 0.37));
  const norm = Math.hypot(...rv);
  const r = tf.tensor1d(rv.map((v) => v / norm));
  const thr = 0.2; // any constant: the cost does not depend on it
  const loss = (res: EnhanceResult, input: tf.Tensor4D) => tf.tidy(() => {
    const g = tf.mul(raveLoss(encoder.encodeImages(res.out, 'loss'), r, thr), 6 * 320);
    // Σ_batch identity: a micro-batch's sum is scaled up by batch/chunk, as the trainer does (same gradient).
    const id = tf.mul(encoderIdentityLoss(encoder, res.out, input, IDENTITY_WEIGHTS_MAIN), (0.9 * 25 * cell.batch) / input.shape[0]);
    return tf.add(g, id) as tf.Scalar;
  });
  const net = EnhancerNet.create(1);
  const opt = tf.train.adam(2e-5);
  const x = tf.randomUniform([cell.batch, cell.size, cell.size, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
  const side = plan.warmupSide ?? cell.size;
  const xw = side === cell.size ? x : (tf.randomUniform([cell.batch, side, side, 3], 0, 1, 'float32', 4) as tf.Tensor4D);
  try {
    let t0 = performance.now();
    const opts = { ...STEP, microBatch: plan.microBatch };
    cell.microBatch = plan.microBatch;
    const first = trainStepLazy(net, opt, xw, loss, opts);
    await first.data();
    first.dispose();
    if (xw === x) cell.firstStepMs = performance.now() - t0;
    const before = tf.memory();
    cell.tensorsBefore = before.numTensors;
    cell.bytesBefore = before.numBytes;
    // Queue every step, read only the last loss: the GPU-friendly loop (no per-step stall).
    t0 = performance.now();
    let last: tf.Scalar | null = null;
    for (let i = 0; i < cell.steps; i++) {
      last?.dispose();
      last = trainStepLazy(net, opt, x, loss, opts);
    }
    cell.loss = (await (last as tf.Scalar).data())[0];
    cell.msPerStep = (performance.now() - t0) / cell.steps;
    last?.dispose();
    const after = tf.memory();
    cell.tensorsAfter = after.numTensors;
    cell.bytesAfter = after.numBytes;
    if (!Number.isFinite(cell.loss)) cell.error = `loss is ${cell.loss}`;
  } finally {
    tf.dispose([x, xw, r]);
    opt.dispose();
    net.dispose();
  }
}

async function timeFull(side: number, net: EnhancerNet, repeats: number): Promise<TimedCell> {
  const x = tf.randomUniform([1, side, side, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
  const run = async () => {
    const t0 = performance.now();
    const out = tf.tidy(() => net.forward(x, { padMode: 'reflect' }).out);
    await out.data();
    out.dispose();
    return (performance.now() - t0) / 1000;
  };
  try {
    await run(); // compiles the shaders for this shape
    let s = Infinity;
    for (let i = 0; i < repeats; i++) s = Math.min(s, await run());
    return { label: `${side}² full`, seconds: s, secondsPerMP: s / ((side * side) / 1e6) };
  } finally {
    x.dispose();
  }
}

/** A photo end to end: 8-bit RGB pixels in, enhanced 8-bit RGB out (upload + the Enhance node's tiled path + readback). */
async function timePhoto(p: Plan['photo'], net: EnhancerNet): Promise<TimedCell> {
  const pixels = new Uint8Array(p.w * p.h * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 24; // cheap deterministic noise
  const run = async (tiled: boolean) => {
    const t0 = performance.now();
    const img = tf.tidy(() => tf.div(tf.cast(tf.tensor4d(pixels, [1, p.h, p.w, 3], 'int32'), 'float32'), 255) as tf.Tensor4D);
    try {
      const res = tiled ? await enhanceTiledAsync(net, img, { tile: p.tile }) : net.forward(img, { padMode: 'reflect' });
      const u8 = tf.tidy(() => tf.cast(tf.round(tf.mul(res.out, 255)), 'int32'));
      await u8.data();
      tf.dispose([res.L, res.out, u8]);
    } finally {
      img.dispose();
    }
    return (performance.now() - t0) / 1000;
  };
  const mp = (p.w * p.h) / 1e6;
  const size = `${p.w}×${p.h} (${mp.toFixed(mp < 1 ? 3 : 1)} MP)`;
  let label = `${size}, tiled ${p.tile}`;
  let tiled = true;
  try {
    await run(true); // shader compilation for the tile shapes
  } catch (err) {
    // The Enhance node's tiled path failed on this backend: say so, and time the full-frame pass instead
    // where its biggest activation (64 channels, float32) fits one WebGPU storage binding.
    const why = (err as Error).message.split('\n')[0];
    const limit = (tf.backend() as unknown as { device?: { limits?: { maxStorageBufferBindingSize?: number } } }).device?.limits?.maxStorageBufferBindingSize;
    const need = p.w * p.h * 64 * 4;
    if (limit !== undefined && need > limit) {
      throw new Error(`the tiled path failed (${why}); a full frame needs ${(need / 2 ** 30).toFixed(2)} GiB buffers > maxStorageBufferBindingSize ${(limit / 2 ** 30).toFixed(2)} GiB`);
    }
    tiled = false;
    label = `${size}, FULL FRAME: the tiled path failed (${why})`;
    await run(false);
  }
  const s = await run(tiled);
  return { label, seconds: s, secondsPerMP: s / mp };
}

async function setupBackend(backend: BackendName): Promise<string> {
  if (backend === 'webgpu') {
    // Dawn in Node the CLI's way (src/cli/webgpu.ts; inside the pack, pack.sh aliases the npm `webgpu`
    // package to dawn-shim.mjs, which loads the carried dawn.node).
    const ready = await prepareWebGPU();
    if (!ready.ok) throw new Error(ready.error);
    const a = ready.adapter;
    await useBackend('webgpu');
    const gib = (v?: number) => (v === undefined ? '?' : `${(v / 2 ** 30).toFixed(2)} GiB`);
    const limits = `maxBufferSize ${gib(a.limits.maxBufferSize)}, maxStorageBufferBindingSize ${gib(a.limits.maxStorageBufferBindingSize)}`;
    return `${[a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ')} (${limits})${ready.notes.length ? `; ${ready.notes.join('; ')}` : ''}`;
  }
  const wasmDir = process.env.BACKLIT_WASM_DIR ?? path.resolve(path.dirname(process.argv[1]), '../../node_modules/@tensorflow/tfjs-backend-wasm/dist/');
  await useBackend(backend, { wasmDir: wasmDir.endsWith('/') ? wasmDir : `${wasmDir}/` });
  if (backend === 'wasm') registerWasmTrainingKernels();
  return backend === 'wasm' ? `wasm (${tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? 'SIMD' : 'no SIMD'}, ${tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? 'threads' : '1 thread'})` : backend;
}

async function worker(backend: BackendName, quick: boolean, budgetS: number, steps?: number): Promise<BackendResult> {
  const t00 = performance.now();
  const elapsed = () => (performance.now() - t00) / 1000;
  const plan = makePlan(quick, backend, steps);
  const result: BackendResult = { backend, node: process.execPath, train: [] };
  const log = (m: string) => process.stderr.write(`[${backend} ${elapsed().toFixed(0)} s] ${m}\n`);
  // What is measured so far, after every measurement: a worker killed at its time limit still reports it.
  const emit = (r: BackendResult) => process.stdout.write(`BENCH_PARTIAL ${JSON.stringify({ ...r, wallSeconds: elapsed() })}\n`);
  try {
    result.device = await setupBackend(backend);
    log(`backend ready: ${result.device}`);
  } catch (err) {
    result.error = (err as Error).message;
    return result;
  }
  const overBudget = () => (elapsed() > budgetS ? `skipped: over this backend's ${budgetS} s budget` : undefined);
  const encoder = randomVisionTower(plan);
  for (const t of plan.train) {
    const cell: TrainCell = { ...t };
    result.train.push(cell);
    cell.error = overBudget();
    if (cell.error) continue;
    try {
      await timeTraining(plan, cell, encoder);
      log(`train ${t.size}² ×${t.batch}: ${cell.msPerStep?.toFixed(1)} ms/step${cell.firstStepMs === undefined ? '' : ` (first ${cell.firstStepMs.toFixed(0)} ms)`}, tensors ${cell.tensorsBefore}→${cell.tensorsAfter}`);
    } catch (err) {
      cell.error = `failed: ${(err as Error).message}`;
      log(cell.error);
    }
    emit(result);
  }
  encoder.dispose();
  const net = EnhancerNet.create(2);
  const guarded = async (label: string, f: () => Promise<TimedCell>): Promise<TimedCell> => {
    const skip = overBudget();
    if (skip) return { label, error: skip };
    try {
      const c = await f();
      log(`${c.label}: ${c.seconds?.toFixed(3)} s`);
      return c;
    } catch (err) {
      log(`${label} failed: ${(err as Error).message}`);
      return { label, error: `failed: ${(err as Error).message.split('\n')[0]}` };
    }
  };
  result.enhanceFull = await guarded(`${plan.fullSide}² full`, () => timeFull(plan.fullSide, net, quick ? 1 : 2));
  emit(result);
  // wasm: a 12 MP photo would take minutes on one thread; its s/MP above is what it would cost.
  result.photo = backend === 'wasm' && !quick
    ? { label: 'photo', error: 'skipped on wasm (≈ s/MP × 12)' }
    : await guarded('photo', () => timePhoto(plan.photo, net));
  net.dispose();
  result.wallSeconds = elapsed();
  return result;
}

// ---- orchestrator ----------------------------------------------------------------------------------

export interface TorchResult {
  skipped?: string;
  error?: string;
  device?: string;
  torch?: string;
  train?: { size: number; batch: number; steps: number; msPerStep?: number; firstStepMs?: number; peakMiB?: number; error?: string }[];
  enhanceFull?: TimedCell & { peakMiB?: number };
  photo?: TimedCell & { peakMiB?: number };
  gpuPeakMiB?: number;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Samples nvidia-smi's used memory (MiB, all processes) while a child runs; peak above the baseline. */
function gpuMemorySampler(): { stop(): number | undefined } {
  const query = () => {
    const r = spawnSync('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 5000 });
    if (r.status !== 0 || !r.stdout) return undefined;
    return Number(r.stdout.trim().split('\n')[0]);
  };
  const base = query();
  if (base === undefined || !Number.isFinite(base)) return { stop: () => undefined };
  let peak = base;
  const timer = setInterval(() => {
    const v = query();
    if (v !== undefined && v > peak) peak = v;
  }, 250);
  return { stop: () => { clearInterval(timer); return peak - base; } };
}

function runChild(cmd: string, args: string[], timeoutS: number): Promise<{ result?: unknown; partial?: boolean; error?: string; gpuPeakMiB?: number }> {
  return new Promise((resolve) => {
    const sampler = gpuMemorySampler();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
    child.on('error', (err) => { clearTimeout(timer); resolve({ error: `could not start ${cmd}: ${err.message}`, gpuPeakMiB: sampler.stop() }); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const gpuPeakMiB = sampler.stop();
      const lines = out.split('\n').reverse();
      const line = lines.find((l) => l.startsWith('BENCH_RESULT '));
      const partial = lines.find((l) => l.startsWith('BENCH_PARTIAL '));
      const error = signal ? `killed (${signal}) at the ${timeoutS.toFixed(0)} s limit` : `exited ${code} without a result`;
      if (line) resolve({ result: JSON.parse(line.slice('BENCH_RESULT '.length)), gpuPeakMiB });
      else if (partial) resolve({ result: JSON.parse(partial.slice('BENCH_PARTIAL '.length)), partial: true, error, gpuPeakMiB });
      else resolve({ error, gpuPeakMiB });
    });
  });
}

const fmtMs = (v?: number) => (v === undefined ? '' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const fmtS = (v?: number) => (v === undefined ? '' : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
const ratio = (a?: number, b?: number) => {
  if (a === undefined || b === undefined || !(b > 0)) return '–';
  const r = a / b;
  return `${r >= 10 ? r.toFixed(0) : r >= 0.1 ? r.toFixed(2) : r.toPrecision(1)}×`;
};

export function renderTable(results: Record<string, BackendResult | undefined>, torch: TorchResult, quick: boolean): string {
  const gpu = results.webgpu;
  const wasm = results.wasm;
  const rows: string[][] = [];
  const cell = (v: string | undefined, err?: string) => (v ? v : err ? err : '–');
  const colErr = (b?: BackendResult) => b?.error ?? b?.incomplete;
  const trainSizes = [...new Map([...(gpu?.train ?? []), ...(wasm?.train ?? []), ...(torch.train ?? [])].map((t) => [`${t.size}x${t.batch}`, t])).values()];
  for (const t of trainSizes) {
    const g = gpu?.train.find((c) => c.size === t.size && c.batch === t.batch);
    const w = wasm?.train.find((c) => c.size === t.size && c.batch === t.batch);
    const p = torch.train?.find((c) => c.size === t.size && c.batch === t.batch);
    rows.push([`train step ${t.size}² batch ${t.batch} (ms)`, cell(fmtMs(g?.msPerStep), g?.error ?? colErr(gpu)), cell(w?.msPerStep === undefined ? undefined : `${fmtMs(w.msPerStep)}${w.microBatch && w.microBatch < w.batch ? ` (${w.batch / w.microBatch}×${w.microBatch} micro-batches)` : ''}`, w?.error ?? colErr(wasm) ?? (wasm ? 'not run' : undefined)), cell(fmtMs(p?.msPerStep), p?.error ?? torch.skipped ?? torch.error), ratio(g?.msPerStep, p?.msPerStep), ratio(w?.msPerStep, g?.msPerStep)]);
    rows.push([`  first step incl. compile (ms)`, cell(fmtMs(g?.firstStepMs)), cell(fmtMs(w?.firstStepMs)), cell(fmtMs(p?.firstStepMs)), '', '']);
    const mem = (c?: TrainCell) => (c?.tensorsBefore === undefined ? undefined : `${c.tensorsBefore}→${c.tensorsAfter} tensors${c.tensorsBefore === c.tensorsAfter && c.bytesBefore === c.bytesAfter ? ' (flat)' : ' (GROWS)'}`);
    rows.push([`  tf.memory() over ${g?.steps ?? w?.steps ?? t.steps} steps`, cell(mem(g)), cell(mem(w)), p?.peakMiB !== undefined ? `peak alloc ${p.peakMiB.toFixed(0)} MiB` : '', '', '']);
  }
  const fullLabel = gpu?.enhanceFull?.label ?? torch.enhanceFull?.label ?? 'full';
  // A cell measured at another size than the row's says so.
  const tc = (c?: TimedCell, f: (c: TimedCell) => number | undefined = (x) => x.seconds) => (c && f(c) !== undefined ? `${fmtS(f(c))}${c.label !== fullLabel && c.label.endsWith('full') ? ` (${c.label})` : ''}` : undefined);
  rows.push([`Enhance ${fullLabel} forward: s per MP`, cell(tc(gpu?.enhanceFull, (c) => c.secondsPerMP), gpu?.enhanceFull?.error ?? colErr(gpu)), cell(tc(wasm?.enhanceFull, (c) => c.secondsPerMP), wasm?.enhanceFull?.error ?? colErr(wasm)), cell(tc(torch.enhanceFull, (c) => c.secondsPerMP), torch.enhanceFull?.error ?? torch.skipped ?? torch.error), ratio(gpu?.enhanceFull?.secondsPerMP, torch.enhanceFull?.secondsPerMP), ratio(wasm?.enhanceFull?.secondsPerMP, gpu?.enhanceFull?.secondsPerMP)]);
  const photoLabel = (gpu?.photo?.label ?? torch.photo?.label ?? 'photo').split(',')[0];
  rows.push([`Enhance ${photoLabel} photo end to end (s)`, cell(tc(gpu?.photo), gpu?.photo?.error ?? colErr(gpu)), cell(tc(wasm?.photo), wasm?.photo?.error ?? colErr(wasm)), cell(tc(torch.photo), torch.photo?.error ?? torch.skipped ?? torch.error), ratio(gpu?.photo?.seconds, torch.photo?.seconds), ratio(wasm?.photo?.seconds, gpu?.photo?.seconds)]);
  const peak = (v?: number) => (v === undefined ? 'n/a (no nvidia-smi)' : `${v.toFixed(0)} MiB`);
  rows.push(['GPU memory peak (nvidia-smi, above idle)', gpu ? peak(gpu.gpuPeakMiB) : '–', wasm ? 'CPU' : '–', torch.skipped ? '–' : `${peak(torch.gpuPeakMiB)}`, '', '']);
  rows.push(['wall time of the column (s)', cell(fmtS(gpu?.wallSeconds)), cell(fmtS(wasm?.wallSeconds)), '', '', '']);

  const head = ['measurement', `tfjs webgpu`, `tfjs wasm`, `PyTorch CUDA eager`, 'webgpu ÷ PyTorch time', 'wasm ÷ webgpu time'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  const lines = [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)];
  const notes = [
    `mode: ${quick ? 'QUICK (tiny sizes and a 2-layer CLIP: checks the pack works, numbers say nothing about a GPU)' : 'full (ViT-B/32-shaped CLIP, random weights)'}`,
    `webgpu device: ${gpu?.device ?? gpu?.error ?? 'not run'}${gpu?.incomplete ? ` — INCOMPLETE: ${gpu.incomplete}` : ''}`,
    `wasm: ${wasm?.device ?? wasm?.error ?? 'not run'}${wasm?.incomplete ? ` — INCOMPLETE: ${wasm.incomplete}` : ''}`,
    `PyTorch: ${torch.skipped ? torch.skipped : torch.error ? torch.error : `${torch.torch} on ${torch.device}`}`,
    `photo path: ${[['webgpu', gpu?.photo], ['wasm', wasm?.photo], ['PyTorch', torch.photo]].filter(([, c]) => c && typeof c === 'object' && (c as TimedCell).seconds !== undefined).map(([n, c]) => `${n as string}: ${(c as TimedCell).label.split(', ').slice(1).join(', ')}`).join('; ') || '–'}`,
    'loss per step: 6·320·RAVE(ViT embedding of the output) + 0.9·25·identity (ViT hidden states of output vs input); Adam, L2 wd 1e-3; steps queued, one readback at the end',
  ];
  return [...lines, '', ...notes.map((n) => `- ${n}`)].join('\n');
}

async function orchestrate(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const backends = (arg('--backends') ?? 'webgpu,wasm').split(',').filter(Boolean) as BackendName[];
  // Seconds each backend may spend before it skips its remaining measurements (a GPU lease is short).
  // Quick mode runs on SwiftShader on shared CI cores: generous limits (it needs ≈ 1 min of CPU).
  const budgetOf = (b: string) => Number(arg('--budget-s') ?? (quick ? 900 : b === 'wasm' ? 100 : 200));
  // Whole-run deadline (a device command may run 10 min; a GPU lease has 15 min in all): a child
  // past its share is killed, so the table always prints.
  const deadline = Number(arg('--deadline-s') ?? (quick ? 1500 : 480));
  const left = () => deadline - (performance.now() - t00) / 1000;
  const results: Record<string, BackendResult | undefined> = {};
  const t00 = performance.now();
  const wantTorch = !process.argv.includes('--no-torch') && !!arg('--torch');
  for (const [i, b] of backends.entries()) {
    process.stderr.write(`— tfjs ${b} —\n`);
    const budget = budgetOf(b);
    const args = [...process.execArgv, process.argv[1], '--worker', b, '--budget-s', String(budget)];
    if (quick) args.push('--quick');
    const steps = arg('--steps');
    if (steps) args.push('--steps', steps);
    const reserve = (backends.length - 1 - i) * 60 + (wantTorch ? 90 : 0); // for the columns still to come
    const r = await runChild(process.execPath, args, Math.max(30, Math.min(budget + 120, left() - reserve)));
    results[b] = r.result
      ? { ...(r.result as BackendResult), gpuPeakMiB: r.gpuPeakMiB, incomplete: r.partial ? r.error : undefined }
      : { backend: b, train: [], error: r.error };
  }
  let torch: TorchResult;
  const script = arg('--torch');
  if (process.argv.includes('--no-torch') || !script) torch = { skipped: 'skipped (--no-torch)' };
  else if (!existsSync(script)) torch = { skipped: `skipped: ${script} not found` };
  else {
    process.stderr.write('— PyTorch —\n');
    const python = arg('--python') ?? process.env.PYTHON ?? 'python3';
    const r = await runChild(python, [script, '--json', ...(quick ? ['--quick'] : [])], Math.max(60, left()));
    torch = r.result ? { ...(r.result as TorchResult), gpuPeakMiB: r.gpuPeakMiB } : { error: r.error };
  }
  const table = renderTable(results, torch, quick);
  console.log(table);
  console.log(`\ntotal ${((performance.now() - t00) / 1000).toFixed(0)} s`);
  const json = arg('--json');
  if (json) writeFileSync(json, JSON.stringify({ quick, results, torch }, null, 2));
}

async function main(): Promise<void> {
  const w = arg('--worker');
  if (w) {
    const steps = arg('--steps');
    const r = await worker(w as BackendName, process.argv.includes('--quick'), Number(arg('--budget-s') ?? 240), steps ? Number(steps) : undefined);
    process.stdout.write(`BENCH_RESULT ${JSON.stringify(r)}\n`);
    // Dawn's device keeps the event loop alive; the result is out, so leave.
    process.exit(0);
  }
  await orchestrate();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
