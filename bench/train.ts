/**
 * Enhancer training/inference benchmark: `npx tsx bench/train.ts [--quick] [--with-cpu]`.
 *
 * Prints one table of tfjs-wasm training steps and inference, BEFORE and AFTER the wasm training
 * work, side by side in this one invocation, against PyTorch CPU (2 threads):
 * - before: the original code path — tf-op layers with tfjs autograd (`impl: 'reference'`),
 *   slice+concat im2col filter gradient, composite reflect-pad adjoint, copying Identity
 *   (`setTrainingKernelImpl('legacy')`);
 * - after: fused layers with hand-written backward passes (`impl: 'fused'`, the default) on the
 *   in-place heap kernels (`'heap'`, the default);
 * - after + ckpt: the same with ResBlock gradient checkpointing (`checkpoint: true`).
 * Stand-in loss (no CLIP encoder here): pixel MSE(out, in) + RAVE loss on a per-channel-mean
 * "embedding" with a fixed random unit vector — the same in PyTorch.
 *
 * Memory is the peak of live tensor bytes on the wasm heap during the step (malloc/free of the
 * backend tracked), i.e. what must fit in wasm's 4 GB. (The earlier bench printed tf.profile's
 * peakBytes, which counts every alias/clone of a buffer again: 1565 MB there vs 1330 MB live for
 * the same 256² step.)
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels, setTrainingKernelImpl } from '../src/ml/kernels/wasmTraining';
import { enhanceFast, enhanceTiled } from '../src/ml/enhancer/inference';
import { EnhancerNet, type EnhanceResult, type ForwardOptions } from '../src/ml/enhancer/network';
import { trainStep } from '../src/ml/enhancer/train';
import { raveLoss } from '../src/ml/losses';
import { readPth } from '../src/ml/pth';
import sharp from 'sharp';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sharedDataDir = path.resolve(root, '../shared/data');
const quick = process.argv.includes('--quick');
const withCpu = process.argv.includes('--with-cpu');

type Variant = 'before' | 'after' | 'ckpt';
const VARIANTS: Variant[] = ['before', 'after', 'ckpt'];
interface Cell { ms: number; cpuMs: number; peakMB: number; note?: string }
interface Row { size: number; batch: number; cells: Partial<Record<Variant, Cell | string>>; torch?: number }

// What runs (full mode). A string instead of a micro-batch size means "not run", with the reason.
// before at 256² batch 1 holds 1.33 GB live; 512² (×4) and 256² batch 4 in one pass do not fit
// the 4 GB heap, and the old micro-batched path costs ≈ batch × the batch-1 step.
const PLAN: { size: number; batch: number; run: Partial<Record<Variant, number | string>>; quick?: boolean }[] = [
  { size: 128, batch: 1, run: { before: 1, after: 1, ckpt: 1 }, quick: true },
  { size: 256, batch: 1, run: { before: 1, after: 1, ckpt: 1 }, quick: true },
  { size: 512, batch: 1, run: { before: 'does not fit: ≈5.3 GB live (4× the 256² step) > 4 GB wasm heap', after: 1, ckpt: 1 } },
  { size: 128, batch: 4, run: { before: 4, after: 4 }, quick: true },
  { size: 256, batch: 4, run: { before: 'not run: one pass does not fit; 4 micro-batches ≈ 4× the batch-1 step', after: 4 } },
  { size: 512, batch: 4, run: { before: 'does not fit', after: 2 } },
];

const R_UNIT = [0.3, -0.5, 0.8].map((v, _, a) => v / Math.hypot(...a));
const standInLoss = (res: EnhanceResult, input: tf.Tensor4D): tf.Scalar => tf.tidy(() => {
  const r = tf.tensor1d(R_UNIT);
  const m = tf.mean(res.out, [1, 2]) as tf.Tensor2D;
  const emb = tf.div(m, tf.norm(m, 'euclidean', 1, true)) as tf.Tensor2D;
  return tf.add(raveLoss(emb, r, 0.5), tf.mean(tf.squaredDifference(res.out, input))) as tf.Scalar;
});

const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Live tensor bytes on the wasm heap: wraps the emscripten module's malloc/free used by the backend. */
function trackWasmHeap() {
  const m = (tf.backend() as unknown as { wasm: Record<string, unknown> & { asm?: Record<string, (...a: number[]) => number>; HEAPU8: Uint8Array } }).wasm;
  const malloc = (m.asm?.malloc ?? m._malloc) as (n: number) => number;
  const free = (m.asm?.free ?? m._free) as (p: number) => number;
  const sizes = new Map<number, number>();
  let live = 0;
  let peak = 0;
  m._malloc = (n: number) => {
    const p = malloc(n);
    sizes.set(p >>> 0, n);
    live += n;
    if (live > peak) peak = live;
    return p;
  };
  m._free = (p: number) => {
    const n = sizes.get(p >>> 0);
    if (n !== undefined) {
      live -= n;
      sizes.delete(p >>> 0);
    }
    return free(p);
  };
  return {
    /** Start a measurement; returns a function giving the peak live MB above the start level. */
    start: () => {
      const base = live;
      peak = live;
      return () => (peak - base) / 2 ** 20;
    },
    heapMB: () => m.HEAPU8.length / 2 ** 20,
  };
}
let heap: ReturnType<typeof trackWasmHeap>;

function useVariant(v: Variant): Pick<ForwardOptions, 'impl' | 'checkpoint'> {
  setTrainingKernelImpl(v === 'before' ? 'legacy' : 'heap');
  return { impl: v === 'before' ? 'reference' : 'fused', checkpoint: v === 'ckpt' };
}

function timeTrain(size: number, batch: number, microBatch: number, v: Variant): Cell {
  const fo = useVariant(v);
  const net = EnhancerNet.create(0);
  const opt = tf.train.adam(2e-5);
  const o = { weightDecay: 1e-3, microBatch: microBatch < batch ? microBatch : undefined, ...fo };
  // Warm-up on a small crop: creates Adam's slots and the kernels' first-use state.
  const warm = tf.randomUniform([1, 64, 64, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
  trainStep(net, opt, warm, standInLoss, o);
  warm.dispose();
  const x = tf.randomUniform([batch, size, size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const iters = size <= 128 && batch === 1 ? 2 : 1;
  const peak = heap.start();
  const c0 = cpuNow();
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) trainStep(net, opt, x, standInLoss, o);
  const ms = (performance.now() - t0) / iters;
  const cpuMs = (cpuNow() - c0) / iters;
  const peakMB = peak();
  tf.dispose(x);
  opt.dispose();
  net.dispose();
  console.error(`  done: train ${size}² batch ${batch} ${v}: ${ms.toFixed(0)} ms/step (cpu ${cpuMs.toFixed(0)}), peak ${peakMB.toFixed(0)} MB`);
  return { ms, cpuMs, peakMB, note: o.microBatch ? `${batch / microBatch}×${microBatch} micro-batches` : undefined };
}

async function main(): Promise<void> {
  const t00 = performance.now();
  setWasmPaths(path.join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist/'));
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  heap = trackWasmHeap();

  const rows: Row[] = [];
  for (const p of PLAN) {
    if (quick && !p.quick) continue;
    const row: Row = { size: p.size, batch: p.batch, cells: {} };
    for (const v of VARIANTS) {
      const r = p.run[v];
      if (r === undefined) continue;
      row.cells[v] = typeof r === 'string' ? r : timeTrain(p.size, p.batch, r, v);
    }
    rows.push(row);
  }

  // Inference: released RAVE weights on a 512×512 crop of a real backlit photo (0.26 MP).
  const { data, info } = await sharp(path.join(sharedDataDir, 'images/backlit/backlit_cliplit_30374039626_355dca2192_o.jpg'))
    .extract({ left: 600, top: 400, width: 512, height: 512 }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const img = tf.tidy(() => tf.div(tf.tensor4d(new Uint8Array(data), [1, info.height, info.width, 3], 'int32'), 255)) as tf.Tensor4D;
  const net = EnhancerNet.fromStateDict(readPth(readFileSync(path.join(sharedDataDir, 'rave-weights/rave_unpaired.pth'))));
  const mp = (512 * 512) / 1e6;
  // One timed call each (kernels and heap are warm from the training rows); the result is kept
  // for the accuracy columns.
  const infer = (f: () => EnhanceResult): [Cell, EnhanceResult] => {
    const peak = heap.start();
    const c0 = cpuNow();
    const t0 = performance.now();
    const res = f();
    res.out.dataSync();
    return [{ ms: (performance.now() - t0) / mp, cpuMs: (cpuNow() - c0) / mp, peakMB: peak() }, res];
  };
  const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
  interface InferRow { what: string; before?: Cell; after: Cell; note?: string; torch?: number }
  const inferRows: InferRow[] = [];
  useVariant('before');
  const [fullBefore, refBefore] = infer(() => net.forward(img, { padMode: 'reflect', impl: 'reference' }));
  useVariant('after');
  const [fullAfter, fullRef] = infer(() => net.forward(img, { padMode: 'reflect' }));
  inferRows.push({ what: 'infer full-res', before: fullBefore, after: fullAfter, note: `max |after − before| = ${maxDiff(fullRef.out, refBefore.out).toExponential(1)}` });
  tf.dispose([refBefore.L, refBefore.out]);
  for (const f of [2, 4]) {
    const [c, res] = infer(() => enhanceFast(net, img, { factor: f }));
    const psnr = tf.tidy(() => 10 * Math.log10(1 / tf.mean(tf.square(tf.sub(res.out, fullRef.out))).dataSync()[0]));
    tf.dispose([res.L, res.out]);
    inferRows.push({ what: `infer fast (L at 1/${f})`, after: c, note: `${(fullAfter.ms / c.ms).toFixed(1)}× faster than full-res, PSNR vs full ${psnr.toFixed(1)} dB` });
  }
  const [tiled, tiledRes] = infer(() => enhanceTiled(net, img, { tile: 256 }));
  inferRows.push({ what: 'infer tiled (256 px tiles, halo 24)', after: tiled, note: `max |tiled − full| = ${maxDiff(tiledRes.out, fullRef.out).toExponential(1)}` });
  tf.dispose([tiledRes.L, tiledRes.out, fullRef.L, fullRef.out]);
  tf.dispose(img);
  net.dispose();
  const heapMB = heap.heapMB();

  let cpuRow: Cell | null = null;
  if (withCpu) {
    await tf.setBackend('cpu');
    const c0 = cpuNow();
    const t0 = performance.now();
    const cnet = EnhancerNet.create(0);
    const copt = tf.train.adam(2e-5);
    const x = tf.randomUniform([1, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    trainStep(cnet, copt, x, standInLoss, { weightDecay: 1e-3 });
    cpuRow = { ms: performance.now() - t0, cpuMs: cpuNow() - c0, peakMB: NaN };
    tf.dispose(x);
    copt.dispose();
    cnet.dispose();
  }

  // PyTorch, same network and loss, 2 threads (its script runs one warm-up step per config).
  const torchCfg = rows.filter((r) => r.size * r.size * r.batch <= 512 * 512).map((r) => `${r.size}:${r.batch}:1`);
  if (cpuRow) torchCfg.push('32:1:1');
  const py = spawnSync('/usr/bin/python3', [path.join(root, 'tools/reference/enhancer_reference.py'), '--bench', ...torchCfg], { encoding: 'utf8', timeout: 240_000 });
  let torchRows: { size?: number; batch?: number; train_ms?: number; ms_per_mp?: number }[] = [];
  let torchNote = '';
  if (py.status === 0) torchRows = JSON.parse(py.stdout.trim().split('\n').pop() ?? '[]');
  else torchNote = `# PyTorch reference unavailable (${py.error?.message ?? py.stderr.trim().split('\n').pop()}); ratio column empty.`;
  for (const row of rows) row.torch = torchRows.find((t) => t.size === row.size && t.batch === row.batch)?.train_ms;
  inferRows[0].torch = torchRows.find((t) => t.ms_per_mp !== undefined)?.ms_per_mp;

  const fmt = (v: number | undefined, d = 0) => (v === undefined || Number.isNaN(v) ? '—' : v.toFixed(d));
  const cell = (c: Cell | string | undefined) => (c === undefined ? '—' : typeof c === 'string' ? c : `${fmt(c.ms)} (cpu ${fmt(c.cpuMs)})`);
  const mem = (c: Cell | string | undefined) => (c && typeof c !== 'string' ? fmt(c.peakMB) : '—');
  const ms = (c: Cell | string | undefined) => (c && typeof c !== 'string' ? c.ms : undefined);
  console.log('# Enhancer bench (CLIP-LIT/RAVE network, 278,790 params), tfjs-wasm (single-threaded XNNPACK in Node) vs PyTorch CPU');
  console.log('# Stand-in loss: MSE(out,in) + RAVE loss on per-channel-mean embedding (no CLIP encoder in this bench).');
  console.log(`# Node ${process.version}, ${quick ? 'quick mode' : 'full mode'}; PyTorch CPU with torch.set_num_threads(2); 2-core machine: wall times are noisy when other jobs run — the "cpu" figure (process CPU time) is the load-independent one.`);
  console.log('# before = original path (tf-op layers + tfjs autograd, slice/concat im2col, copying Identity); after = fused layers + heap kernels (default); ckpt = after + ResBlock checkpointing.');
  console.log(`# Peak = max live tensor bytes on the wasm heap during the step; wasm heap high-water of this process: ${fmt(heapMB)} MB.`);
  if (torchNote) console.log(torchNote);
  console.log('');
  console.log('| train step (wasm) | before ms/step | after ms/step | after + ckpt ms/step | speed-up | PyTorch CPU 2T | after / PyTorch | peak MB before / after / ckpt | note |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const b = ms(r.cells.before);
    const a = ms(r.cells.after);
    const speed = b && a ? `${(b / a).toFixed(1)}×` : '—';
    const ratio = a && r.torch ? `${(a / r.torch).toFixed(1)}×` : '—';
    const notes = VARIANTS.map((v) => { const c = r.cells[v]; return c && typeof c !== 'string' && c.note ? `${v}: ${c.note}` : ''; }).filter(Boolean).join('; ');
    console.log(`| ${r.size}² batch ${r.batch} | ${cell(r.cells.before)} | ${cell(r.cells.after)} | ${cell(r.cells.ckpt)} | ${speed} | ${fmt(r.torch)} | ${ratio} | ${mem(r.cells.before)} / ${mem(r.cells.after)} / ${mem(r.cells.ckpt)} | ${notes} |`);
  }
  console.log('');
  console.log('| inference (wasm, 512² crop) | before ms/MP | after ms/MP | speed-up | PyTorch CPU 2T ms/MP | after / PyTorch | peak MB before / after | note |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of inferRows) {
    const speed = r.before ? `${(r.before.ms / r.after.ms).toFixed(1)}×` : '—';
    const ratio = r.torch ? `${(r.after.ms / r.torch).toFixed(1)}×` : '—';
    console.log(`| ${r.what} | ${cell(r.before)} | ${cell(r.after)} | ${speed} | ${fmt(r.torch)} | ${ratio} | ${mem(r.before)} / ${mem(r.after)} | ${r.note ?? ''} |`);
  }
  if (cpuRow) {
    const t = torchRows.find((x) => x.size === 32 && x.batch === 1)?.train_ms;
    console.log('');
    console.log(`cpu backend, train 32² batch 1 (default fused path): ${fmt(cpuRow.ms)} ms/step (cpu ${fmt(cpuRow.cpuMs)}); PyTorch ${fmt(t)} ms — the cpu backend is for tests only.`);
  } else {
    console.log('');
    console.log('(cpu backend row skipped — pass --with-cpu; it is ~25× slower than PyTorch and only meant for tests.)');
  }
  console.log(`# bench wall time ${((performance.now() - t00) / 1000).toFixed(0)} s`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
