/**
 * CLIP's byte-level BPE tokenizer (OpenAI `simple_tokenizer` semantics, as `clip.tokenize`).
 *
 * Sources: the merges file `bpe_simple_vocab_16e6.txt(.gz)` (vocab is derived from it, as CLIP does),
 * an HF `tokenizer.json`, or HF `vocab.json` + `merges.txt`. No ftfy: text cleaning is NFC
 * normalisation, curly quotes → straight (ftfy's uncurl_quotes), HTML unescape twice, whitespace
 * collapse, lower-casing. ftfy's mojibake repair is not reproduced (it only matters for broken text).
 */

export const START_OF_TEXT = '<|startoftext|>';
export const END_OF_TEXT = '<|endoftext|>';
/** Number of merges CLIP reads from the merges file (49152 − 256 − 2). */
const CLIP_MERGE_COUNT = 49152 - 256 - 2;

const PRE_TOKENIZER = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;

export class TokenizerError extends Error {
  override readonly name = 'TokenizerError';
}

/** GPT-2/CLIP's reversible byte → printable character table. */
export function bytesToUnicode(): Map<number, string> {
  const bytes: number[] = [];
  for (let b = '!'.charCodeAt(0); b <= '~'.charCodeAt(0); b++) bytes.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bytes.push(b);
  for (let b = 0xae; b <= 0xff; b++) bytes.push(b);
  const chars = bytes.slice();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (!bytes.includes(b)) {
      bytes.push(b);
      chars.push(256 + extra++);
    }
  }
  return new Map(bytes.map((b, i) => [b, String.fromCharCode(chars[i])]));
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

/** Python html.unescape for numeric and the common named entities. */
function unescapeHtml(text: string): string {
  return text.replace(/&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);/g, (whole, body: string) => {
    if (body[0] === '#') {
      const code = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return NAMED_ENTITIES[body] ?? whole;
  });
}

/** CLIP's basic_clean + whitespace_clean + lower(), minus ftfy's mojibake repair. */
export function cleanText(text: string): string {
  let t = text.normalize('NFC');
  t = t.replace(/[\u2018\u2019]/g, "'").replace(/[\u201c\u201d]/g, '"');
  t = unescapeHtml(unescapeHtml(t)).trim();
  return t.replace(/\s+/gu, ' ').trim().toLowerCase();
}

export interface TokenizeOptions {
  /** Pad/truncate to this many ids (CLIP: 77). */
  contextLength?: number;
  /** Padding id; OpenAI's clip.tokenize pads with 0. The causal mask makes it irrelevant to pooling. */
  padId?: number;
}

export class ClipTokenizer {
  readonly startId: number;
  readonly endId: number;
  readonly vocabSize: number;
  private readonly encoder: Map<string, number>;
  private readonly decoder: Map<number, string>;
  private readonly ranks: Map<string, number>;
  private readonly byteEncoder = bytesToUnicode();
  private readonly cache = new Map<string, string[]>();

  /** `merges` in priority order, each "left right". */
  constructor(vocab: Map<string, number>, merges: string[]) {
    this.encoder = vocab;
    this.decoder = new Map([...vocab].map(([k, v]) => [v, k]));
    this.ranks = new Map(merges.map((m, i) => [m, i]));
    const start = vocab.get(START_OF_TEXT);
    const end = vocab.get(END_OF_TEXT);
    if (start === undefined || end === undefined) {
      throw new TokenizerError(`the vocabulary has no ${START_OF_TEXT} / ${END_OF_TEXT} tokens; is this a CLIP tokenizer?`);
    }
    this.startId = start;
    this.endId = end;
    this.vocabSize = vocab.size;
  }

  /** From the text of CLIP's merges file (bpe_simple_vocab_16e6.txt): vocab is built as CLIP does. */
  static fromBpeMerges(mergesText: string): ClipTokenizer {
    const lines = mergesText.split('\n');
    const merges = lines.slice(1, CLIP_MERGE_COUNT + 1).filter((l) => l.length > 0);
    if (merges.length !== CLIP_MERGE_COUNT || merges.some((m) => m.split(' ').length !== 2)) {
      throw new TokenizerError(`expected ${CLIP_MERGE_COUNT} "a b" merge lines after the header, found ${merges.length}; is this bpe_simple_vocab_16e6.txt?`);
    }
    const base = [...bytesToUnicode().values()];
    const tokens = [...base, ...base.map((c) => c + '</w>'), ...merges.map((m) => m.replace(' ', '')), START_OF_TEXT, END_OF_TEXT];
    return new ClipTokenizer(new Map(tokens.map((t, i) => [t, i])), merges);
  }

  /** From the gzipped merges file bytes (uses DecompressionStream: Node ≥ 18 and browsers). */
  static async fromGzippedBpe(gzipped: Uint8Array | ArrayBuffer): Promise<ClipTokenizer> {
    // Copy into a plain ArrayBuffer-backed view: Blob rejects SharedArrayBuffer-backed views.
    const bytes = new Uint8Array(gzipped instanceof Uint8Array ? gzipped : new Uint8Array(gzipped));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    return ClipTokenizer.fromBpeMerges(await new Response(stream).text());
  }

  /** From an HF `tokenizer.json` (BPE model with vocab + merges). */
  static fromTokenizerJson(input: string | object): ClipTokenizer {
    const raw = (typeof input === 'string' ? JSON.parse(input) : input) as { model?: { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[] } };
    const model = raw.model;
    if (!model || model.type !== 'BPE' || !model.vocab || !Array.isArray(model.merges)) {
      throw new TokenizerError('tokenizer.json: expected a BPE model with "vocab" and "merges" (a CLIP tokenizer.json).');
    }
    const merges = model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
    return new ClipTokenizer(new Map(Object.entries(model.vocab)), merges);
  }

  /** From HF `vocab.json` + `merges.txt` (first line a "#version" header). */
  static fromVocabAndMerges(vocabJson: string | Record<string, number>, mergesTxt: string): ClipTokenizer {
    const vocab = typeof vocabJson === 'string' ? (JSON.parse(vocabJson) as Record<string, number>) : vocabJson;
    const merges = mergesTxt.split('\n').filter((l, i) => l.length > 0 && !(i === 0 && l.startsWith('#')));
    return new ClipTokenizer(new Map(Object.entries(vocab)), merges);
  }

  private bpe(token: string): string[] {
    const cached = this.cache.get(token);
    if (cached) return cached;
    if (token === START_OF_TEXT || token === END_OF_TEXT) return [token];
    const chars = Array.from(token);
    let word = [...chars.slice(0, -1), chars[chars.length - 1] + '</w>'];
    while (word.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const rank = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) break;
      // Merge every occurrence of the best pair, left to right, as CLIP does.
      const [first, second] = [word[best], word[best + 1]];
      const merged: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (i < word.length - 1 && word[i] === first && word[i + 1] === second) {
          merged.push(first + second);
          i++;
        } else {
          merged.push(word[i]);
        }
      }
      word = merged;
    }
    if (this.cache.size < 50_000) this.cache.set(token, word);
    return word;
  }

  /** Text → BPE ids without start/end tokens. */
  encode(text: string): number[] {
    const ids: number[] = [];
    const utf8 = new TextEncoder();
    for (const match of cleanText(text).matchAll(PRE_TOKENIZER)) {
      const piece = match[0];
      const encoded = piece === START_OF_TEXT || piece === END_OF_TEXT ? piece : Array.from(utf8.encode(piece), (b) => this.byteEncoder.get(b)).join('');
      for (const bpeToken of this.bpe(encoded)) {
        const id = this.encoder.get(bpeToken);
        if (id === undefined) throw new TokenizerError(`BPE produced "${bpeToken}", which is not in the vocabulary; vocab and merges do not belong together.`);
        ids.push(id);
      }
    }
    return ids;
  }

  /**
   * `clip.tokenize`: start + ids + end, truncated to `contextLength` keeping the end token last,
   * padded with `padId`.
   */
  tokenize(texts: string[], contextLength = 77, padId = 0): number[][] {
    return texts.map((text) => {
      let ids = [this.startId, ...this.encode(text), this.endId];
      if (ids.length > contextLength) {
        ids = ids.slice(0, contextLength);
        ids[contextLength - 1] = this.endId;
      }
      return [...ids, ...new Array<number>(contextLength - ids.length).fill(padId)];
    });
  }

  /** The BPE token string of an id (e.g. "cat</w>"), for vocabulary listings. */
  tokenFor(id: number): string | undefined {
    return this.decoder.get(id);
  }

  /** Ids → text (special tokens dropped, `</w>` → space). */
  decode(ids: number[]): string {
    const byteDecoder = new Map([...this.byteEncoder].map(([b, c]) => [c, b]));
    const text = ids
      .filter((id) => id !== this.startId && id !== this.endId && this.decoder.has(id))
      .map((id) => this.decoder.get(id) as string)
      .join('');
    const bytes = Array.from(text.replace(/<\/w>/g, ' ')).map((c) => byteDecoder.get(c) ?? 0x20);
    return new TextDecoder().decode(new Uint8Array(bytes)).trim();
  }
}
