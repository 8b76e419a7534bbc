/**
 * Image-encode throughput of the tiny CLIP and the stats encoder on wasm and cpu (Node), and a
 * tensor-leak check (tf.memory().numTensors before/after 100 encodes).
 * Run: npx tsx bench/encode.ts
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import type { ImageEncoder } from '../src/ml/encoder';
import { parseClipConfig } from '../src/ml/clip/config';
import { ClipEncoder } from '../src/ml/clip/encoder';
import { loadClipFromFolder } from '../src/ml/clip/loadNode';
import { ClipModel } from '../src/ml/clip/model';
import { clipTensorSpecs } from '../src/ml/clip/weights';
import { StatsEncoder } from '../src/ml/encoders/stats';
import { sharedDataDir, useTestBackend } from '../src/ml/testing';

const BATCH = 8;
const SIZE = 256;

function timeIt(label: string, run: () => void, minSeconds: number): { perSecond: number; iterations: number } {
  run(); // warm-up (kernel compilation, weight upload)
  let iterations = 0;
  const start = performance.now();
  while (performance.now() - start < minSeconds * 1000) {
    run();
    iterations++;
  }
  const seconds = (performance.now() - start) / 1000;
  return { perSecond: iterations / seconds, iterations };
}

interface Row {
  backend: string;
  encoder: string;
  mode: string;
  imagesPerSecond: string;
  gradPerSecond: string;
  tensorsBefore: number;
  tensorsAfter100: number;
}

/** ViT-B/32 vision tower with random weights: real per-image cost without downloading weights. */
function randomVitB32(): ClipEncoder {
  const config = parseClipConfig(JSON.parse(readFileSync(new URL('../src/ml/clip/fixtures/openai-clip-vit-base-patch32.config.json', import.meta.url), 'utf8')));
  const weights = new Map<string, tf.Tensor>();
  for (const { key, shape } of clipTensorSpecs(config)) {
    if (key.startsWith('text_model.') || key === 'text_projection.weight') continue; // vision only: saves ~250 MB
    weights.set(key, key.includes('norm') && key.endsWith('.weight') ? tf.ones(shape) : tf.randomNormal(shape, 0, 0.02));
  }
  return new ClipEncoder(new ClipModel(config, weights), { name: 'vit-b-32-random' });
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const backend of ['wasm', 'cpu'] as const) {
    await useTestBackend(backend);
    const encoders: ImageEncoder[] = [loadClipFromFolder(path.join(sharedDataDir, 'tiny-clip')), new StatsEncoder()];
    if (backend === 'wasm') encoders.push(randomVitB32()); // cpu would take minutes per batch
    const images = tf.randomUniform([BATCH, SIZE, SIZE, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const one = tf.slice(images, [0, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
    const seconds = backend === 'cpu' ? 3 : 2;
    for (const encoder of encoders) {
      for (const mode of ['loss', 'dataset'] as const) {
        const forward = timeIt(`${encoder.space} ${mode}`, () => {
          const e = encoder.encodeImages(images, mode);
          e.dataSync();
          e.dispose();
        }, seconds);
        const grad = timeIt(`${encoder.space} ${mode} grad`, () => {
          const g = tf.grad((x: tf.Tensor) => tf.sum(encoder.encodeImages(x as tf.Tensor4D, mode)))(images);
          g.dataSync();
          g.dispose();
        }, seconds);
        const before = tf.memory().numTensors;
        for (let i = 0; i < 100; i++) encoder.encodeImages(one, mode).dispose();
        rows.push({
          backend,
          encoder: encoder.space,
          mode,
          imagesPerSecond: (forward.perSecond * BATCH).toFixed(1),
          gradPerSecond: (grad.perSecond * BATCH).toFixed(1),
          tensorsBefore: before,
          tensorsAfter100: tf.memory().numTensors,
        });
      }
      encoder.dispose();
    }
    tf.dispose([images, one]);
  }
  console.log(`\nImage encode throughput, batch ${BATCH} × ${SIZE}×${SIZE} RGB, Node ${process.version} (images/s; grad = forward + backward w.r.t. pixels)\n`);
  console.table(rows);
  const leaking = rows.filter((r) => r.tensorsAfter100 !== r.tensorsBefore);
  console.log(leaking.length ? `LEAK: ${leaking.map((r) => `${r.backend}/${r.encoder}/${r.mode}`).join(', ')}` : 'numTensors flat across 100 encodes for every row.');
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
