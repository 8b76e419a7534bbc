import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sharedDataDir } from '../testing';
import { ClipTokenizer, cleanText } from './clipTokenizer';

interface IdsFixture {
  context_length: number;
  cases: { text: string; ids: number[] }[];
}
const fixture = JSON.parse(readFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures/clip_ids.json'), 'utf8')) as IdsFixture;
let tokenizer: ClipTokenizer;

beforeAll(async () => {
  tokenizer = await ClipTokenizer.fromGzippedBpe(readFileSync(path.join(sharedDataDir, 'clip-bpe/bpe_simple_vocab_16e6.txt.gz')));
});

describe('ClipTokenizer (bpe_simple_vocab_16e6)', () => {
  it('has CLIP vocabulary size and special ids', () => {
    expect(tokenizer.vocabSize).toBe(49408);
    expect(tokenizer.startId).toBe(49406);
    expect(tokenizer.endId).toBe(49407);
  });

  it('"a photo of a cat" gives the well-known ids', () => {
    expect(tokenizer.tokenize(['a photo of a cat'])[0].slice(0, 8)).toEqual([49406, 320, 1125, 539, 320, 2368, 49407, 0]);
  });

  it.each(fixture.cases.map((c) => [c.text.slice(0, 48), c] as const))('matches the Python reference: %s', (_label, c) => {
    expect(tokenizer.tokenize([c.text], fixture.context_length)[0]).toEqual(c.ids);
  });

  it('truncates long text to 77 ids keeping the end token', () => {
    const ids = tokenizer.tokenize(['word '.repeat(200)])[0];
    expect(ids.length).toBe(77);
    expect(ids[0]).toBe(49406);
    expect(ids[76]).toBe(49407);
    expect(ids.filter((i) => i === 0).length).toBe(0);
  });

  it('pads to a shorter context (tiny models) and with a chosen pad id', () => {
    expect(tokenizer.tokenize(['a cat'], 6, 49407)[0]).toEqual([49406, 320, 2368, 49407, 49407, 49407]);
  });

  it('decodes back to the cleaned text', () => {
    expect(tokenizer.decode(tokenizer.encode("Café, it's 3 o'clock!"))).toBe("café , it 's 3 o ' clock !");
  });

  it('cleans like CLIP without ftfy', () => {
    expect(cleanText('  A\u00a0B\t\nC &amp;amp; \u201cq\u201d ')).toBe('a b c & "q"');
  });

  it('loads the same vocabulary from an HF tokenizer.json and vocab.json + merges.txt', async () => {
    // Built here from the merges file: exercises the HF parsing paths, not an independent vocabulary.
    const text = new TextDecoder().decode(await new Response(new Blob([readFileSync(path.join(sharedDataDir, 'clip-bpe/bpe_simple_vocab_16e6.txt.gz'))]).stream().pipeThrough(new DecompressionStream('gzip'))).arrayBuffer());
    const merges = text.split('\n').slice(1, 49152 - 256 - 2 + 1);
    const vocab: Record<string, number> = {};
    for (let id = 0; id < 49408; id++) vocab[tokenizer.tokenFor(id) as string] = id;
    const fromJson = ClipTokenizer.fromTokenizerJson({ model: { type: 'BPE', vocab, merges: merges.map((m) => m.split(' ')) } });
    const fromFiles = ClipTokenizer.fromVocabAndMerges(JSON.stringify(vocab), '#version: 0.2\n' + merges.join('\n'));
    for (const c of fixture.cases) {
      expect(fromJson.tokenize([c.text])[0]).toEqual(c.ids);
      expect(fromFiles.tokenize([c.text])[0]).toEqual(c.ids);
    }
    expect(() => ClipTokenizer.fromTokenizerJson({ model: { type: 'WordPiece' } })).toThrow(/expected a BPE model/);
  });

  it('rejects a file that is not CLIP merges', () => {
    expect(() => ClipTokenizer.fromBpeMerges('#version\na b\n')).toThrow(/expected 48894 "a b" merge lines/);
  });
});
