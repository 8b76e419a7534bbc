/**
 * HF CLIPModel tensor names and the shapes the config implies. The list is checked against the
 * checkpoint header before any tensor is decoded, so a wrong config fails fast and names the key.
 */
import * as tf from '@tensorflow/tfjs';
import { SafetensorsFile } from '../safetensors';
import type { ClipConfig } from './config';

export interface TensorSpec {
  key: string;
  shape: number[];
}

/** Anything that can describe and decode named float tensors (a SafetensorsFile, or a test double). */
export interface TensorSource {
  has(key: string): boolean;
  shapeOf(key: string): readonly number[];
  read(key: string): { shape: number[]; values: Float32Array };
  /** All names, for "closest name" hints. */
  names(): string[];
}

export class ClipWeightsError extends Error {
  override readonly name = 'ClipWeightsError';
}

function encoderLayerSpecs(prefix: string, layers: number, hidden: number, intermediate: number): TensorSpec[] {
  const specs: TensorSpec[] = [];
  for (let i = 0; i < layers; i++) {
    const p = `${prefix}.encoder.layers.${i}`;
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      specs.push({ key: `${p}.self_attn.${proj}.weight`, shape: [hidden, hidden] }, { key: `${p}.self_attn.${proj}.bias`, shape: [hidden] });
    }
    specs.push(
      { key: `${p}.layer_norm1.weight`, shape: [hidden] },
      { key: `${p}.layer_norm1.bias`, shape: [hidden] },
      { key: `${p}.mlp.fc1.weight`, shape: [intermediate, hidden] },
      { key: `${p}.mlp.fc1.bias`, shape: [intermediate] },
      { key: `${p}.mlp.fc2.weight`, shape: [hidden, intermediate] },
      { key: `${p}.mlp.fc2.bias`, shape: [hidden] },
      { key: `${p}.layer_norm2.weight`, shape: [hidden] },
      { key: `${p}.layer_norm2.bias`, shape: [hidden] },
    );
  }
  return specs;
}

/** Every tensor a CLIPModel with this config reads, with its shape (HF `state_dict` names). */
export function clipTensorSpecs(config: ClipConfig): TensorSpec[] {
  const { text: t, vision: v } = config;
  const patches = (v.imageSize / v.patchSize) ** 2;
  return [
    { key: 'text_model.embeddings.token_embedding.weight', shape: [t.vocabSize, t.hiddenSize] },
    { key: 'text_model.embeddings.position_embedding.weight', shape: [t.maxPositionEmbeddings, t.hiddenSize] },
    ...encoderLayerSpecs('text_model', t.numHiddenLayers, t.hiddenSize, t.intermediateSize),
    { key: 'text_model.final_layer_norm.weight', shape: [t.hiddenSize] },
    { key: 'text_model.final_layer_norm.bias', shape: [t.hiddenSize] },
    { key: 'vision_model.embeddings.class_embedding', shape: [v.hiddenSize] },
    { key: 'vision_model.embeddings.patch_embedding.weight', shape: [v.hiddenSize, v.numChannels, v.patchSize, v.patchSize] },
    { key: 'vision_model.embeddings.position_embedding.weight', shape: [patches + 1, v.hiddenSize] },
    // "layrnorm" is HF's spelling in the checkpoint.
    { key: 'vision_model.pre_layrnorm.weight', shape: [v.hiddenSize] },
    { key: 'vision_model.pre_layrnorm.bias', shape: [v.hiddenSize] },
    ...encoderLayerSpecs('vision_model', v.numHiddenLayers, v.hiddenSize, v.intermediateSize),
    { key: 'vision_model.post_layernorm.weight', shape: [v.hiddenSize] },
    { key: 'vision_model.post_layernorm.bias', shape: [v.hiddenSize] },
    { key: 'visual_projection.weight', shape: [config.projectionDim, v.hiddenSize] },
    { key: 'text_projection.weight', shape: [config.projectionDim, t.hiddenSize] },
    { key: 'logit_scale', shape: [] },
  ];
}

export function safetensorsSource(file: SafetensorsFile): TensorSource {
  return {
    has: (key) => file.has(key),
    shapeOf: (key) => file.entry(key).shape,
    read: (key) => file.tensor(key),
    names: () => file.names,
  };
}

/**
 * Checks presence and shape of every spec'd tensor without decoding any; throws one error listing
 * all problems (each names its key). Returns the specs on success.
 */
export function checkClipWeights(config: ClipConfig, source: TensorSource): TensorSpec[] {
  const specs = clipTensorSpecs(config);
  const problems: string[] = [];
  for (const { key, shape } of specs) {
    if (!source.has(key)) {
      problems.push(`missing "${key}"`);
      continue;
    }
    const actual = source.shapeOf(key);
    // logit_scale is a 0-d tensor in HF checkpoints but [1] in some exports; both mean a scalar.
    const scalarOk = shape.length === 0 && actual.reduce((a, b) => a * b, 1) === 1;
    if (!scalarOk && (actual.length !== shape.length || actual.some((d, i) => d !== shape[i]))) {
      problems.push(`"${key}" has shape [${actual.join(', ')}] but the config implies [${shape.join(', ')}]`);
    }
  }
  if (problems.length) {
    const missingOnly = problems.every((p) => p.startsWith('missing'));
    const hint = missingOnly
      ? ` Checkpoint names look like: ${source.names().slice(0, 3).map((n) => `"${n}"`).join(', ')}… — is this a Hugging Face CLIPModel checkpoint?`
      : ' config.json and model.safetensors probably come from different models.';
    throw new ClipWeightsError(`CLIP weights do not match config.json (${problems.length} problem${problems.length > 1 ? 's' : ''}): ${problems.slice(0, 8).join('; ')}${problems.length > 8 ? '; …' : ''}.${hint}`);
  }
  return specs;
}

/** Decodes all CLIP tensors into tf tensors keyed by HF name (caller owns and disposes them). */
export function loadClipTensors(config: ClipConfig, source: TensorSource): Map<string, tf.Tensor> {
  const specs = checkClipWeights(config, source);
  const tensors = new Map<string, tf.Tensor>();
  for (const { key, shape } of specs) {
    const { values } = source.read(key);
    tensors.set(key, tf.tensor(values, shape, 'float32'));
  }
  return tensors;
}
