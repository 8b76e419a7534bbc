/**
 * Test-only helpers (Node): the tiny random-weight CLIP fixture, optionally with a toy tokenizer
 * that maps whole words to fixed token ids so text paths (concepts, words) can run on it.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ClipEncoder, type ClipTextTokenizer } from '../clip/encoder';
import { sharedDataDir } from '../testing';

export const TINY_CLIP_DIR = path.join(sharedDataDir, 'tiny-clip');
/** The tiny CLIP's one-token frame: start 31, end 32 = the highest id (argmax pooling). */
export const TINY_START = 31;
export const TINY_END = 32;

/**
 * A tokenizer for the 33-id tiny vocabulary: each word of a text is looked up in `words` (its id),
 * unknown words fail. Rows are [start, ids…, end] padded with 0, like clip.tokenize.
 */
export function toyTokenizer(words: Record<string, number>): ClipTextTokenizer {
  return {
    tokenize(texts, contextLength) {
      return texts.map((t) => {
        const ids = t.split(/\s+/).filter(Boolean).map((w) => {
          const id = words[w];
          if (id === undefined) throw new Error(`toy tokenizer: unknown word "${w}"`);
          return id;
        });
        const row = [TINY_START, ...ids, TINY_END];
        return [...row, ...new Array<number>(contextLength - row.length).fill(0)];
      });
    },
  };
}

export function tinyClip(opts: { tokenizer?: ClipTextTokenizer; name?: string } = {}): ClipEncoder {
  return ClipEncoder.fromBytes(
    { config: readFileSync(path.join(TINY_CLIP_DIR, 'config.json'), 'utf8'), weights: new Uint8Array(readFileSync(path.join(TINY_CLIP_DIR, 'model.safetensors'))) },
    { name: opts.name ?? 'tiny-clip', tokenizer: opts.tokenizer },
  );
}

/** Unit token embeddings of ids, each as the one-token text [31, id, 32], computed directly. */
export function tinyTokenEmbeddings(clip: ClipEncoder, ids: number[]): number[][] {
  const t = clip.encodeTokenIds(ids.map((id) => [TINY_START, id, TINY_END]));
  const rows = t.arraySync();
  t.dispose();
  return rows;
}
