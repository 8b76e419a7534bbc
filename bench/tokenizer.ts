/**
 * CLIP tokenizer: ours (src/ml/tokenizer, hand-written BPE) against transformers.js's
 * (`@huggingface/transformers` CLIPTokenizer, which runs `@huggingface/tokenizers`), on the same
 * vocabulary: ids (must agree exactly) and speed.
 *
 *   npx tsx bench/tokenizer.ts [--transformers <dir containing node_modules/@huggingface/transformers>]
 *
 * transformers.js is not a dependency (see bench/RESULTS.md for why): install it somewhere else,
 * e.g. `mkdir /tmp/tjs && cd /tmp/tjs && npm init -y && ONNXRUNTIME_NODE_INSTALL=skip npm install @huggingface/transformers@4.3.1`.
 * Both tokenizers load the shared CLIP BPE merges (../shared/data/clip-bpe); transformers.js gets
 * the equivalent HF tokenizer.json built here (the layout of openai/clip-vit-base-patch32's:
 * NFC + whitespace collapse + lowercase, CLIP's split regex, byte-level BPE with "</w>" suffix,
 * <|startoftext|> … <|endoftext|>).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ClipTokenizer } from '../src/ml/tokenizer';
import { sharedDataDir } from '../src/ml/testing';

const argv = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};

interface HfTokenizer {
  encode(text: string, opts?: { add_special_tokens?: boolean }): number[];
}

function tokenizerJson(ours: ClipTokenizer, merges: string[]): object {
  const vocab: Record<string, number> = {};
  for (let id = 0; id < ours.vocabSize; id++) vocab[ours.tokenFor(id) as string] = id;
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(ours.startId, '<|startoftext|>'), special(ours.endId, '<|endoftext|>')],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }] },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: ['<|endoftext|>', ours.endId], cls: ['<|startoftext|>', ours.startId], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: '<|endoftext|>', continuing_subword_prefix: '', end_of_word_suffix: '</w>', fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

const time = (f: () => void): number => {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
};

async function main(): Promise<void> {
  const gz = readFileSync(path.join(sharedDataDir, 'clip-bpe/bpe_simple_vocab_16e6.txt.gz'));
  let ours!: ClipTokenizer;
  const oursLoad = performance.now();
  ours = await ClipTokenizer.fromGzippedBpe(gz);
  const oursLoadMs = performance.now() - oursLoad;
  const mergesText = await new Response(new Blob([new Uint8Array(gz)]).stream().pipeThrough(new DecompressionStream('gzip'))).text();
  const merges = mergesText.split('\n').slice(1, 49152 - 256 - 2 + 1);
  const json = tokenizerJson(ours, merges);

  const base = arg('--transformers') ?? process.cwd();
  const req = createRequire(path.join(base, 'package.json'));
  const entry = req.resolve('@huggingface/transformers');
  const tjs = (await import(pathToFileURL(entry).href)) as { CLIPTokenizer: new (json: object, config: object) => HfTokenizer; env: { version?: string } };
  const config = { tokenizer_class: 'CLIPTokenizer', bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', pad_token: '<|endoftext|>', model_max_length: 77, do_lower_case: true };
  let hf!: HfTokenizer;
  const hfLoadMs = time(() => (hf = new tjs.CLIPTokenizer(json, config)));

  // Texts: the Python-reference fixture cases, every vocabulary entry as text (the vocabulary-ranking
  // path decodes and re-encodes all 49,408), and sentences made of vocabulary words.
  const fixture = JSON.parse(readFileSync(new URL('../src/ml/tokenizer/fixtures/clip_ids.json', import.meta.url), 'utf8')) as { cases: { text: string }[] };
  const vocabTexts: string[] = [];
  for (let id = 0; id < ours.vocabSize; id++) vocabTexts.push(ours.decode([id]));
  const words = vocabTexts.filter((t) => /^[a-z]{3,}$/.test(t.trim()));
  const sentences: string[] = [];
  let seed = 1;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 5000; i++) sentences.push(Array.from({ length: 4 + Math.floor(rnd() * 12) }, () => words[Math.floor(rnd() * words.length)].trim()).join(rnd() < 0.2 ? ', ' : ' ') + (rnd() < 0.5 ? '.' : ''));
  const sets: [string, string[]][] = [['fixture cases (16, incl. unicode, html, specials)', fixture.cases.map((c) => c.text)], ['all 49,408 vocabulary entries as text', vocabTexts], ['5,000 sentences of vocabulary words', sentences]];

  const ids = (t: ClipTokenizer, text: string) => [t.startId, ...t.encode(text), t.endId];
  console.log(`# CLIP tokenizer: ours (src/ml/tokenizer) vs transformers.js ${tjs.env.version ?? ''} CLIPTokenizer (@huggingface/tokenizers), same BPE merges; Node ${process.version}`);
  console.log(`# load: ours ${oursLoadMs.toFixed(0)} ms (gunzip + vocab from merges); transformers.js ${hfLoadMs.toFixed(0)} ms (from the tokenizer.json object)`);
  console.log('');
  console.log('| texts | agree exactly | disagree on | ours ms (1st / 2nd pass) | transformers.js ms (1st / 2nd) | ours / transformers.js |');
  console.log('|---|---|---|---|---|---|');
  for (const [label, texts] of sets) {
    let agree = 0;
    let first = '';
    for (const t of texts) {
      const a = ids(ours, t);
      const b = hf.encode(t);
      if (a.length === b.length && a.every((v, i) => v === b[i])) agree++;
      else first += `${first ? '; ' : ''}${JSON.stringify(t.slice(0, 28))}`;
    }
    // Timing: fresh tokenizers; the 1st pass is cold, the 2nd hits the per-word BPE caches both keep.
    const fresh = await ClipTokenizer.fromGzippedBpe(gz);
    const freshHf = new tjs.CLIPTokenizer(json, config);
    const a0 = time(() => texts.forEach((t) => fresh.encode(t)));
    const b0 = time(() => texts.forEach((t) => freshHf.encode(t)));
    const a = time(() => texts.forEach((t) => fresh.encode(t)));
    const b = time(() => texts.forEach((t) => freshHf.encode(t)));
    console.log(`| ${label} | ${agree}/${texts.length} | ${first || '—'} | ${a0.toFixed(1)} / ${a.toFixed(1)} | ${b0.toFixed(1)} / ${b.toFixed(1)} | ${(a0 / b0).toFixed(2)}× / ${(a / b).toFixed(2)}× |`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
