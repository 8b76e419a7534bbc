/**
 * Recipe probes (issue 12): runs the real nodes outside the executor on the samples and on the
 * held-out real backlit photos, and measures clipped / dark fractions and projections on r.
 * Node only; run with `npx tsx tools/recipe/<script>.ts`.
 */
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import type { AnyNodeDefinition, ImageBatchValue, NamedImage, NodeContext } from '../../src/engine';
import { sharedDataDir } from '../../src/ml/testing';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const SAMPLES = path.join(ROOT, 'public/samples/well-lit');
export const BACKLIT = path.join(sharedDataDir, 'images/backlit');
/** The held-out split stated in test/integration/training-gain.test.ts. */
export const HELD_OUT = readdirSync(BACKLIT).filter((f) => /^(backlit_|lowlight_dicm_)/.test(f)).sort();

export async function loadImage(file: string, maxSide: number): Promise<NamedImage> {
  const { data, info } = await sharp(file).resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const t = tf.tidy(() => tf.div(tf.tensor3d(new Uint8Array(data), [info.height, info.width, 3], 'int32').toFloat(), 255)) as tf.Tensor3D;
  return { name: path.basename(file).replace(/\.\w+$/, ''), tensor: t };
}

export async function loadDir(dir: string, files: string[], maxSide: number): Promise<ImageBatchValue> {
  return { kind: 'ImageBatch', images: await Promise.all(files.map((f) => loadImage(path.join(dir, f), maxSide))) };
}

export function ctx(nodeId = 'probe'): NodeContext {
  return {
    nodeId,
    host: { writeFile: async (_d: string, name: string) => ({ name, location: name, bytes: 0 }), readFile: async () => undefined } as never,
    signal: new AbortController().signal,
    progress: (step, total, info) => { if (info?.metrics && (step % 20 === 0 || step === total)) console.error(`  ${nodeId} ${step}/${total} ${JSON.stringify(Object.fromEntries(Object.entries(info.metrics).map(([k, v]) => [k, +v.toFixed(4)])))}`); },
    log: (m) => console.error(`  [${nodeId}] ${m}`),
    throwIfCancelled: () => {},
    fail: (field, message, fix) => { throw new Error(`${nodeId}.${field}: ${message} Fix: ${fix}`); },
  };
}

export async function runNode(def: AnyNodeDefinition, inputs: Record<string, unknown>, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  return def.run({ inputs, params: def.params.parse(params), ctx: ctx(def.type) } as never);
}

/** Luma (Rec.601) fractions: clipped (> 0.98) and dark (< 0.1). */
export function fractions(t: tf.Tensor3D): { clipped: number; dark: number; mean: number } {
  const y = tf.tidy(() => tf.sum(tf.mul(t, tf.tensor1d([0.299, 0.587, 0.114])), -1).dataSync());
  let c = 0, d = 0, m = 0;
  for (const v of y) { if (v > 0.98) c++; if (v < 0.1) d++; m += v; }
  return { clipped: c / y.length, dark: d / y.length, mean: m / y.length };
}

export const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;

export async function savePng(t: tf.Tensor3D, file: string): Promise<void> {
  const [h, w] = t.shape;
  const data = tf.tidy(() => tf.clipByValue(tf.mul(t, 255), 0, 255).round().toInt().dataSync());
  await sharp(Buffer.from(Uint8Array.from(data)), { raw: { width: w, height: h, channels: 3 } }).png().toFile(file);
}
