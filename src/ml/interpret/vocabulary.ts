/**
 * Vocabularies to read a direction with: unit vectors in an encoder's space, one per label.
 * - `concepts` / `words`: T(phrase), the encoder's text embedding of each phrase (needs a text tower);
 * - `tokens`: every token of the text vocabulary as a one-token text [start, id, end], as RAVE
 *   does (CLIP ViT-B/32: 49,406 texts, minutes on wasm, so cached per model for the session);
 *   works without tokenizer files (tokens are then named `#id`), which is how the tiny test CLIP
 *   (33 synthetic ids, no tokenizer) is read;
 * - `features`: the named axes of an encoder whose coordinates mean something (the offline stats
 *   encoder: luminance histogram bins, channel means, …) — a reading that needs no text at all.
 */
import * as tf from '@tensorflow/tfjs';
import type { ImageEncoder } from '../encoder';
import { ClipEncoder } from '../clip/encoder';
import { STATS_FEATURE_NAMES } from '../encoders/stats';
import { ClipTokenizer } from '../tokenizer/clipTokenizer';
import { DEFAULT_CONCEPTS, parsePhraseList } from './concepts';
import { row } from './directions';

export type VocabularyKind = 'concepts' | 'words' | 'tokens' | 'features';

export interface Vocabulary {
  kind: VocabularyKind;
  space: string;
  dim: number;
  labels: string[];
  /** [V, D] row-major, unit rows. */
  vectors: Float32Array;
  /** One line for reports: what the entries are. */
  description: string;
}

/** A vocabulary could not be built; `field` names the node param or input that has to change. */
export class VocabularyError extends Error {
  override readonly name = 'VocabularyError';
  constructor(
    readonly field: string,
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

/** Names token ids (a CLIP tokenizer, or anything with the same two methods). */
export interface TokenNamer {
  readonly startId?: number;
  readonly endId?: number;
  tokenFor(id: number): string | undefined;
  decode?(ids: number[]): string;
}

export interface BuildOptions {
  /** Called between batches; throw to cancel. */
  onProgress?(done: number, total: number): void;
  /** Awaited between batches (lets a UI breathe and a cancel arrive). */
  yieldEvery?(): Promise<void>;
}

const TEXT_BATCH = 64;
const TOKEN_BATCH = 512;

// ---------------------------------------------------------------------------------------------
// Session cache. Token embeddings of a real CLIP are 49,406 × 512 floats (≈100 MB) and take
// minutes to compute, so they are kept in memory per model for the session, as plain Float32Arrays
// (no tensors: nothing for the executor to track or free). The key is the space id plus a probe
// embedding, so two loads of the same weights share an entry and different weights under the same
// name never do. Not persisted: the Host's writeFile/readFile are scoped to the run's output
// folder, so a float32 .bin keyed by this fingerprint would only survive reruns into the same
// --out; a real cross-session cache (IndexedDB in the editor, ~/.cache in the CLI) needs a Host
// method for a cache folder, which is out of this module's reach.
// ---------------------------------------------------------------------------------------------
const TOKEN_CACHE_LIMIT = 3;
const PHRASE_CACHE_LIMIT = 50_000;
const tokenCache = new Map<string, Float32Array>();
/** Phrase embeddings are cheap; they are keyed by encoder instance (the executor keeps one per Encoder node). */
const phraseCache = new Map<string, Float32Array>();
const instanceIds = new WeakMap<object, number>();
let nextInstanceId = 1;

function instanceId(encoder: object): number {
  let id = instanceIds.get(encoder);
  if (id === undefined) {
    id = nextInstanceId++;
    instanceIds.set(encoder, id);
  }
  return id;
}

/** Drops every cached vocabulary embedding (tests; or to free memory). */
export function clearVocabularyCache(): void {
  tokenCache.clear();
  phraseCache.clear();
}

export function vocabularyCacheSize(): { tokenModels: number; phrases: number } {
  return { tokenModels: tokenCache.size, phrases: phraseCache.size };
}

async function rows(t: tf.Tensor2D): Promise<Float32Array> {
  try {
    return (await t.data()) as Float32Array;
  } finally {
    t.dispose();
  }
}

function fingerprint(values: ArrayLike<number>): string {
  return Array.from(values.length > 8 ? Array.prototype.slice.call(values, 0, 8) : values, (v: number) => v.toFixed(6)).join(',');
}

// ---------------------------------------------------------------------------------------------

/** The encoder's text tower, or a VocabularyError that says why it is needed and what to do. */
export function textTower(encoder: ImageEncoder, what: string): (texts: string[]) => tf.Tensor2D {
  if (encoder.encodeText) return encoder.encodeText.bind(encoder);
  const isClip = encoder instanceof ClipEncoder;
  throw new VocabularyError(
    'encoder',
    `${what} needs T(text), the text embedding of each word in the same space as the direction, but the encoder "${encoder.space}" has no text tower${isClip ? ' (no tokenizer files were found next to its weights)' : ' (it is an image-only encoder)'}.`,
    isClip
      ? 'put tokenizer.json (or vocab.json + merges.txt) next to the CLIP weights, e.g. use openai/clip-vit-base-patch32 from the Hugging Face cache; or pick vocabulary "tokens", which needs no tokenizer.'
      : 'compute the residual with a CLIP Encoder (with tokenizer files) and read it with that encoder; with the stats encoder, pick vocabulary "features" (its named image statistics).',
  );
}

/** T(phrase) for each phrase: unit rows [P, D]; cached per encoder instance and phrase. */
export async function embedPhrases(encoder: ImageEncoder, phrases: string[], what: string, opts: BuildOptions = {}): Promise<Float32Array> {
  const encode = textTower(encoder, what);
  const dim = encoder.dim;
  const key = `${encoder.space}|${instanceId(encoder)}|`;
  const out = new Float32Array(phrases.length * dim);
  const missing = phrases.map((p, i) => [p, i] as const).filter(([p]) => !phraseCache.has(key + p));
  for (let start = 0; start < missing.length; start += TEXT_BATCH) {
    opts.onProgress?.(start, missing.length);
    const chunk = missing.slice(start, start + TEXT_BATCH);
    const data = await rows(encode(chunk.map(([p]) => p)));
    chunk.forEach(([p], j) => {
      if (phraseCache.size >= PHRASE_CACHE_LIMIT) phraseCache.delete(phraseCache.keys().next().value as string);
      phraseCache.set(key + p, data.slice(j * dim, (j + 1) * dim));
    });
    await opts.yieldEvery?.();
  }
  phrases.forEach((p, i) => out.set(phraseCache.get(key + p)!, i * dim));
  opts.onProgress?.(missing.length, missing.length);
  return out;
}

export async function textVocabulary(encoder: ImageEncoder, kind: 'concepts' | 'words', phrases: string[], opts: BuildOptions = {}): Promise<Vocabulary> {
  if (phrases.length === 0) throw new VocabularyError('words', 'The word list is empty.', 'type words or phrases into "words", separated by commas or new lines.');
  const vectors = await embedPhrases(encoder, phrases, `Reading a direction with ${kind === 'concepts' ? 'concept phrases' : 'your words'}`, opts);
  return { kind, space: encoder.space, dim: encoder.dim, labels: [...phrases], vectors, description: `T(phrase) of ${phrases.length} ${kind === 'concepts' ? 'concept phrases' : 'phrases'}` };
}

/**
 * Start and end ids that frame a one-token text: the tokenizer's when known; otherwise CLIP's
 * layout — end-of-text is the highest id (legacy configs with eos_token_id 2 pool at argmax(ids),
 * so it must be) and start-of-text the one before it; newer configs name the end id.
 */
export function tokenFrame(encoder: ClipEncoder, namer?: TokenNamer): { start: number; end: number } {
  const t = encoder.config.text;
  if (namer?.startId !== undefined && namer.endId !== undefined) return { start: namer.startId, end: namer.endId };
  const end = t.eosTokenId === 2 ? t.vocabSize - 1 : t.eosTokenId;
  return { start: end - 1, end };
}

/** Every token id but start/end, encoded as [start, id, end]; named by `namer` or `#id`. */
export async function tokenVocabulary(encoder: ImageEncoder, namer?: TokenNamer, opts: BuildOptions = {}): Promise<Vocabulary> {
  if (!(encoder instanceof ClipEncoder)) {
    throw new VocabularyError(
      'encoder',
      `The "tokens" vocabulary encodes every token of a CLIP text tower, but the encoder "${encoder.space}" is not CLIP${encoder.encodeText ? '' : ' and has no text tower'}.`,
      encoder.encodeText ? 'pick vocabulary "concepts" or "words".' : 'use a CLIP Encoder; with the stats encoder, pick vocabulary "features".',
    );
  }
  const { start, end } = tokenFrame(encoder, namer);
  const vocabSize = encoder.config.text.vocabSize;
  const ids: number[] = [];
  for (let id = 0; id < vocabSize; id++) if (id !== start && id !== end) ids.push(id);
  const dim = encoder.dim;
  const probe = await rows(encoder.encodeTokenIds([[start, ids[0], end]]));
  const key = `${encoder.space}|${fingerprint(probe)}|${start}|${end}|${vocabSize}`;
  let vectors = tokenCache.get(key);
  if (!vectors) {
    vectors = new Float32Array(ids.length * dim);
    for (let s = 0; s < ids.length; s += TOKEN_BATCH) {
      opts.onProgress?.(s, ids.length);
      const chunk = ids.slice(s, s + TOKEN_BATCH).map((id) => [start, id, end]);
      vectors.set(await rows(encoder.encodeTokenIds(chunk)), s * dim);
      await opts.yieldEvery?.();
    }
    if (tokenCache.size >= TOKEN_CACHE_LIMIT) tokenCache.delete(tokenCache.keys().next().value as string);
    tokenCache.set(key, vectors);
  }
  opts.onProgress?.(ids.length, ids.length);
  const labels = ids.map((id) => tokenLabel(id, namer));
  return {
    kind: 'tokens',
    space: encoder.space,
    dim,
    labels,
    vectors,
    description: `${ids.length} tokens as one-token texts [${start}, id, ${end}]${namer ? '' : ' (no tokenizer: named by id)'}`,
  };
}

function tokenLabel(id: number, namer?: TokenNamer): string {
  if (!namer) return `#${id}`;
  const text = namer.decode?.([id]) || namer.tokenFor(id)?.replace(/<\/w>$/, '');
  return text ? text : `#${id}`;
}

/** The named coordinate axes of an encoder whose features mean something (stats:v1). */
export function featureNames(encoder: ImageEncoder): readonly string[] | undefined {
  const named = (encoder as Partial<{ featureNames: readonly string[] }>).featureNames;
  if (named && named.length === encoder.dim) return named;
  if (encoder.space === 'stats:v1' && STATS_FEATURE_NAMES.length === encoder.dim) return STATS_FEATURE_NAMES;
  return undefined;
}

export function featureVocabulary(encoder: ImageEncoder): Vocabulary {
  const names = featureNames(encoder);
  if (!names) {
    throw new VocabularyError('vocabulary', `The encoder "${encoder.space}" has no named feature axes (only the stats encoder has).`, 'pick vocabulary "tokens", "concepts" or "words" (a CLIP encoder).');
  }
  const dim = encoder.dim;
  const vectors = new Float32Array(dim * dim);
  for (let i = 0; i < dim; i++) vectors[i * dim + i] = 1;
  return { kind: 'features', space: encoder.space, dim, labels: [...names], vectors, description: `the ${dim} named statistics of ${encoder.space} (unit axes)` };
}

/**
 * Unit vectors for explicitly chosen directions (concepts to project on or remove): a name of the
 * vocabulary (a token such as `#5`, a feature such as `mean_b`) uses that entry; anything else is
 * embedded as a text, T(phrase), which needs a text tower.
 */
export async function conceptDirections(encoder: ImageEncoder, names: string[], vocab: Vocabulary | undefined, field: string, opts: BuildOptions = {}): Promise<Float32Array> {
  const dim = encoder.dim;
  const out = new Float32Array(names.length * dim);
  const byLabel = new Map<string, number>();
  vocab?.labels.forEach((l, i) => {
    if (!byLabel.has(l)) byLabel.set(l, i);
  });
  const features = featureNames(encoder);
  const featureIndex = new Map(features?.map((n, i) => [n, i]));
  const texts: Array<[string, number]> = [];
  names.forEach((name, i) => {
    const at = byLabel.get(name);
    if (vocab && at !== undefined) out.set(row(vocab.vectors, dim, at), i * dim);
    else if (featureIndex.has(name)) out[i * dim + featureIndex.get(name)!] = 1;
    else texts.push([name, i]);
  });
  if (texts.length) {
    if (!encoder.encodeText) {
      const known = vocab ? `entries of the ${vocab.kind} vocabulary (e.g. ${vocab.labels.slice(0, 3).join(', ')})` : features ? `feature names (e.g. ${features.slice(0, 3).join(', ')})` : 'nothing else';
      throw new VocabularyError(
        field,
        `"${texts[0][0]}" is not a vocabulary entry, and the encoder "${encoder.space}" has no text tower to embed it as T("${texts[0][0]}").`,
        `name ${known}, or use a CLIP Encoder with tokenizer files.`,
      );
    }
    const emb = await embedPhrases(encoder, texts.map(([t]) => t), 'Concept directions', opts);
    texts.forEach(([, i], j) => out.set(emb.subarray(j * dim, (j + 1) * dim), i * dim));
  }
  return out;
}

/** Splits a [N, D] matrix into rows (for gramSchmidt). */
export function splitRows(matrix: Float32Array, dim: number): Float32Array[] {
  return Array.from({ length: matrix.length / dim }, (_, i) => matrix.subarray(i * dim, (i + 1) * dim));
}

/**
 * Token names from tokenizer files read through `read(file)` (a Host's readModelFile bound to a
 * source): tokenizer.json, else vocab.json + merges.txt, else CLIP's bpe_simple_vocab_16e6.txt.gz.
 */
export async function loadTokenNamer(read: (file: string) => Promise<Uint8Array | undefined>): Promise<ClipTokenizer | undefined> {
  const text = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : undefined);
  const tokenizerJson = text(await read('tokenizer.json'));
  if (tokenizerJson) return ClipTokenizer.fromTokenizerJson(tokenizerJson);
  const [vocabJson, merges] = [text(await read('vocab.json')), text(await read('merges.txt'))];
  if (vocabJson && merges) return ClipTokenizer.fromVocabAndMerges(vocabJson, merges);
  const bpe = await read('bpe_simple_vocab_16e6.txt.gz');
  if (bpe) return ClipTokenizer.fromGzippedBpe(bpe);
  return undefined;
}

export interface VocabularyChoice {
  vocabulary: VocabularyKind;
  /** User phrases (newline/comma separated): the whole list for `words`, added to the defaults for `concepts`. */
  words: string;
  /** Where token names come from (`tokens`): a model folder/repo with tokenizer files; '' = the encoder's own tokenizer if it exposes one. */
  tokenizer: string;
}

/**
 * The vocabulary a node's params ask for. `readModelFile` is the Host's (tokenizer files for token
 * names). Throws VocabularyError naming the param or input to change.
 */
export async function vocabularyFor(
  encoder: ImageEncoder,
  choice: VocabularyChoice,
  readModelFile: (source: string, file: string) => Promise<Uint8Array | undefined>,
  opts: BuildOptions = {},
): Promise<Vocabulary> {
  const words = parsePhraseList(choice.words);
  switch (choice.vocabulary) {
    case 'concepts':
      return textVocabulary(encoder, 'concepts', [...new Set([...DEFAULT_CONCEPTS, ...words])], opts);
    case 'words':
      return textVocabulary(encoder, 'words', words, opts);
    case 'features':
      return featureVocabulary(encoder);
    case 'tokens': {
      let namer: TokenNamer | undefined = (encoder as Partial<{ tokenizer: TokenNamer }>).tokenizer;
      if (choice.tokenizer) {
        try {
          namer = await loadTokenNamer((file) => readModelFile(choice.tokenizer, file));
        } catch (err) {
          throw new VocabularyError('tokenizer', `Could not read tokenizer files from "${choice.tokenizer}": ${(err as Error).message}`, 'point tokenizer at a folder with tokenizer.json, vocab.json + merges.txt, or bpe_simple_vocab_16e6.txt.gz (usually the Encoder\'s source), or leave it empty to name tokens by id.');
        }
        if (!namer) {
          throw new VocabularyError('tokenizer', `"${choice.tokenizer}" has no tokenizer.json, vocab.json + merges.txt or bpe_simple_vocab_16e6.txt.gz.`, 'point it at the CLIP model folder (or leave it empty to name tokens by id).');
        }
        if (encoder instanceof ClipEncoder && namer instanceof ClipTokenizer && namer.vocabSize !== encoder.config.text.vocabSize) {
          throw new VocabularyError('tokenizer', `The tokenizer has ${namer.vocabSize} tokens but the model's text tower has ${encoder.config.text.vocabSize}.`, 'use the tokenizer that belongs to these weights, or leave tokenizer empty to name tokens by id.');
        }
      }
      return tokenVocabulary(encoder, namer, opts);
    }
  }
}
