/**
 * Memory over a long training run on a tfjs backend (issue #10: "tf.memory() flat over 100 steps on
 * webgpu; peak GPU memory reported"). Runs the product's trainer (trainEnhancer: reconstruction
 * warm-up, then RAVE guidance with the offline stats encoder + identity loss, async loss reads) and
 * samples tf.memory() after every step.
 *
 *   npx tsx bench/webgpu-memory.ts [--backend webgpu|wasm|cpu] [--steps 100] [--size 16] [--batch 1] [--json out.json]
 *
 * Without a GPU, webgpu runs on SwiftShader (Dawn's Vulkan on the CPU): ~3–6 s a step at 16², so the
 * default 100 steps take several minutes — too slow for `npm test`, which checks 5 steps
 * (test/integration/webgpu-training.test.ts). Exit code 1 when memory is not flat after step 2.
 *
 * "GPU bytes" are tfjs-backend-webgpu's own counters: numBytesInGPU (buffers held by live tensors)
 * and numBytesAllocatedInGPU (everything its buffer manager holds, free-list included: what the
 * process really has on the device, minus Dawn's own pipelines and staging).
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { prepareWebGPU } from '../src/cli/webgpu';
import { useBackend, type BackendName } from '../src/ml/backend';
import { StatsEncoder } from '../src/ml/encoders/stats';
import { EnhancerNet } from '../src/ml/enhancer/network';
import { residualGuidance } from '../src/ml/training/guidance';
import { trainEnhancer } from '../src/ml/training/enhancerTraining';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const backend = arg('backend', 'webgpu') as BackendName;
const steps = Number(arg('steps', '100'));
const size = Number(arg('size', '16'));
const batch = Number(arg('batch', '1'));
const WARMUP = 2;

interface Sample {
  step: number;
  numTensors: number;
  numBytes: number;
  gpuBytes?: number;
  gpuAllocated?: number;
  loss: number;
  ms: number;
}

/** Seeded images: dark ("backlit") and bright sets, so the residual vector means something. */
function images(n: number, level: number, seed: number): tf.Tensor3D[] {
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return Array.from({ length: n }, () => tf.tensor3d(Float32Array.from({ length: 40 * 48 * 3 }, () => Math.min(1, level * (0.3 + rnd()))), [40, 48, 3]));
}

async function main() {
  if (backend === 'webgpu') {
    const gpu = await prepareWebGPU();
    if (!gpu.ok) throw new Error(gpu.error);
    console.log(`adapter: ${gpu.adapter.vendor} ${gpu.adapter.architecture}${gpu.adapter.software ? ' (software)' : ''}`);
  }
  await useBackend(backend, { wasmDir: path.resolve('node_modules/@tensorflow/tfjs-backend-wasm/dist') + '/' });

  const encoder = new StatsEncoder();
  const backlit = images(4, 0.25, 1);
  const wellLit = images(4, 0.8, 2);
  // r = unit(v+ − v−), thr = <unit(v+), r>, gap = thr − <unit(v−), r> (as the Residual Vector node's mean projection).
  const [r, proj] = tf.tidy(() => {
    const vPos = tf.mean(encoder.encodeImages(tf.stack(wellLit) as tf.Tensor4D, 'dataset'), 0);
    const vNeg = tf.mean(encoder.encodeImages(tf.stack(backlit) as tf.Tensor4D, 'dataset'), 0);
    const d = tf.sub(vPos, vNeg);
    const rr = tf.div(d, tf.norm(d)) as tf.Tensor1D;
    return [rr, tf.stack([tf.sum(tf.mul(tf.div(vPos, tf.norm(vPos)), rr)), tf.sum(tf.mul(tf.div(vNeg, tf.norm(vNeg)), rr))])];
  });
  const [thr, thrNeg] = await proj.data(); // async: webgpu in Node cannot read synchronously
  proj.dispose();
  const gap = thr - thrNeg;
  const guidance = residualGuidance(r, thr, encoder.space, gap);
  const net = EnhancerNet.create(1);

  const samples: Sample[] = [];
  let t0 = performance.now();
  const start = performance.now();
  const result = await trainEnhancer(
    net,
    encoder,
    guidance,
    { inputs: backlit },
    { iterations: steps, warmupIterations: WARMUP, lr: 1e-3, weightDecay: 1e-3, batchSize: batch, imageSize: size, guidanceWeight: 20, identityWeight: 22.5, pixelWeight: 0, augment: true, seed: 1, checkpointEvery: 0, microBatch: 1, highlightWeight: 100, lrSchedule: 'cosine' },
    {
      onStep(step, _total, metrics) {
        const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number; numBytesAllocatedInGPU?: number };
        const now = performance.now();
        samples.push({ step, numTensors: m.numTensors, numBytes: m.numBytes, gpuBytes: m.numBytesInGPU, gpuAllocated: m.numBytesAllocatedInGPU, loss: metrics.loss, ms: now - t0 });
        t0 = now;
        if (step % 10 === 0 || step <= 3) console.log(`step ${step}: tensors ${m.numTensors}, bytes ${m.numBytes}${m.numBytesInGPU !== undefined ? `, GPU ${m.numBytesInGPU} in use / ${m.numBytesAllocatedInGPU} allocated` : ''}, loss ${metrics.loss.toFixed(4)}`);
      },
    },
  );
  const totalS = (performance.now() - start) / 1000;

  // Steady state from step 3 on (steps 1–2 create Adam's moments and the async-read pipeline).
  const steady = samples.filter((s) => s.step > 2);
  const ref = samples.find((s) => s.step === 3) ?? samples[samples.length - 1];
  const flat = steady.every((s) => s.numTensors === ref.numTensors && s.numBytes === ref.numBytes);
  const peak = (k: 'gpuBytes' | 'gpuAllocated') => Math.max(...samples.map((s) => s[k] ?? 0));
  const ms = steady.map((s) => s.ms).sort((a, b) => a - b);
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
  const rows: Array<[string, string]> = [
    ['backend', backend],
    ['steps (size, batch)', `${result.steps} (${size}², ${batch})`],
    ['wall time', `${totalS.toFixed(1)} s (median step ${ms[ms.length >> 1]?.toFixed(0)} ms)`],
    ['tf.memory() after step 2', `${ref.numTensors} tensors, ${mib(ref.numBytes)}`],
    [`tf.memory() after step ${samples[samples.length - 1].step}`, `${samples[samples.length - 1].numTensors} tensors, ${mib(samples[samples.length - 1].numBytes)}`],
    ['flat after step 2', flat ? 'yes' : `NO (tensors ${Math.min(...steady.map((s) => s.numTensors))}–${Math.max(...steady.map((s) => s.numTensors))})`],
  ];
  if (samples.some((s) => s.gpuBytes !== undefined)) {
    rows.push(['peak GPU bytes in use (numBytesInGPU)', mib(peak('gpuBytes'))]);
    rows.push(['peak GPU bytes allocated (numBytesAllocatedInGPU)', mib(peak('gpuAllocated'))]);
    rows.push(['GPU allocated: step 3 → last', `${mib(ref.gpuAllocated ?? 0)} → ${mib(samples[samples.length - 1].gpuAllocated ?? 0)}`]);
  }
  rows.push(['guided loss: step 3 → last', `${ref.loss.toFixed(4)} → ${samples[samples.length - 1].loss.toFixed(4)}`]);
  const w = Math.max(...rows.map(([k]) => k.length));
  console.log(`\n| ${'measure'.padEnd(w)} | value |\n|${'-'.repeat(w + 2)}|-------|`);
  for (const [k, v] of rows) console.log(`| ${k.padEnd(w)} | ${v} |`);
  const out = arg('json', '');
  if (out) writeFileSync(out, JSON.stringify({ backend, size, batch, steps: result.steps, totalS, flat, samples }, null, 1));

  net.dispose();
  encoder.dispose();
  tf.dispose([r, ...backlit, ...wellLit]);
  process.exitCode = flat ? 0 : 1;
}

main().catch((err) => {
  console.error((err as Error).message);
  process.exitCode = 2;
});
