/**
 * CLIP hyper-parameters read from a Hugging Face `config.json` (CLIPModel). Missing fields take
 * HF's CLIPTextConfig / CLIPVisionConfig defaults, which are ViT-B/32's values, so old configs that
 * only list non-default fields load too.
 */

export type HiddenAct = 'quick_gelu' | 'gelu' | 'gelu_new' | 'gelu_pytorch_tanh' | 'relu';

export interface ClipTextConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  maxPositionEmbeddings: number;
  hiddenAct: HiddenAct;
  layerNormEps: number;
  /** HF rule: eos_token_id === 2 (legacy configs) → pool at argmax(ids); else at the first eos id. */
  eosTokenId: number;
}

export interface ClipVisionConfig {
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numChannels: number;
  imageSize: number;
  patchSize: number;
  hiddenAct: HiddenAct;
  layerNormEps: number;
}

export interface ClipConfig {
  text: ClipTextConfig;
  vision: ClipVisionConfig;
  projectionDim: number;
  logitScaleInit: number;
}

export class ClipConfigError extends Error {
  override readonly name = 'ClipConfigError';
}

const ACTIVATIONS: readonly HiddenAct[] = ['quick_gelu', 'gelu', 'gelu_new', 'gelu_pytorch_tanh', 'relu'];

type Json = Record<string, unknown>;

function pick<T>(where: string, raw: Json, key: string, fallback: T, check: (v: unknown) => boolean, expected: string): T {
  const value = raw[key];
  if (value === undefined || value === null) return fallback;
  if (!check(value)) throw new ClipConfigError(`config.json: ${where}.${key} must be ${expected}, got ${JSON.stringify(value)}.`);
  return value as T;
}
const isPositiveInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
const isInt = (v: unknown) => Number.isInteger(v);
const isNumber = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
const isActivation = (v: unknown) => ACTIVATIONS.includes(v as HiddenAct);

function subConfig(raw: Json, key: 'text_config' | 'vision_config'): Json {
  // Configs written by transformers < 4.23 carry the sub-config as `*_config_dict` (which won there).
  const dict = raw[`${key}_dict`];
  const base = raw[key];
  return { ...(isObject(base) ? base : {}), ...(isObject(dict) ? dict : {}) };
}

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Parses a CLIPModel config.json (object or JSON text). */
export function parseClipConfig(input: unknown): ClipConfig {
  const raw = typeof input === 'string' ? (JSON.parse(input) as unknown) : input;
  if (!isObject(raw)) throw new ClipConfigError('config.json must be a JSON object (a Hugging Face CLIPModel config).');
  const modelType = raw.model_type;
  if (modelType !== undefined && modelType !== 'clip') {
    throw new ClipConfigError(`config.json: model_type is "${String(modelType)}"; this loader reads CLIPModel checkpoints (model_type "clip").`);
  }
  const t = subConfig(raw, 'text_config');
  const v = subConfig(raw, 'vision_config');
  const text: ClipTextConfig = {
    vocabSize: pick('text_config', t, 'vocab_size', 49408, isPositiveInt, 'a positive integer'),
    hiddenSize: pick('text_config', t, 'hidden_size', 512, isPositiveInt, 'a positive integer'),
    intermediateSize: pick('text_config', t, 'intermediate_size', 2048, isPositiveInt, 'a positive integer'),
    numHiddenLayers: pick('text_config', t, 'num_hidden_layers', 12, isPositiveInt, 'a positive integer'),
    numAttentionHeads: pick('text_config', t, 'num_attention_heads', 8, isPositiveInt, 'a positive integer'),
    maxPositionEmbeddings: pick('text_config', t, 'max_position_embeddings', 77, isPositiveInt, 'a positive integer'),
    hiddenAct: pick('text_config', t, 'hidden_act', 'quick_gelu' as HiddenAct, isActivation, `one of ${ACTIVATIONS.join(', ')}`),
    layerNormEps: pick('text_config', t, 'layer_norm_eps', 1e-5, isNumber, 'a number'),
    eosTokenId: pick('text_config', t, 'eos_token_id', 49407, isInt, 'an integer'),
  };
  const vision: ClipVisionConfig = {
    hiddenSize: pick('vision_config', v, 'hidden_size', 768, isPositiveInt, 'a positive integer'),
    intermediateSize: pick('vision_config', v, 'intermediate_size', 3072, isPositiveInt, 'a positive integer'),
    numHiddenLayers: pick('vision_config', v, 'num_hidden_layers', 12, isPositiveInt, 'a positive integer'),
    numAttentionHeads: pick('vision_config', v, 'num_attention_heads', 12, isPositiveInt, 'a positive integer'),
    numChannels: pick('vision_config', v, 'num_channels', 3, isPositiveInt, 'a positive integer'),
    imageSize: pick('vision_config', v, 'image_size', 224, isPositiveInt, 'a positive integer'),
    patchSize: pick('vision_config', v, 'patch_size', 32, isPositiveInt, 'a positive integer'),
    hiddenAct: pick('vision_config', v, 'hidden_act', 'quick_gelu' as HiddenAct, isActivation, `one of ${ACTIVATIONS.join(', ')}`),
    layerNormEps: pick('vision_config', v, 'layer_norm_eps', 1e-5, isNumber, 'a number'),
  };
  const config: ClipConfig = {
    text,
    vision,
    // The top-level value is what CLIPModel uses; sub-config projection_dim values are ignored.
    projectionDim: pick('config', raw, 'projection_dim', 512, isPositiveInt, 'a positive integer'),
    logitScaleInit: pick('config', raw, 'logit_scale_init_value', 2.6592, isNumber, 'a number'),
  };
  for (const [where, c] of [['text_config', text], ['vision_config', vision]] as const) {
    if (c.hiddenSize % c.numAttentionHeads !== 0) {
      throw new ClipConfigError(`config.json: ${where}.hidden_size ${c.hiddenSize} is not divisible by num_attention_heads ${c.numAttentionHeads}.`);
    }
  }
  if (vision.imageSize % vision.patchSize !== 0) {
    throw new ClipConfigError(`config.json: vision_config.image_size ${vision.imageSize} is not a multiple of patch_size ${vision.patchSize}.`);
  }
  if (vision.numChannels !== 3) throw new ClipConfigError(`config.json: vision_config.num_channels is ${vision.numChannels}; only RGB (3) is supported.`);
  return config;
}
