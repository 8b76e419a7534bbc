import * as tf from '@tensorflow/tfjs';
import type { ImageEncoder } from '../encoder';
import { l2Normalize } from '../clip/model';

/**
 * The learnable side of a prompt pair. Row 0 = negative (backlit), row 1 = positive (well-lit).
 * - `latent` (CLIP-LIT-Latent, method A): two free D-vectors g; prompts = g / ‖g‖.
 * - `text` (CLIP-LIT): token embeddings [2, L, hidden] pushed through the CLIP text tower.
 */
export interface PromptParameters {
  readonly mode: 'text' | 'latent';
  readonly variables: tf.Variable[];
  /** L2-normalised prompt embeddings [2, D], differentiable w.r.t. `variables`. Call inside a tidy. */
  prompts(): tf.Tensor2D;
  /** Copies of the learnt state that outlive `dispose()` (to continue training later). */
  snapshot(): PromptSnapshot;
  dispose(): void;
}

export interface PromptSnapshot {
  /** Unit rows [2, D]. */
  prompts: tf.Tensor2D;
  /** Text mode: the learnt token embeddings [2, L, hidden] and where each row is pooled. */
  tokens?: tf.Tensor3D;
  eotPositions?: number[];
}

/** What text prompts need of an encoder: CLIP's text tower on raw token embeddings. */
export interface TextTowerEncoder extends ImageEncoder {
  encodeTokenEmbeddings(tokenEmbeds: tf.Tensor3D, eotPositions: number[]): tf.Tensor2D;
  readonly model: {
    readonly config: { readonly text: { readonly vocabSize: number; readonly maxPositionEmbeddings: number; readonly hiddenSize: number; readonly eosTokenId: number } };
    embedTokens(tokenIds: number[][]): tf.Tensor3D;
    eotPositions(tokenIds: number[][]): number[];
  };
}

export function hasTextTower(encoder: ImageEncoder): encoder is TextTowerEncoder {
  const e = encoder as Partial<TextTowerEncoder>;
  return typeof e.encodeTokenEmbeddings === 'function' && typeof e.model?.embedTokens === 'function' && typeof e.model?.eotPositions === 'function';
}

/** CLIP-LIT's placeholder prompt: "X X … X" (16 tokens). */
export const PLACEHOLDER_TOKENS = 16;
/** OpenAI CLIP BPE ids (vocabulary of 49,408): <|startoftext|>, <|endoftext|>, "x</w>" ("X" lower-cased). */
export const CLIP_BPE_IDS = { sot: 49406, eot: 49407, x: 343, vocabSize: 49408 } as const;

export interface PlaceholderIds {
  /** One row of token ids, length = the model's context (max positions). */
  ids: number[];
  /** How many "X" placeholders fit (16, or fewer for short contexts). */
  placeholders: number;
  /** Which id stood in for "X" (343 for CLIP's BPE; a synthetic id for other vocabularies). */
  xId: number;
}

/**
 * The token ids CLIP-LIT starts from: [SOT, X × n, EOT, pad …] over the full context (all
 * positions are learnable), with n = 16 or as many as fit (context − 2). For CLIP's BPE vocabulary
 * the real ids are used. Other vocabularies (the tiny test CLIP has 33 synthetic tokens and no
 * tokenizer) use SOT = 0, EOT = the highest id (pooled by argmax, like CLIP's legacy eos id 2) or
 * the configured eos id, and X = the middle of the vocabulary. Padding is 0 (OpenAI's tokenize).
 */
export function placeholderTokenIds(text: { vocabSize: number; maxPositionEmbeddings: number; eosTokenId: number }): PlaceholderIds {
  const length = text.maxPositionEmbeddings;
  if (length < 3) throw new Error(`the text tower's context (${length} positions) cannot hold a start token, a placeholder and an end token.`);
  const placeholders = Math.min(PLACEHOLDER_TOKENS, length - 2);
  const bpe = text.vocabSize === CLIP_BPE_IDS.vocabSize;
  const sot = bpe ? CLIP_BPE_IDS.sot : 0;
  const eot = bpe ? CLIP_BPE_IDS.eot : text.eosTokenId === 2 ? text.vocabSize - 1 : text.eosTokenId;
  let xId: number = bpe ? CLIP_BPE_IDS.x : Math.floor(text.vocabSize / 2);
  if (!bpe && (xId === sot || xId === eot)) xId = Math.max(1, Math.min(text.vocabSize - 2, xId + 1));
  const ids = [sot, ...new Array<number>(placeholders).fill(xId), eot];
  while (ids.length < length) ids.push(0);
  return { ids, placeholders, xId };
}

/** Latent prompts from an initial [2, D] (any scale). Takes ownership of `init` (disposes it). */
export function latentPrompts(init: tf.Tensor2D): PromptParameters {
  if (init.shape[0] !== 2) throw new Error(`latent prompts need 2 rows (negative, positive), got [${init.shape}].`);
  const g = tf.variable(init, true);
  init.dispose(); // the variable holds its own reference to the data
  return {
    mode: 'latent',
    variables: [g],
    prompts: () => l2Normalize(g as unknown as tf.Tensor2D),
    snapshot: () => ({ prompts: tf.tidy(() => l2Normalize(g as unknown as tf.Tensor2D)) }),
    dispose: () => g.dispose(),
  };
}

/**
 * Seeded random latent init, randn [2, D] as the reference code (only directions matter: logits
 * use g/‖g‖; the scale sets how far one Adam step moves them).
 */
export function randomLatentInit(dim: number, seed: number): tf.Tensor2D {
  // tfjs's randomNormal treats seed 0 as "no seed" (Math.random()): map it to a fixed one.
  return tf.randomNormal([2, dim], 0, 1, 'float32', seed === 0 ? 0x5eed : seed) as tf.Tensor2D;
}

/**
 * Unit prompt embeddings [2, D] (e.g. T("a backlit photo"), T("a well-lit photo"), or learnt
 * prompts) rescaled to randn's expected norm √D, so one learning rate fits every latent init.
 */
export function scaledLatentInit(unitRows: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.mul(l2Normalize(unitRows), Math.sqrt(unitRows.shape[1])) as tf.Tensor2D);
}

/** Text prompts: learnable token embeddings [2, L, hidden], pooled at `eotPositions`. */
export function textPrompts(encoder: TextTowerEncoder, init?: { tokens: tf.Tensor3D; eotPositions: number[] }): PromptParameters {
  let start: tf.Tensor3D;
  let eot: number[];
  if (init) {
    const t = encoder.model.config.text;
    if (init.tokens.shape[0] !== 2 || init.tokens.shape[1] > t.maxPositionEmbeddings || init.tokens.shape[2] !== t.hiddenSize) {
      throw new Error(`the initial token embeddings [${init.tokens.shape}] do not fit this text tower ([2, ≤${t.maxPositionEmbeddings}, ${t.hiddenSize}]).`);
    }
    start = init.tokens.clone();
    eot = [...init.eotPositions];
  } else {
    const { ids } = placeholderTokenIds(encoder.model.config.text);
    const rows = [ids, ids];
    start = encoder.model.embedTokens(rows);
    eot = encoder.model.eotPositions(rows);
  }
  const tokens = tf.variable(start, true);
  start.dispose();
  const forward = () => encoder.encodeTokenEmbeddings(tokens as unknown as tf.Tensor3D, eot);
  return {
    mode: 'text',
    variables: [tokens],
    prompts: forward,
    snapshot: () => ({ prompts: tf.tidy(forward), tokens: tokens.clone() as tf.Tensor3D, eotPositions: [...eot] }),
    dispose: () => tokens.dispose(),
  };
}
