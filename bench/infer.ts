/**
 * Enhance inference, three engines on the same network under the same conditions:
 *
 *   npx tsx bench/infer.ts [--rounds R] [--threads 2] [--tasks full512,tiled4000x3000] [--engines tfjs,onnx,torch]
 *
 * - tfjs: tfjs-backend-wasm (XNNPACK, SIMD, `--threads` worker_threads via src/cli/wasmThreads.ts);
 *   full = net.forward, tiled = enhanceTiled (tile 512, halo 24, two exact passes).
 * - onnx: onnxruntime-node on the graphs src/ml/onnx/export.ts builds from the same EnhancerNet
 *   (intraOpNumThreads = threads); full = the 'full' graph, tiled = the same two-pass tiling.
 * - torch: PyTorch CPU (bench/torch_bench.py on tools/reference/enhancer_reference.py,
 *   torch.set_num_threads); full = net(x); tiled = the same tiles and passes (pass 2 pools per tile:
 *   the same work, not our exact global context).
 *
 * Every measurement is a fresh child process per (engine, task), so peak RSS (getrusage maxrss) is
 * that task's. Engines alternate in order between rounds. Each child reports wall ms, process CPU
 * ms (all threads) and the CPU share other processes took meanwhile (/proc/stat); the table shows,
 * per engine, the least-loaded round. Weights: EnhancerNet.create(0) (random; speed does not
 * depend on the values) — the equality of the engines is src/ml/onnx/export.test.ts's job.
 */
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { configureWasmThreads, wasmThreadsInUse } from '../src/cli/wasmThreads';
import { EnhancerNet } from '../src/ml/enhancer/network';
import { enhanceTiled } from '../src/ml/enhancer/inference';
import { OnnxEnhancer } from '../src/ml/onnx/runtime';
import { runChild } from './child';

const self = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(self), '..');
const argv = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};

interface Measure { wallMs: number; cpuMs: number; othersShare: number; peakRssMB: number; loadavg?: number }

function busyJiffies(): number {
  const v = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  return v.reduce((a, b) => a + b, 0) - v[3] - v[4];
}
const HZ = 100; // USER_HZ on Linux
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function measure(fn: () => Promise<void>): Promise<Omit<Measure, 'peakRssMB'>> {
  const b0 = busyJiffies();
  const c0 = cpuNow();
  const t0 = performance.now();
  await fn();
  const wall = performance.now() - t0;
  const cpu = cpuNow() - c0;
  const busy = ((busyJiffies() - b0) * 1000) / HZ;
  return { wallMs: wall, cpuMs: cpu, othersShare: Math.max(0, (busy - cpu) / (wall * os.cpus().length)), loadavg: os.loadavg()[0] };
}

function parseTask(name: string): { mode: 'full' | 'tiled'; H: number; W: number } {
  const m = /^(full|tiled)(\d+)(?:x(\d+))?$/.exec(name);
  if (!m) throw new Error(`unknown task ${name} (fullS, fullWxH, tiledWxH)`);
  const W = Number(m[2]);
  return { mode: m[1] as 'full' | 'tiled', W, H: m[3] ? Number(m[3]) : W };
}

async function child(engine: string, task: string, threads: number): Promise<void> {
  const { mode, H, W } = parseTask(task);
  const net = EnhancerNet.create(0);
  const x = tf.randomUniform([1, H, W, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const warm = tf.randomUniform([1, 512, 512, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
  let run: () => Promise<void>;
  let used = threads;
  if (engine === 'tfjs') {
    used = wasmThreadsInUse() ?? -1;
    const once = (img: tf.Tensor4D) => {
      const r = mode === 'full' ? net.forward(img, { padMode: 'reflect' }) : enhanceTiled(net, img, { tile: 512, halo: 24 });
      r.out.dataSync();
      tf.dispose([r.L, r.out]);
    };
    once(warm); // kernels' first use, heap growth
    run = async () => once(x);
  } else {
    const onnx = await OnnxEnhancer.create(net, { threads, memArena: process.env.ORT_ARENA !== '0', memPattern: process.env.ORT_MEMPATTERN === '1' });
    const once = async (img: tf.Tensor4D) => {
      const r = await onnx.enhance(img, { mode, tile: 512, halo: 24 });
      r.out.dataSync();
      tf.dispose([r.L, r.out]);
    };
    await once(warm); // session creation and graph optimisation
    run = () => once(x);
  }
  warm.dispose();
  const m = await measure(run);
  const peakRssMB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`${JSON.stringify({ threads: used, tasks: { [task]: { ...m, peakRssMB } } })}\n`);
}

interface ChildResult { threads: number; tasks: Record<string, Measure> }


async function driver(): Promise<void> {
  const t00 = performance.now();
  const threads = Number(arg('--threads') ?? 2);
  const rounds = Number(arg('--rounds') ?? 1);
  const tasks = (arg('--tasks') ?? 'full512,tiled4000x3000').split(',');
  const engines = (arg('--engines') ?? 'tfjs,onnx,torch').split(',');
  const runs = new Map<string, Measure[]>(); // `${engine}|${task}`
  const errors: string[] = [];
  const start = (engine: string, task: string): ChildResult | string => {
    if (engine === 'torch') return runChild<ChildResult>('/usr/bin/python3', [path.join(root, 'bench/torch_bench.py'), '--threads', String(threads), task], 1_800_000);
    const node = [...process.execArgv, self, '--child', engine, '--task', task, '--threads', String(threads)];
    return runChild<ChildResult>(process.execPath, node, 1_800_000);
  };
  for (let r = 0; r < rounds; r++) {
    for (const task of tasks) {
      const order = r % 2 ? [...engines].reverse() : engines;
      for (const e of order) {
        const res = start(e, task);
        const m = typeof res === 'string' ? undefined : res.tasks[task];
        console.error(`  round ${r + 1}/${rounds} ${task} ${e}: ${m ? `${(m.wallMs / 1000).toFixed(2)} s (cpu ${(m.cpuMs / 1000).toFixed(2)} s, others ${(100 * m.othersShare).toFixed(0)} %, load ${m.loadavg?.toFixed(1) ?? '?'}, rss ${m.peakRssMB.toFixed(0)} MB)` : `failed: ${String(res)}`}`);
        if (!m) errors.push(`${e} ${task}: ${String(res)}`);
        else runs.set(`${e}|${task}`, [...(runs.get(`${e}|${task}`) ?? []), m]);
      }
    }
  }
  const best = (ms: Measure[] | undefined) => ms?.reduce((a, b) => (b.othersShare < a.othersShare - 0.02 || (Math.abs(b.othersShare - a.othersShare) <= 0.02 && b.wallMs < a.wallMs) ? b : a));
  const label: Record<string, string> = { tfjs: 'tfjs-wasm', onnx: 'onnxruntime-node', torch: 'PyTorch CPU' };
  console.log(`# Enhance inference: ${engines.map((e) => label[e] ?? e).join(' vs ')}, ${threads} thread(s) each, same network (random init); Node ${process.version}, ${os.cpus().length} cores, ${rounds} round(s), engines alternating; per engine the least-loaded round.`);
  console.log('# cpu = process CPU time (all threads); others = share of the machine\'s CPU other processes used meanwhile (above ~20 % wall times are inflated); load = 1-min load average at the end.');
  for (const e of errors) console.log(`# failed: ${e}`);
  console.log('');
  console.log('| task | engine | wall s/MP | cpu s/MP | vs PyTorch (wall) | vs PyTorch (cpu) | peak RSS MB | others | load |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const task of tasks) {
    const { mode, H, W } = parseTask(task);
    const mp = (H * W) / 1e6;
    const ref = best(runs.get(`torch|${task}`));
    for (const e of engines) {
      const m = best(runs.get(`${e}|${task}`));
      if (!m) continue;
      const ratio = (a: number, b?: number) => (b ? (a <= b ? `${(b / a).toFixed(2)}× faster` : `${(a / b).toFixed(2)}× slower`) : '—');
      console.log(`| Enhance ${mode} ${W}×${H} (${mp.toFixed(2)} MP) | ${label[e] ?? e} | ${(m.wallMs / 1000 / mp).toFixed(2)} (${(m.wallMs / 1000).toFixed(1)} s) | ${(m.cpuMs / 1000 / mp).toFixed(2)} | ${e === 'torch' ? '1' : ratio(m.wallMs, ref?.wallMs)} | ${e === 'torch' ? '1' : ratio(m.cpuMs, ref?.cpuMs)} | ${m.peakRssMB.toFixed(0)} | ${Math.round(100 * m.othersShare)} % | ${m.loadavg?.toFixed(1) ?? '?'} |`);
    }
  }
  console.log('');
  console.log(`# bench wall time ${((performance.now() - t00) / 1000).toFixed(0)} s`);
}

async function main(): Promise<void> {
  if (!argv.includes('--child')) return driver();
  const engine = arg('--child') ?? 'tfjs';
  const threads = Number(arg('--threads') ?? 2);
  // As in the CLI: tfjs on wasm holds the image and computes I/L; onnx runs the network.
  configureWasmThreads(threads);
  await tf.setBackend('wasm');
  return child(engine, arg('--task') ?? 'full512', threads);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
