import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClipEncoder } from '../clip/encoder';
import type { HiddenAct } from '../clip/config';
import { sharedDataDir, useTestBackend, maxAbsDiff } from '../testing';
import { buildClipVisionGraph, clipVisionGraph } from './clipExport';
import { OnnxClipTower } from './clipRuntime';

/** The ONNX CLIP vision tower built from our loaded weights equals our tfjs tower (tiny CLIP fixture). */
const tinyDir = path.join(sharedDataDir, 'tiny-clip');
const TOL = 1e-4;

function tinyClip(hiddenAct?: HiddenAct): ClipEncoder {
  const config = JSON.parse(readFileSync(path.join(tinyDir, 'config.json'), 'utf8')) as { vision_config: Record<string, unknown> };
  if (hiddenAct) config.vision_config.hidden_act = hiddenAct;
  return ClipEncoder.fromBytes({ config, weights: readFileSync(path.join(tinyDir, 'model.safetensors')) }, { name: 'tiny-clip' });
}


beforeAll(async () => {
  await useTestBackend('wasm');
});

describe('ONNX export of the CLIP vision tower (our weights) on onnxruntime-node', () => {
  const N = 5;
  let pixels: tf.Tensor4D;
  beforeAll(() => {
    // Normalised-pixel range (CLIP's mean/std give roughly −1.8..2.1), a different picture per row.
    pixels = tf.randomUniform([N, 16, 16, 3], -1.8, 2.1, 'float32', 11) as tf.Tensor4D;
  });
  afterAll(() => pixels.dispose());

  // The fixture is quick_gelu; the others flip the config (same weights) to exercise each activation's graph.
  for (const act of ['quick_gelu', 'gelu', 'gelu_new', 'relu'] as const) {
    it(`${act}: batch of ${N} image embeds (and normalised) equal tfjs within ${TOL}`, async () => {
      const clip = tinyClip(act === 'quick_gelu' ? undefined : act);
      expect(clip.config.vision.hiddenAct).toBe(act);
      const tower = await OnnxClipTower.create(clip.model, { threads: 1 });
      try {
        const data = pixels.dataSync() as Float32Array;
        const ref = tf.tidy(() => clip.model.vision(pixels).embeds);
        const refNorm = clip.encodePixelValues(pixels);
        const got = await tower.embeds(data, N);
        expect(got.length).toBe(N * clip.dim);
        expect(maxAbsDiff(got, ref.dataSync())).toBeLessThanOrEqual(TOL);
        expect(maxAbsDiff(await tower.normalizedEmbeds(data, N), refNorm.dataSync())).toBeLessThanOrEqual(TOL);
        // Not trivially equal: the embeds differ between rows and are not all zero.
        expect(maxAbsDiff(got.subarray(0, clip.dim), got.subarray(clip.dim, 2 * clip.dim))).toBeGreaterThan(1e-3);
        // A batch of one gives the same row (N is symbolic).
        expect(maxAbsDiff(await tower.embeds(data.slice(3 * 16 * 16 * 3, 4 * 16 * 16 * 3), 1), ref.dataSync().slice(3 * clip.dim, 4 * clip.dim))).toBeLessThanOrEqual(TOL);
        tf.dispose([ref, refNorm]);
      } finally {
        await tower.release();
        clip.dispose();
      }
    }, 60_000);
  }

  it('the activations really differ (the flips above are not the same graph)', async () => {
    const a = tinyClip();
    const b = tinyClip('gelu');
    const ea = tf.tidy(() => a.model.vision(pixels).embeds);
    const eb = tf.tidy(() => b.model.vision(pixels).embeds);
    expect(maxAbsDiff(ea.dataSync(), eb.dataSync())).toBeGreaterThan(1e-4);
    tf.dispose([ea, eb]);
    a.dispose();
    b.dispose();
  });

  it('uses every vision weight and the projection, and none of the text tower', () => {
    const clip = tinyClip();
    const names = new Set(clipVisionGraph(clip.model).initializers.map((t) => t.name));
    const keys = ['vision_model.embeddings.class_embedding', 'vision_model.embeddings.position_embedding.weight', 'vision_model.pre_layrnorm.weight', 'vision_model.post_layernorm.bias', 'visual_projection.weight', 'patch_kernel_oihw'];
    for (const k of keys) expect(names.has(k), k).toBe(true);
    for (let i = 0; i < clip.config.vision.numHiddenLayers; i++) {
      for (const w of ['self_attn.q_proj.weight', 'self_attn.k_proj.bias', 'self_attn.v_proj.weight', 'self_attn.out_proj.bias', 'layer_norm1.weight', 'layer_norm2.bias', 'mlp.fc1.weight', 'mlp.fc2.bias']) {
        expect(names.has(`vision_model.encoder.layers.${i}.${w}`), w).toBe(true);
      }
    }
    expect([...names].some((n) => n.startsWith('text_model.'))).toBe(false);
    clip.dispose();
  });

  it('an activation it does not know is a clear error naming it', () => {
    const clip = tinyClip();
    const config = { ...clip.config, vision: { ...clip.config.vision, hiddenAct: 'silu' as unknown as HiddenAct } };
    const get = (key: string) => {
      const t = clip.model.weight(key);
      return { shape: t.shape, data: t.dataSync() as Float32Array };
    };
    expect(() => buildClipVisionGraph(config, get)).toThrow(/hidden_act "silu" is not supported/);
    clip.dispose();
  });
});
