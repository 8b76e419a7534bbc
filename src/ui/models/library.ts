import { del, get, set } from 'idb-keyval';
import { create } from 'zustand';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { listModelSets, modelStore, paramRef, safeModelName, type ModelFormat, type ModelKind, type ModelSet, type StoredFile } from '../../worker/storedModels';

/**
 * The browser's model library (UI thread): classifies picked/dropped files, hashes them in a worker,
 * stores them in IndexedDB (as Blobs: no copy in JS memory), lists and deletes them. The executor's
 * worker reads them through BrowserHost (src/worker/storedModels.ts).
 */

export interface ModelsState {
  sets: ModelSet[];
  /** File being hashed/stored, with progress 0..1, while adding. */
  busy?: { label: string; progress: number };
  error?: string;
  refresh(): Promise<void>;
}

export const useModels = create<ModelsState>((setState) => ({
  sets: [],
  async refresh() {
    try {
      setState({ sets: await listModelSets() });
    } catch (err) {
      setState({ error: `The model library could not be read (${(err as Error).message}).` });
    }
  },
}));

let hasher: Worker | undefined;
let nextId = 1;

/** sha256 of a File in the hash worker, reporting progress (bytes done, total). */
export function hashFile(file: Blob, onProgress?: (done: number, total: number) => void): Promise<string> {
  hasher ??= new Worker(new URL('./hash.worker.ts', import.meta.url), { type: 'module', name: 'backlit-hash' });
  const worker = hasher;
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const onMessage = (e: MessageEvent<{ id: number; done?: number; total?: number; sha256?: string; error?: string }>) => {
      if (e.data.id !== id) return;
      if (e.data.sha256) {
        worker.removeEventListener('message', onMessage);
        resolve(e.data.sha256);
      } else if (e.data.error) {
        worker.removeEventListener('message', onMessage);
        reject(new Error(e.data.error));
      } else if (e.data.done !== undefined) onProgress?.(e.data.done, e.data.total ?? file.size);
    };
    worker.addEventListener('message', onMessage);
    worker.postMessage({ id, file });
  });
}

export interface Classified {
  kind: ModelKind;
  format: ModelFormat;
  files: File[];
  name: string;
}

const CLIP_FILES = new Set(['config.json', 'model.safetensors', 'tokenizer.json', 'vocab.json', 'merges.txt', 'preprocessor_config.json', 'special_tokens_map.json', 'tokenizer_config.json']);

function stem(name: string): string {
  return name.replace(/\.[^.]+$/, '');
}

/** The folder a directory pick came from (webkitRelativePath "clip-vit-b32/config.json"). */
function folderOf(files: File[]): string | undefined {
  const rel = files.map((f) => (f as File & { webkitRelativePath?: string }).webkitRelativePath).find(Boolean);
  return rel && rel.includes('/') ? rel.split('/')[0] : undefined;
}

/**
 * What a set of files is, for the node it was given to. Enhance: one .pth/.pt/.safetensors, or a
 * tfjs model.json with its .bin. Encoder: a CLIP folder (config.json + model.safetensors, plus
 * tokenizer files; other files in the folder are left out). Throws with what is missing.
 */
export function classify(list: File[], forKind: ModelKind): Classified {
  const files = list.filter((f) => !f.name.startsWith('.'));
  const folder = folderOf(files);
  if (forKind === 'clip') {
    const kept = files.filter((f) => CLIP_FILES.has(f.name));
    const names = new Set(kept.map((f) => f.name));
    const missing = ['config.json', 'model.safetensors'].filter((n) => !names.has(n));
    if (missing.length) {
      throw new Error(`A CLIP model needs config.json and model.safetensors (plus tokenizer.json, or vocab.json and merges.txt, for the text tower); ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing from the ${files.length} file(s) given (pytorch_model.bin must be converted to safetensors first).`);
    }
    return { kind: 'clip', format: 'clip', files: kept, name: safeModelName(folder ?? 'clip') };
  }
  const weights = files.filter((f) => /\.(pth|pt|safetensors)$/i.test(f.name));
  const json = files.find((f) => f.name === 'model.json');
  if (json) {
    const bins = files.filter((f) => f.name.endsWith('.bin'));
    if (!bins.length) throw new Error('A tfjs model.json needs its weights file (.bin) too: pick or drop both together.');
    return { kind: 'enhancer', format: 'tfjs', files: [json, ...bins], name: safeModelName(folder ?? 'tfjs-enhancer') };
  }
  if (weights.length === 1) {
    const f = weights[0];
    return { kind: 'enhancer', format: /\.safetensors$/i.test(f.name) ? 'safetensors' : 'pth', files: [f], name: safeModelName(stem(f.name)) };
  }
  if (weights.length > 1) throw new Error(`${weights.length} weights files were given (${weights.map((f) => f.name).join(', ')}); an Enhance node takes one: drop them one at a time on separate nodes.`);
  throw new Error(`None of ${files.map((f) => `"${f.name}"`).join(', ') || 'the files'} is enhancer weights: use a .pth (released CLIP-LIT/RAVE), a .safetensors saved by Backlit Studio, or a tfjs model.json with its .bin.`);
}

/** Hashes and stores classified files; returns the stored set (an existing one when already there). */
export async function storeModel(c: Classified, source: string): Promise<ModelSet> {
  const state = useModels.setState;
  const total = c.files.reduce((s, f) => s + f.size, 0);
  let before = 0;
  const stored: StoredFile[] = [];
  try {
    for (const f of c.files) {
      state({ busy: { label: `Hashing ${f.name}`, progress: before / Math.max(1, total) }, error: undefined });
      const hex = await hashFile(f, (done) => state({ busy: { label: `Hashing ${f.name}`, progress: (before + done) / Math.max(1, total) } }));
      const key = `blob:${hex}`;
      // Blobs go to IndexedDB as they are (File objects): the browser copies them into its own storage.
      if (!(await get(key, modelStore()))) await set(key, f, modelStore());
      stored.push({ name: f.name, size: f.size, sha256: hex });
      before += f.size;
    }
    stored.sort((a, b) => a.name.localeCompare(b.name));
    const id = stored.length === 1 ? stored[0].sha256 : bytesToHex(sha256(new TextEncoder().encode(stored.map((f) => `${f.name} ${f.sha256}\n`).join(''))));
    const existing = await get<ModelSet>(`set:${id}`, modelStore());
    const entry: ModelSet = existing ?? { id, name: c.name, kind: c.kind, format: c.format, files: stored, source, addedAt: Date.now() };
    if (!existing) await set(`set:${id}`, entry, modelStore());
    await useModels.getState().refresh();
    return entry;
  } catch (err) {
    const msg = (err as Error).name === 'QuotaExceededError' ? 'the browser refused to store it (storage quota full): delete models you no longer need in the Models panel' : (err as Error).message;
    state({ error: `Could not store ${c.name}: ${msg}.` });
    throw new Error(msg);
  } finally {
    state({ busy: undefined });
  }
}

/** Deletes a set and every file blob no other set uses. */
export async function deleteModel(id: string): Promise<void> {
  const sets = await listModelSets();
  const gone = sets.find((s) => s.id === id);
  if (!gone) return;
  await del(`set:${id}`, modelStore());
  const stillUsed = new Set(sets.filter((s) => s.id !== id).flatMap((s) => s.files.map((f) => f.sha256)));
  for (const f of gone.files) if (!stillUsed.has(f.sha256)) await del(`blob:${f.sha256}`, modelStore());
  await useModels.getState().refresh();
}

/** The param a node should hold for `set`. */
export { paramRef };

export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} B`;
}
