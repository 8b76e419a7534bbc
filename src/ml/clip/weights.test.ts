import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../safetensors';
import { sharedDataDir, useTestBackend } from '../testing';
import { parseClipConfig } from './config';
import { checkClipWeights, clipTensorSpecs, loadClipTensors, safetensorsSource, type TensorSource } from './weights';

const here = path.dirname(new URL(import.meta.url).pathname);
const b32Config = JSON.parse(readFileSync(path.join(here, 'fixtures/openai-clip-vit-base-patch32.config.json'), 'utf8')) as Record<string, unknown>;

/**
 * ViT-B/32's checkpoint layout written out by hand (numbers, not config lookups), to compare with
 * what the loader derives from config.json.
 */
function handWrittenB32(): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const layer = (prefix: string, d: number, ff: number) => {
    for (const p of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      m.set(`${prefix}.self_attn.${p}.weight`, [d, d]);
      m.set(`${prefix}.self_attn.${p}.bias`, [d]);
    }
    for (const ln of ['layer_norm1', 'layer_norm2']) {
      m.set(`${prefix}.${ln}.weight`, [d]);
      m.set(`${prefix}.${ln}.bias`, [d]);
    }
    m.set(`${prefix}.mlp.fc1.weight`, [ff, d]);
    m.set(`${prefix}.mlp.fc1.bias`, [ff]);
    m.set(`${prefix}.mlp.fc2.weight`, [d, ff]);
    m.set(`${prefix}.mlp.fc2.bias`, [d]);
  };
  for (let i = 0; i < 12; i++) layer(`text_model.encoder.layers.${i}`, 512, 2048);
  for (let i = 0; i < 12; i++) layer(`vision_model.encoder.layers.${i}`, 768, 3072);
  m.set('text_model.embeddings.token_embedding.weight', [49408, 512]);
  m.set('text_model.embeddings.position_embedding.weight', [77, 512]);
  m.set('text_model.final_layer_norm.weight', [512]);
  m.set('text_model.final_layer_norm.bias', [512]);
  m.set('vision_model.embeddings.class_embedding', [768]);
  m.set('vision_model.embeddings.patch_embedding.weight', [768, 3, 32, 32]);
  m.set('vision_model.embeddings.position_embedding.weight', [50, 768]); // 7×7 patches + CLS
  m.set('vision_model.pre_layrnorm.weight', [768]);
  m.set('vision_model.pre_layrnorm.bias', [768]);
  m.set('vision_model.post_layernorm.weight', [768]);
  m.set('vision_model.post_layernorm.bias', [768]);
  m.set('visual_projection.weight', [512, 768]);
  m.set('text_projection.weight', [512, 512]);
  m.set('logit_scale', []);
  return m;
}

/** A header-only source: shapes without weights (B/32 would be 600 MB of float32). */
function headerOnlySource(shapes: Map<string, number[]>, requested: string[] = []): TensorSource {
  return {
    has: (key) => shapes.has(key),
    shapeOf: (key) => shapes.get(key) ?? [],
    read: (key) => {
      requested.push(key);
      const shape = shapes.get(key) ?? [];
      return { shape, values: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
    },
    names: () => [...shapes.keys()],
  };
}

beforeAll(async () => {
  await useTestBackend('wasm');
});

describe('config.json parsing', () => {
  it('reads ViT-B/32 (eos 2 → argmax pooling)', () => {
    const c = parseClipConfig(b32Config);
    expect(c.projectionDim).toBe(512);
    expect(c.text).toMatchObject({ vocabSize: 49408, hiddenSize: 512, numHiddenLayers: 12, numAttentionHeads: 8, maxPositionEmbeddings: 77, eosTokenId: 2, hiddenAct: 'quick_gelu' });
    expect(c.vision).toMatchObject({ hiddenSize: 768, intermediateSize: 3072, numHiddenLayers: 12, patchSize: 32, imageSize: 224 });
  });

  it('an empty config falls back to ViT-B/32 defaults; ViT-L/14 and B/16 sizes load', () => {
    expect(parseClipConfig({}).vision).toMatchObject({ hiddenSize: 768, patchSize: 32, imageSize: 224 });
    const l14 = parseClipConfig({ projection_dim: 768, text_config: { hidden_size: 768, intermediate_size: 3072, num_attention_heads: 12 }, vision_config: { hidden_size: 1024, intermediate_size: 4096, num_attention_heads: 16, num_hidden_layers: 24, patch_size: 14 } });
    const specs = new Map(clipTensorSpecs(l14).map((s) => [s.key, s.shape]));
    expect(specs.get('vision_model.embeddings.position_embedding.weight')).toEqual([257, 1024]);
    expect(specs.get('vision_model.embeddings.patch_embedding.weight')).toEqual([1024, 3, 14, 14]);
    expect(specs.get('visual_projection.weight')).toEqual([768, 1024]);
    expect(specs.has('vision_model.encoder.layers.23.mlp.fc2.bias')).toBe(true);
    const b16 = parseClipConfig({ vision_config: { patch_size: 16 } });
    expect(new Map(clipTensorSpecs(b16).map((s) => [s.key, s.shape])).get('vision_model.embeddings.position_embedding.weight')).toEqual([197, 768]);
  });

  it('old configs with text_config_dict are read', () => {
    expect(parseClipConfig({ text_config_dict: { hidden_size: 640 }, vision_config_dict: { patch_size: 16 } }).text.hiddenSize).toBe(640);
  });

  it('rejects bad values with the field name', () => {
    expect(() => parseClipConfig({ model_type: 'siglip' })).toThrow(/model_type is "siglip"/);
    expect(() => parseClipConfig({ vision_config: { hidden_act: 'swish' } })).toThrow(/vision_config.hidden_act must be one of/);
    expect(() => parseClipConfig({ vision_config: { image_size: 100, patch_size: 32 } })).toThrow(/image_size 100 is not a multiple of patch_size 32/);
    expect(() => parseClipConfig({ text_config: { hidden_size: 10, num_attention_heads: 3 } })).toThrow(/not divisible by num_attention_heads/);
  });
});

describe('ViT-B/32 key mapping (no weights)', () => {
  it('the loader requests exactly the hand-written B/32 keys and shapes', () => {
    const expected = handWrittenB32();
    const specs = clipTensorSpecs(parseClipConfig(b32Config));
    expect(specs.length).toBe(expected.size);
    expect(specs.length).toBe(2 + 12 * 16 + 2 + 3 + 2 + 12 * 16 + 2 + 3); // 398
    for (const { key, shape } of specs) expect([key, shape]).toEqual([key, expected.get(key)]);
    expect(() => checkClipWeights(parseClipConfig(b32Config), headerOnlySource(expected))).not.toThrow();
  });

  it('a shape mismatch names the key and both shapes', () => {
    const shapes = handWrittenB32();
    shapes.set('vision_model.encoder.layers.3.mlp.fc1.weight', [4096, 768]);
    expect(() => checkClipWeights(parseClipConfig(b32Config), headerOnlySource(shapes))).toThrow(
      /"vision_model.encoder.layers.3.mlp.fc1.weight" has shape \[4096, 768\] but the config implies \[3072, 768\]/,
    );
  });

  it('a missing key is reported by name', () => {
    const shapes = handWrittenB32();
    shapes.delete('text_projection.weight');
    shapes.set('text_model.embeddings.position_ids', [1, 77]); // extra buffers are ignored
    expect(() => checkClipWeights(parseClipConfig(b32Config), headerOnlySource(shapes))).toThrow(/missing "text_projection.weight"/);
  });
});

describe('tiny CLIP checkpoint', () => {
  const tinyDir = path.join(sharedDataDir, 'tiny-clip');
  const config = parseClipConfig(JSON.parse(readFileSync(path.join(tinyDir, 'config.json'), 'utf8')));
  const file = SafetensorsFile.parse(readFileSync(path.join(tinyDir, 'model.safetensors')));

  it('has every tensor the config implies, and nothing else is read', () => {
    const specs = clipTensorSpecs(config);
    expect(specs.length).toBe(file.names.length);
    expect(new Set(specs.map((s) => s.key))).toEqual(new Set(file.names));
    const tensors = loadClipTensors(config, safetensorsSource(file));
    expect(tensors.get('vision_model.embeddings.position_embedding.weight')?.shape).toEqual([5, 16]);
    tf.dispose([...tensors.values()]);
  });

  it('a config from another model size fails with the key named', () => {
    const wrong = parseClipConfig({ ...JSON.parse(readFileSync(path.join(tinyDir, 'config.json'), 'utf8')), projection_dim: 4 });
    expect(() => loadClipTensors(wrong, safetensorsSource(file))).toThrow(/"visual_projection.weight" has shape \[8, 16\] but the config implies \[4, 16\]/);
  });
});
