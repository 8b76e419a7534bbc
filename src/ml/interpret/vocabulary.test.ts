import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ClipEncoder } from '../clip/encoder';
import { StatsEncoder } from '../encoders/stats';
import { sharedDataDir, useTestBackend } from '../testing';
import { tinyClip, tinyTokenEmbeddings, toyTokenizer, TINY_END, TINY_START } from './testing';
import {
  clearVocabularyCache,
  conceptDirections,
  featureVocabulary,
  textVocabulary,
  tokenFrame,
  tokenVocabulary,
  vocabularyCacheSize,
  vocabularyFor,
  VocabularyError,
} from './vocabulary';

beforeAll(async () => {
  await useTestBackend('wasm');
});
beforeEach(() => clearVocabularyCache());

const noFiles = async () => undefined;

async function error(p: Promise<unknown> | (() => unknown)): Promise<VocabularyError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(VocabularyError);
    return e as VocabularyError;
  }
  throw new Error('expected a VocabularyError');
}

describe('tokens vocabulary on the tiny CLIP (no tokenizer files)', () => {
  let clip: ClipEncoder;
  beforeAll(() => {
    clip = tinyClip();
  });
  afterAll(() => clip.dispose());

  it('frames each id as [31, id, 32]: end = highest id (legacy argmax pooling), start the one before', () => {
    expect(tokenFrame(clip)).toEqual({ start: TINY_START, end: TINY_END });
    expect(tokenFrame(clip, { startId: 5, endId: 6, tokenFor: () => undefined })).toEqual({ start: 5, end: 6 });
  });

  it('holds every other id, named #id, equal to encodeTokenIds of the one-token texts', async () => {
    const before = tf.memory().numTensors;
    const vocab = await tokenVocabulary(clip);
    expect(tf.memory().numTensors).toBe(before);
    expect(vocab.labels).toEqual(Array.from({ length: 31 }, (_, i) => `#${i}`));
    expect(vocab.dim).toBe(8);
    expect(vocab.space).toBe('clip:tiny-clip');
    const direct = tinyTokenEmbeddings(clip, [0, 17, 30]);
    [0, 17, 30].forEach((id, j) => direct[j].forEach((v, d) => expect(vocab.vectors[id * 8 + d]).toBeCloseTo(v, 6)));
    for (let i = 0; i < 31; i++) expect(Math.hypot(...vocab.vectors.subarray(i * 8, i * 8 + 8))).toBeCloseTo(1, 5);
  });

  it('is computed once per model and session (cache keyed by space + a probe embedding)', async () => {
    const a = await tokenVocabulary(clip);
    const again = await tokenVocabulary(clip);
    expect(again.vectors).toBe(a.vectors);
    // A second load of the same weights shares the entry…
    const twin = tinyClip();
    expect((await tokenVocabulary(twin)).vectors).toBe(a.vectors);
    twin.dispose();
    expect(vocabularyCacheSize().tokenModels).toBe(1);
    clearVocabularyCache();
    expect((await tokenVocabulary(clip)).vectors).not.toBe(a.vectors);
  });

  it('names tokens with a tokenizer when one is given (and refuses one of another vocabulary size)', async () => {
    const namer = { tokenFor: (id: number) => (id === 3 ? 'sun</w>' : undefined) };
    const vocab = await tokenVocabulary(clip, namer);
    expect(vocab.labels[3]).toBe('sun');
    expect(vocab.labels[4]).toBe('#4');
    // Tokenizer files are read through the host: broken ones and ones of another model are refused on "tokenizer".
    const broken = async (_source: string, file: string) => (file === 'bpe_simple_vocab_16e6.txt.gz' ? new Uint8Array([1, 2, 3]) : undefined);
    const e1 = await error(vocabularyFor(clip, { vocabulary: 'tokens', words: '', tokenizer: 'models/x' }, broken));
    expect(e1.field).toBe('tokenizer');
    expect(e1.message).toMatch(/Could not read tokenizer files from "models\/x"/);
    const bpe = new Uint8Array(readFileSync(path.join(sharedDataDir, 'clip-bpe/bpe_simple_vocab_16e6.txt.gz')));
    const realClipBpe = async (source: string, file: string) => (source === 'bpe' && file === 'bpe_simple_vocab_16e6.txt.gz' ? bpe : undefined);
    const e2 = await error(vocabularyFor(clip, { vocabulary: 'tokens', words: '', tokenizer: 'bpe' }, realClipBpe));
    expect(e2.field).toBe('tokenizer');
    expect(e2.message).toMatch(/49408 tokens but the model's text tower has 33/);
    const e3 = await error(vocabularyFor(clip, { vocabulary: 'tokens', words: '', tokenizer: 'nothing-here' }, noFiles));
    expect(e3.message).toMatch(/has no tokenizer\.json/);
  });

  it('text vocabularies need a text tower: a clear error naming the encoder input', async () => {
    const e = await error(textVocabulary(clip, 'concepts', ['sunset']));
    expect(e.field).toBe('encoder');
    expect(e.message).toMatch(/needs T\(text\).*"clip:tiny-clip" has no text tower \(no tokenizer files/);
    expect(e.fix).toMatch(/tokenizer\.json/);
    expect(e.fix).toMatch(/vocabulary "tokens"/);
  });
});

describe('text vocabularies (tiny CLIP with a toy tokenizer)', () => {
  let clip: ClipEncoder;
  beforeAll(() => {
    clip = tinyClip({ tokenizer: toyTokenizer({ sunset: 3, blue: 5, sky: 6, orange: 7 }) });
  });
  afterAll(() => clip.dispose());

  it('T(phrase) equals encodeText; phrases are cached; one-word phrases equal the token entries', async () => {
    const vocab = await vocabularyFor(clip, { vocabulary: 'words', words: 'sunset, blue sky', tokenizer: '' }, noFiles);
    expect(vocab.labels).toEqual(['sunset', 'blue sky']);
    const direct = clip.encodeText!(['blue sky']);
    const d = await direct.data();
    direct.dispose();
    d.forEach((v, i) => expect(vocab.vectors[8 + i]).toBeCloseTo(v, 6));
    expect(vocabularyCacheSize().phrases).toBe(2);
    const token = tinyTokenEmbeddings(clip, [3])[0];
    token.forEach((v, i) => expect(vocab.vectors[i]).toBeCloseTo(v, 6));
  });

  it('an empty word list is refused on "words"', async () => {
    expect((await error(vocabularyFor(clip, { vocabulary: 'words', words: ' , ', tokenizer: '' }, noFiles))).field).toBe('words');
  });

  it('concept directions: vocabulary entries by name, the rest as text', async () => {
    const tokens = await tokenVocabulary(clip);
    const m = await conceptDirections(clip, ['#7', 'orange'], tokens, 'concepts');
    for (let i = 0; i < 8; i++) expect(m[i]).toBeCloseTo(m[8 + i], 6); // #7 is the token "orange"
  });
});

describe('image-only encoders', () => {
  let stats: StatsEncoder;
  beforeAll(() => {
    stats = new StatsEncoder();
  });
  afterAll(() => stats.dispose());

  it('stats has no text tower: words fail on "encoder" and say to use CLIP or the features vocabulary', async () => {
    const e = await error(vocabularyFor(stats, { vocabulary: 'concepts', words: '', tokenizer: '' }, noFiles));
    expect(e.field).toBe('encoder');
    expect(e.message).toMatch(/"stats:v1" has no text tower \(it is an image-only encoder\)/);
    expect(e.fix).toMatch(/CLIP Encoder/);
    expect(e.fix).toMatch(/vocabulary "features"/);
    expect((await error(vocabularyFor(stats, { vocabulary: 'tokens', words: '', tokenizer: '' }, noFiles))).message).toMatch(/not CLIP and has no text tower/);
  });

  it('features: the named unit axes of stats:v1', async () => {
    const vocab = featureVocabulary(stats);
    expect(vocab.labels.length).toBe(37);
    expect(vocab.labels).toContain('mean_b');
    const i = vocab.labels.indexOf('mean_b');
    expect(vocab.vectors[i * 37 + i]).toBe(1);
    expect(vocab.vectors.reduce((s, v) => s + v, 0)).toBe(37);
    const m = await conceptDirections(stats, ['mean_r'], undefined, 'concepts');
    expect(m[vocab.labels.indexOf('mean_r')]).toBe(1);
    const e = await error(conceptDirections(stats, ['sunset'], vocab, 'concepts'));
    expect(e.field).toBe('concepts');
    expect(e.message).toMatch(/"sunset" is not a vocabulary entry, and the encoder "stats:v1" has no text tower/);
  });

  it('features of a CLIP encoder are refused on "vocabulary"', async () => {
    const clip = tinyClip();
    expect((await error(() => featureVocabulary(clip))).field).toBe('vocabulary');
    clip.dispose();
  });
});
