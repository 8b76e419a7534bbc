/**
 * Host-neutral CLIP loading: from in-memory HF files, or from any URL base through a `fetch`-like
 * function (a static server, or the Hugging Face hub's `resolve` URLs). The hub path needs network,
 * which this workplace does not have, so it is exercised in tests with a fake fetch only.
 */
import { ClipTokenizer } from '../tokenizer/clipTokenizer';
import { ClipEncoder, type ClipTextTokenizer } from './encoder';

/** The files of an HF CLIP folder, as loaded by a host. Only config and weights are required. */
export interface ClipFolderFiles {
  config: string;
  weights: Uint8Array | ArrayBuffer;
  preprocessorConfig?: string;
  tokenizerJson?: string;
  vocabJson?: string;
  mergesTxt?: string;
}

export interface ClipLoadOptions {
  /** Name in the space id (`clip:<name>`); defaults to the folder/repo name. */
  name?: string;
  /** Overrides tokenizer files in the folder (e.g. ClipTokenizer.fromGzippedBpe of CLIP's merges). */
  tokenizer?: ClipTextTokenizer;
}

/** Picks the tokenizer a folder provides: tokenizer.json, else vocab.json + merges.txt, else none. */
export function tokenizerFromFiles(files: Pick<ClipFolderFiles, 'tokenizerJson' | 'vocabJson' | 'mergesTxt'>): ClipTokenizer | undefined {
  if (files.tokenizerJson) return ClipTokenizer.fromTokenizerJson(files.tokenizerJson);
  if (files.vocabJson && files.mergesTxt) return ClipTokenizer.fromVocabAndMerges(files.vocabJson, files.mergesTxt);
  return undefined;
}

export function clipFromFiles(files: ClipFolderFiles, options: ClipLoadOptions & { name: string }): ClipEncoder {
  const tokenizer = options.tokenizer ?? tokenizerFromFiles(files);
  return ClipEncoder.fromBytes(
    { config: files.config, weights: files.weights, preprocessorConfig: files.preprocessorConfig },
    { name: options.name, tokenizer },
  );
}

/** The subset of the Fetch API the loader uses (window.fetch, Node's fetch, or a test double). */
export interface FetchedFile {
  ok: boolean;
  status: number;
  arrayBuffer(): Promise<ArrayBuffer>;
  text(): Promise<string>;
}
export type FetchLike = (url: string) => Promise<FetchedFile>;

/** `https://huggingface.co/<repo>/resolve/<revision>/` — where the hub serves a repo's files. */
export function hubBaseUrl(repo: string, revision = 'main', endpoint = 'https://huggingface.co'): string {
  return `${endpoint.replace(/\/$/, '')}/${repo}/resolve/${encodeURIComponent(revision)}/`;
}

/** Loads config.json + model.safetensors (+ optional processor/tokenizer files) under `baseUrl`. */
export async function loadClipFromUrl(baseUrl: string, options: ClipLoadOptions & { fetch?: FetchLike } = {}): Promise<ClipEncoder> {
  const fetchFn: FetchLike = options.fetch ?? ((url) => fetch(url));
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const get = async (file: string, required: boolean): Promise<FetchedFile | undefined> => {
    let response: FetchedFile;
    try {
      response = await fetchFn(base + file);
    } catch (e) {
      if (!required) return undefined;
      throw new Error(`could not download ${base + file} (${(e as Error).message}); without network, load CLIP from a local folder instead.`);
    }
    if (!response.ok) {
      if (!required) return undefined;
      throw new Error(`${base + file} answered HTTP ${response.status}; check the model name/revision (a CLIP repo in HF format has config.json and model.safetensors).`);
    }
    return response;
  };
  const text = async (file: string) => (await get(file, false))?.text();
  const [configResponse, weightsResponse] = await Promise.all([get('config.json', true), get('model.safetensors', true)]);
  const files: ClipFolderFiles = {
    config: await (configResponse as FetchedFile).text(),
    weights: await (weightsResponse as FetchedFile).arrayBuffer(),
    preprocessorConfig: await text('preprocessor_config.json'),
    tokenizerJson: await text('tokenizer.json'),
  };
  const name = options.name ?? (base.split('/').filter(Boolean).pop() || 'clip');
  return clipFromFiles(files, { ...options, name });
}

/** Hub download (needs network): `loadClipFromHub('openai/clip-vit-base-patch32')`. */
export async function loadClipFromHub(repo: string, options: ClipLoadOptions & { fetch?: FetchLike; revision?: string; endpoint?: string } = {}): Promise<ClipEncoder> {
  return loadClipFromUrl(hubBaseUrl(repo, options.revision, options.endpoint), { ...options, name: options.name ?? repo.split('/').pop() });
}
