/**
 * Tiny CLIP vision tower + projection: tfjs-wasm vs onnxruntime-node on the same weights, same
 * threads, alternating (bench/encode.ts has the same rows among many others; this is the short one).
 * Two ONNX graphs: `ort (our export)` = src/ml/onnx/clipExport.ts built from the loaded tfjs model
 * (what `backlit run --engine onnx` uses for Encode Images), and `ort (PyTorch export)` = the
 * reference tower of tools/reference (rows skipped when its .onnx is missing).
 *
 *   /usr/bin/python3 tools/reference/tiny_clip_onnx.py   # optional: writes tools/reference/out/tiny_clip_vision.onnx
 *   npx tsx bench/clipTower.ts [--threads 2] [--batch 8] [--seconds 3] [--rounds 2] [--model tiny|vit-b-32]
 *
 * --model vit-b-32: a ViT-B/32-shaped tower (HF defaults, 224², 12 layers × 768) with seeded random
 * weights (no real checkpoint here; speed depends on shapes only). No PyTorch-export rows then.
 *
 * Input: seeded pre-normalised NCHW [batch,3,16,16] pixels; tfjs includes the NCHW→NHWC transpose,
 * our export takes the NHWC copy (it transposes inside the graph). Reports images/s (wall) and
 * process CPU ms per image for each round.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { configureWasmThreads, wasmThreadsInUse } from '../src/cli/wasmThreads';
import { parseClipConfig } from '../src/ml/clip/config';
import { ClipEncoder } from '../src/ml/clip/encoder';
import { ClipModel } from '../src/ml/clip/model';
import { clipTensorSpecs } from '../src/ml/clip/weights';
import { maxAbsDiff, sharedDataDir } from '../src/ml/testing';
import { OnnxClipTower } from '../src/ml/onnx/clipRuntime';
import { loadOrt } from '../src/ml/onnx/runtime';

const argv = process.argv.slice(2);
const arg = (name: string, d: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : d;
};
const threads = Number(arg('--threads', '2'));
const batch = Number(arg('--batch', '8'));
const seconds = Number(arg('--seconds', '3'));
const rounds = Number(arg('--rounds', '2'));
const modelName = arg('--model', 'tiny');
const here = path.dirname(fileURLToPath(import.meta.url));
const onnxPath = path.resolve(here, '../tools/reference/out/tiny_clip_vision.onnx');

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function timeIt(run: () => Promise<void>): Promise<{ perSecond: number; cpuPerImageMs: number }> {
  await run();
  let n = 0;
  const c0 = cpuMs();
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    await run();
    n++;
  }
  const s = (performance.now() - t0) / 1000;
  return { perSecond: (n * batch) / s, cpuPerImageMs: (cpuMs() - c0) / (n * batch) };
}

async function main(): Promise<void> {
  configureWasmThreads(threads);
  await tf.setBackend('wasm');
  const tiny = path.join(sharedDataDir, 'tiny-clip');
  const clip = modelName === 'tiny'
    ? ClipEncoder.fromBytes({ config: readFileSync(path.join(tiny, 'config.json'), 'utf8'), weights: readFileSync(path.join(tiny, 'model.safetensors')) }, { name: 'tiny-clip' })
    : modelName === 'vit-b-32'
      ? syntheticVitB32()
      : (() => {
          throw new Error(`--model ${modelName}: use tiny or vit-b-32.`);
        })();
  const S = clip.config.vision.imageSize;
  const pixels = new Float32Array(batch * 3 * S * S);
  let seed = 7;
  for (let i = 0; i < pixels.length; i++) pixels[i] = ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 4 - 2;
  const nchw = tf.tensor4d(pixels, [batch, 3, S, S]);
  const tfjsRun = async () => {
    const e = tf.tidy(() => clip.model.vision(tf.transpose(nchw, [0, 2, 3, 1]) as tf.Tensor4D).embeds);
    await e.data();
    e.dispose();
  };
  const loaded = await loadOrt();
  if ('error' in loaded) throw new Error(`onnxruntime-node: ${loaded.error}`);
  const ort = loaded.ort;
  // Same weights, same answer (within float rounding) before timing.
  const ref = tf.tidy(() => clip.model.vision(tf.transpose(nchw, [0, 2, 3, 1]) as tf.Tensor4D).embeds).dataSync();
  const engines: [string, () => Promise<void>][] = [['tfjs-wasm', tfjsRun]];
  const notes: string[] = [];
  const ours = await OnnxClipTower.create(clip.model, { threads });
  const nhwc = tf.tidy(() => tf.transpose(nchw, [0, 2, 3, 1])).dataSync() as Float32Array;
  engines.push(['ort (our export)', async () => void (await ours.embeds(nhwc, batch))]);
  notes.push(`our export ${maxAbsDiff(ref, await ours.embeds(nhwc, batch)).toExponential(2)}`);
  let session: Awaited<ReturnType<typeof ort.InferenceSession.create>> | undefined;
  if (modelName === 'tiny' && existsSync(onnxPath)) {
    const s = await ort.InferenceSession.create(onnxPath, { intraOpNumThreads: threads, interOpNumThreads: 1 });
    session = s;
    const input = new ort.Tensor('float32', pixels, [batch, 3, S, S]);
    engines.push(['ort (PyTorch export)', async () => void (await s.run({ pixel_values: input }))]);
    notes.push(`PyTorch export ${maxAbsDiff(ref, (await s.run({ pixel_values: input })).image_embeds.data as Float32Array).toExponential(2)}`);
  } else notes.push(modelName === 'tiny' ? `PyTorch export skipped (${path.relative(process.cwd(), onnxPath)} missing)` : 'no PyTorch export of this model');

  console.log(`# ${clip.label} vision tower + projection, batch ${batch} × 3×${S}², ${threads} thread(s) (wasm reports ${wasmThreadsInUse() ?? '?'}); onnxruntime-node ${ort.env.versions.common}; max |tfjs − ort|: ${notes.join(', ')}`);
  console.log('| round | engine | images/s (wall) | CPU ms / image | vs tfjs (wall) |');
  console.log('|---|---|---|---|---|');
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [...engines].reverse() : engines;
    const res: Record<string, { perSecond: number; cpuPerImageMs: number }> = {};
    for (const [name, run] of order) res[name] = await timeIt(run);
    for (const [name] of order) console.log(`| ${r + 1} | ${name} | ${res[name].perSecond.toFixed(res[name].perSecond < 100 ? 2 : 0)} | ${res[name].cpuPerImageMs.toFixed(3)} | ${name === 'tfjs-wasm' ? '' : `${(res[name].perSecond / res['tfjs-wasm'].perSecond).toFixed(1)}× faster`} |`);
  }
  await ours.release();
  await session?.release();
  nchw.dispose();
  clip.dispose();
}

/** ViT-B/32 shapes (HF defaults), vision weights only, seeded random values (LayerNorm scales 1). */
function syntheticVitB32(): ClipEncoder {
  const config = parseClipConfig({});
  const weights = new Map<string, tf.Tensor>();
  let seed = 1;
  for (const { key, shape } of clipTensorSpecs(config)) {
    if (!key.startsWith('vision_model.') && key !== 'visual_projection.weight') continue;
    const isNormScale = /(layer_norm\d|layrnorm|layernorm)\.weight$/.test(key);
    weights.set(key, isNormScale ? tf.ones(shape) : tf.randomNormal(shape, 0, 0.02, 'float32', seed++));
  }
  return new ClipEncoder(new ClipModel(config, weights), { name: 'vit-b-32 (random weights)' });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
