/**
 * What the Residual Interpreter and Bias Correct nodes share: the vocabulary params, progress for
 * long vocabulary builds, and turning VocabularyErrors into node errors. Structurally typed
 * against the engine's NodeContext, so this folder does not depend on the engine.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { ImageEncoder } from '../encoder';
import { normalize } from './directions';
import { VocabularyError, type BuildOptions } from './vocabulary';

/** The part of a NodeContext these helpers use. */
export interface FailingContext {
  progress(step: number, total: number, info?: { message?: string }): void;
  throwIfCancelled(): void;
  fail(field: string, message: string, fix: string): never;
}

export const VOCABULARIES = ['concepts', 'words', 'tokens', 'features'] as const;

/** The vocabulary params of a node; `vocabulary` defaults to `defaultVocabulary`. */
export function vocabularyParams(defaultVocabulary: (typeof VOCABULARIES)[number]) {
  return {
    vocabulary: z
      .enum(VOCABULARIES)
      .default(defaultVocabulary)
      .describe('concepts = ~110 lighting/colour/scene/subject phrases (+ your words); words = only your words; tokens = every token of the text vocabulary as a one-token text (the paper; ViT-B/32: minutes once per session, then cached); features = the named axes of the stats encoder.'),
    words: z.string().max(100_000).default('').describe('Your words or phrases, comma or newline separated.'),
    tokenizer: z
      .string()
      .default('')
      .describe("tokens only: a folder or HF repo with tokenizer.json, vocab.json + merges.txt or bpe_simple_vocab_16e6.txt.gz that names the tokens (usually the Encoder's source). Empty: tokens are named #id."),
  };
}

export function buildOptions(ctx: FailingContext, message: string): BuildOptions {
  return {
    onProgress: (done, total) => {
      ctx.throwIfCancelled();
      ctx.progress(done, total, { message });
    },
    yieldEvery: () => tf.nextFrame(),
  };
}

/** Runs `fn`; a VocabularyError becomes a node error on the field it names. */
export async function withVocabularyErrors<T>(ctx: FailingContext, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof VocabularyError) ctx.fail(err.field, err.message, err.fix);
    throw err;
  }
}

/** A spaced direction (Residual r or Embedding), checked against the encoder's space and width, as a unit vector. */
export async function directionOf(ctx: FailingContext, encoder: ImageEncoder, field: string, value: { space: string; tensor: tf.Tensor1D }): Promise<Float64Array> {
  if (value.space !== encoder.space) {
    ctx.fail(field, `The ${field} lives in "${value.space}" but the encoder is "${encoder.space}"; a direction can only be read in the space it was computed in.`, 'wire the Encoder node that computed it.');
  }
  if (value.tensor.shape[0] !== encoder.dim) {
    ctx.fail(field, `The ${field} has ${value.tensor.shape[0]} dimensions but the encoder's embeddings have ${encoder.dim}.`, 'wire the Encoder node that computed it.');
  }
  const values = await value.tensor.data();
  try {
    return normalize(values, `the ${field}`);
  } catch (err) {
    return ctx.fail(field, `${(err as Error).message}.`, 'wire a non-zero direction (e.g. the Residual Vector of two different image sets).');
  }
}
