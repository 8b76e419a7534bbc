/**
 * Enhancer training/inference benchmark: `npx tsx bench/train.ts [--quick]`.
 * Prints a table of tfjs (wasm, cpu) training steps and inference vs PyTorch CPU (2 threads),
 * all measured in this one invocation. Stand-in loss (no CLIP encoder here): pixel MSE(out, in) +
 * RAVE loss on a per-channel-mean "embedding" with a fixed random unit vector — the same in both.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../src/ml/kernels/wasmTraining';
import { enhanceFast, enhanceTiled } from '../src/ml/enhancer/inference';
import { EnhancerNet, type EnhanceResult } from '../src/ml/enhancer/network';
import { trainStep } from '../src/ml/enhancer/train';
import { raveLoss } from '../src/ml/losses';
import { readPth } from '../src/ml/pth';
import sharp from 'sharp';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sharedDataDir = path.resolve(root, '../shared/data');
const quick = process.argv.includes('--quick');

interface TrainCfg { size: number; batch: number; iters: number; microBatch?: number; warmup?: boolean }
// tfjs keeps every forward intermediate until backward ends: measured peak 1.56 GB for ONE 256²
// image and 3.4 GB at 384²; 512² (≈6 GB) and any full 256² batch 8 exceed wasm's 4 GB heap.
// Batch 8 therefore runs as 8 accumulated 1-image micro-batches (trainStep's microBatch).
const wasmTrain: TrainCfg[] = [{ size: 256, batch: 1, iters: 1 }, { size: 256, batch: 8, iters: 1, microBatch: 1, warmup: false }];
// cpu is ~40× slower than wasm on matMul here (STACK.md): one small step only.
const cpuTrain: TrainCfg[] = [{ size: 32, batch: 1, iters: 1, warmup: false }];

const R_UNIT = [0.3, -0.5, 0.8].map((v, _, a) => v / Math.hypot(...a));
const standInLoss = (res: EnhanceResult, input: tf.Tensor4D): tf.Scalar => tf.tidy(() => {
  const r = tf.tensor1d(R_UNIT);
  const m = tf.mean(res.out, [1, 2]) as tf.Tensor2D;
  const emb = tf.div(m, tf.norm(m, 'euclidean', 1, true)) as tf.Tensor2D;
  return tf.add(raveLoss(emb, r, 0.5), tf.mean(tf.squaredDifference(res.out, input))) as tf.Scalar;
});

interface Row { what: string; backend: string; value: number; unit: string; peakMB?: number; torch?: number; note?: string }
const rows: Row[] = [];

function timeTrain(backend: string, c: TrainCfg): void {
  const net = EnhancerNet.create(0);
  const opt = tf.train.adam(2e-5);
  const x = tf.randomUniform([c.batch, c.size, c.size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const o = { weightDecay: 1e-3, microBatch: c.microBatch };
  if (c.warmup !== false) trainStep(net, opt, x, standInLoss, o); // warm-up (kernels, Adam slots)
  const t0 = performance.now();
  for (let i = 0; i < c.iters; i++) trainStep(net, opt, x, standInLoss, o);
  const ms = (performance.now() - t0) / c.iters;
  const mbNote = c.microBatch ? `, as ${c.batch / c.microBatch}×${c.microBatch} accumulated micro-batches` : '';
  console.error(`  done: ${backend} train ${c.size}² batch ${c.batch}: ${ms.toFixed(0)} ms/step`);
  rows.push({ what: `train ${c.size}² batch ${c.batch}`, backend, value: ms, unit: 'ms/step', note: `${(1000 / ms).toFixed(3)} it/s${mbNote}` });
  tf.dispose(x);
  opt.dispose();
  net.dispose();
}

async function peakTrainMB(c: TrainCfg): Promise<number> {
  const net = EnhancerNet.create(0);
  const opt = tf.train.adam(2e-5);
  const x = tf.randomUniform([c.batch, c.size, c.size, 3]) as tf.Tensor4D;
  const info = await tf.profile(() => { trainStep(net, opt, x, standInLoss); });
  tf.dispose(x);
  opt.dispose();
  net.dispose();
  return info.peakBytes / 2 ** 20;
}

async function main(): Promise<void> {
  console.log('# Enhancer bench (CLIP-LIT/RAVE network, 278,790 params)');
  console.log('# Stand-in loss: MSE(out,in) + RAVE loss on per-channel-mean embedding (no CLIP encoder in this bench).');
  console.log(`# Node ${process.version}, ${quick ? 'quick mode' : 'full mode'}; PyTorch CPU with torch.set_num_threads(2); 2-core machine, timings are noisy when other jobs run.`);
  console.log('# Inference rows: released rave_unpaired.pth on a 512² crop of a real backlit photo; reflect padding.');

  setWasmPaths(path.join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist/'));
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  const wasmCfg = quick ? wasmTrain.slice(0, 1) : wasmTrain;
  for (const c of wasmCfg) {
    timeTrain('wasm', c);
    if (!c.microBatch) rows[rows.length - 1].peakMB = await peakTrainMB(c);
  }
  rows.push({ what: 'train 512² batch 1/8', backend: 'wasm', value: NaN, unit: 'ms/step', note: 'not possible: one 512² image needs ≈6 GB of taped activations > 4 GB wasm heap (needs gradient checkpointing)' });

  // Inference: released RAVE weights on a 512×512 crop of a real backlit photo (0.26 MP).
  const { data, info } = await sharp(path.join(sharedDataDir, 'images/backlit/backlit_cliplit_30374039626_355dca2192_o.jpg'))
    .extract({ left: 600, top: 400, width: 512, height: 512 }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const img = tf.tidy(() => tf.div(tf.tensor4d(new Uint8Array(data), [1, info.height, info.width, 3], 'int32'), 255)) as tf.Tensor4D;
  const net = EnhancerNet.fromStateDict(readPth(readFileSync(path.join(sharedDataDir, 'rave-weights/rave_unpaired.pth'))));
  const mp = (512 * 512) / 1e6;
  const infer = (name: string, f: () => EnhanceResult) => {
    tf.dispose(Object.values(f()));
    const t0 = performance.now();
    const res = f();
    res.out.dataSync();
    const ms = performance.now() - t0;
    tf.dispose([res.L, res.out]);
    return { name, ms };
  };
  const full = infer('infer full-res', () => net.forward(img, { padMode: 'reflect' }));
  rows.push({ what: full.name, backend: 'wasm', value: full.ms / mp, unit: 'ms/MP' });
  const fullRef = net.forward(img, { padMode: 'reflect' });
  for (const f of [2, 4]) {
    const fast = infer(`infer fast (L at 1/${f})`, () => enhanceFast(net, img, { factor: f }));
    const res = enhanceFast(net, img, { factor: f });
    const psnr = tf.tidy(() => 10 * Math.log10(1 / tf.mean(tf.square(tf.sub(res.out, fullRef.out))).dataSync()[0]));
    tf.dispose([res.L, res.out]);
    rows.push({ what: fast.name, backend: 'wasm', value: fast.ms / mp, unit: 'ms/MP', note: `${(full.ms / fast.ms).toFixed(1)}× faster, PSNR vs full ${psnr.toFixed(1)} dB` });
  }
  const tiled = infer('infer tiled (256 px tiles, halo 24)', () => enhanceTiled(net, img, { tile: 256 }));
  const tiledRes = enhanceTiled(net, img, { tile: 256 });
  const seam = tf.tidy(() => tf.max(tf.abs(tf.sub(tiledRes.out, fullRef.out))).dataSync()[0]);
  tf.dispose([tiledRes.L, tiledRes.out, fullRef.L, fullRef.out]);
  rows.push({ what: tiled.name, backend: 'wasm', value: tiled.ms / mp, unit: 'ms/MP', note: `max |tiled − full| = ${seam.toExponential(1)}` });
  tf.dispose(img);
  net.dispose();

  await tf.setBackend('cpu');
  for (const c of cpuTrain) timeTrain('cpu', c);
  rows.push({ what: 'train 256²/512²', backend: 'cpu', value: NaN, unit: 'ms/step', note: 'skipped: cpu backend is ~40× slower than wasm on GEMM; see 32² row' });

  // PyTorch, same network and loss, 2 threads.
  const cfgArgs = [...wasmCfg, ...cpuTrain].map((c) => `${c.size}:${c.batch}:${Math.max(1, c.iters)}`);
  const py = spawnSync('/usr/bin/python3', [path.join(root, 'tools/reference/enhancer_reference.py'), '--bench', ...cfgArgs], { encoding: 'utf8', timeout: 240_000 });
  let torchRows: { size?: number; batch?: number; train_ms?: number; ms_per_mp?: number }[] = [];
  if (py.status === 0) torchRows = JSON.parse(py.stdout.trim().split('\n').pop() ?? '[]');
  else console.log(`# PyTorch reference unavailable (${py.error?.message ?? py.stderr.trim().split('\n').pop()}); ratio column empty.`);
  for (const row of rows) {
    const m = /^train (\d+)² batch (\d+)$/.exec(row.what);
    if (m) row.torch = torchRows.find((t) => t.size === +m[1] && t.batch === +m[2])?.train_ms;
    if (row.what === 'infer full-res') row.torch = torchRows.find((t) => t.ms_per_mp !== undefined)?.ms_per_mp;
  }

  const fmt = (v: number | undefined, d = 0) => (v === undefined || Number.isNaN(v) ? '—' : v.toFixed(d));
  console.log('');
  console.log('| measurement | backend | tfjs | unit | peak tf.memory (MB) | PyTorch CPU 2T | tfjs / PyTorch | note |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const row of rows) {
    const ratio = row.torch && !Number.isNaN(row.value) ? (row.value / row.torch).toFixed(1) + '×' : '—';
    console.log(`| ${row.what} | ${row.backend} | ${fmt(row.value)} | ${row.unit} | ${fmt(row.peakMB)} | ${fmt(row.torch)} | ${ratio} | ${row.note ?? ''} |`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
