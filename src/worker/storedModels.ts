import { createStore, get, keys, type UseStore } from 'idb-keyval';
import { BacklitError } from '../engine';

/**
 * Model files the user gave the editor (file picker, drop, folder picker), kept in IndexedDB so a
 * graph that uses them still runs after a reload. The UI thread writes them (src/ui/models/); the
 * worker reads them here, through BrowserHost.readModelFile.
 *
 * Layout of the one object store: `set:<id>` → ModelSet (metadata); `blob:<sha256>` → the file as a
 * Blob. IndexedDB keeps Blobs in the browser's blob storage (on disk for large ones), so storing a
 * picked File does not copy it into JS memory; the bytes are read only when a node needs them.
 *
 * A graph refers to a stored model by kind, name and hash:
 *   model:enhancer/<name>@<hash16>/<file>   Enhance `weights` (.pth / .safetensors; one file)
 *   model:enhancer/<name>@<hash16>          Enhance `weights` (a tfjs model.json + weights.bin)
 *   model:clip/<name>@<hash16>              Encoder `source` (config.json, model.safetensors, tokenizer…)
 * where hash16 is the first 16 hex digits of the set id (a file's sha256, or for several files the
 * sha256 of their sorted "name sha256" lines). A receiver without the set gets an error naming the
 * model, its hash and how to add it.
 */

export type ModelKind = 'enhancer' | 'clip';
export type ModelFormat = 'pth' | 'safetensors' | 'tfjs' | 'clip';

export interface StoredFile {
  name: string;
  size: number;
  sha256: string;
}

export interface ModelSet {
  /** sha256 (hex) of the single file, or of the sorted "name sha256" lines of several. */
  id: string;
  name: string;
  kind: ModelKind;
  format: ModelFormat;
  files: StoredFile[];
  /** How it came in: "file picker", "drop", "folder picker", plus the original path where known. */
  source: string;
  addedAt: number;
}

export const MODEL_DB = 'backlit-models';
export const MODEL_STORE = 'models';

let store: UseStore | undefined;
export function modelStore(): UseStore {
  store ??= createStore(MODEL_DB, MODEL_STORE);
  return store;
}

export const HASH_CHARS = 16;

/** The reference a graph stores: the folder-like part (add `/<file>` for single-file weights). */
export function modelRef(set: Pick<ModelSet, 'kind' | 'name' | 'id'>): string {
  return `model:${set.kind}/${set.name}@${set.id.slice(0, HASH_CHARS)}`;
}

/** What a param should hold to use `set`: Enhance's weights (with the file for .pth/.safetensors) or the Encoder's source. */
export function paramRef(set: ModelSet): string {
  return set.kind === 'enhancer' && set.format !== 'tfjs' ? `${modelRef(set)}/${set.files[0].name}` : modelRef(set);
}

export interface ParsedRef {
  kind: ModelKind;
  name: string;
  hash: string;
  /** The file inside the set, when the reference names one. */
  file?: string;
}

const REF = /^model:(enhancer|clip)\/([^/@]+)@([0-9a-f]{8,64})(?:\/(.+))?$/;

export function parseModelRef(ref: string): ParsedRef | undefined {
  const m = REF.exec(ref.trim());
  return m ? { kind: m[1] as ModelKind, name: m[2], hash: m[3], file: m[4] } : undefined;
}

export function isModelRef(ref: string): boolean {
  return ref.trim().startsWith('model:');
}

/** Names usable inside a reference: no "/", "@" or control characters. */
export function safeModelName(name: string): string {
  return name.replace(/[/@\\\u0000-\u001f]+/g, '_').trim() || 'model';
}

export async function listModelSets(): Promise<ModelSet[]> {
  const all = (await keys(modelStore())) as string[];
  const sets = await Promise.all(all.filter((k) => String(k).startsWith('set:')).map((k) => get<ModelSet>(k, modelStore())));
  return sets.filter((s): s is ModelSet => Boolean(s)).sort((a, b) => a.addedAt - b.addedAt);
}

export function findSet(sets: ModelSet[], ref: ParsedRef): ModelSet | undefined {
  return sets.find((s) => s.kind === ref.kind && s.id.startsWith(ref.hash));
}

/** Why a reference cannot be served, in the words of the node field that holds it. */
export function missingModelError(ref: ParsedRef, sets: ModelSet[]): BacklitError {
  const field = ref.kind === 'clip' ? 'source' : 'weights';
  const what = ref.kind === 'clip' ? `the CLIP model "${ref.name}"` : `the enhancer weights "${ref.file ?? ref.name}"`;
  const sameName = sets.find((s) => s.kind === ref.kind && s.name === ref.name);
  const fix =
    ref.kind === 'clip'
      ? `add it on the Encoder node: "CLIP folder…" (a folder with config.json, model.safetensors and tokenizer.json) or "CLIP files…" (pick those files together); its sha256 starts with ${ref.hash}. The Models panel lists what this browser holds.`
      : `add it on the Enhance node: drop the file on it or use "Weights…" (.pth, .safetensors, or model.json with weights.bin); its sha256 starts with ${ref.hash}. The Models panel lists what this browser holds.`;
  return new BacklitError({
    code: 'node-failed',
    field,
    message: `This graph needs ${what} (sha256 ${ref.hash}…), which is not stored in this browser${sameName ? ` (a different "${sameName.name}", sha256 ${sameName.id.slice(0, HASH_CHARS)}…, is)` : ''}.`,
    fix,
  });
}

/**
 * One file of a stored model set: the worker's side of readModelFile for `model:` sources.
 * Undefined when the set exists but lacks the file (e.g. no tokenizer.json); an error naming the
 * model and how to add it when the set itself is not in this browser.
 */
export async function readStoredModelFile(source: string, file: string): Promise<Uint8Array | undefined> {
  const ref = parseModelRef(source);
  if (!ref || ref.file) {
    throw new BacklitError({ code: 'node-failed', message: `"${source}" is not a stored-model reference.`, fix: 'pick the model again with the node\'s file buttons; references look like model:enhancer/<name>@<hash>.' });
  }
  const sets = await listModelSets();
  const set = findSet(sets, ref);
  // Name the file itself for single-file weights (the reference's folder part carries only the set name).
  if (!set) throw missingModelError(ref.kind === 'enhancer' && /\.(pth|pt|safetensors)$/i.test(file) ? { ...ref, file } : ref, sets);
  let entry = set.files.find((f) => f.name === file);
  // A tfjs export's weights may be named after its manifest (group1-shard1of1.bin); Enhance asks for weights.bin.
  if (!entry && file === 'weights.bin' && set.format === 'tfjs') {
    const bins = set.files.filter((f) => f.name.endsWith('.bin'));
    if (bins.length === 1) entry = bins[0];
  }
  if (!entry) return undefined;
  const blob = await get<Blob>(`blob:${entry.sha256}`, modelStore());
  if (!blob) throw missingModelError(ref, []);
  return new Uint8Array(await blob.arrayBuffer());
}
