/**
 * Node-only CLIP loader (uses node:fs): a local HF folder, or a repo id resolved in the HF cache
 * (`$HF_HOME/hub/models--org--name/snapshots/<rev>/`). Browsers use load.ts instead.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ClipEncoder } from './encoder';
import { clipFromFiles, type ClipLoadOptions } from './load';

function readOptional(file: string): string | undefined {
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

/** HF cache root: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
export function hfHubCacheDir(env: Record<string, string | undefined> = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  const home = env.HF_HOME ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'huggingface');
  return path.join(home, 'hub');
}

/** Snapshot folder of `org/name` at `revision` (a branch in refs/, or a commit hash). */
export function resolveHfSnapshot(repo: string, options: { revision?: string; cacheDir?: string } = {}): string {
  const cacheDir = options.cacheDir ?? hfHubCacheDir();
  const repoDir = path.join(cacheDir, `models--${repo.split('/').join('--')}`);
  if (!existsSync(repoDir)) {
    throw new Error(`"${repo}" is not in the Hugging Face cache (${repoDir} does not exist). Download it where there is network (huggingface-cli download ${repo}) or pass a local folder.`);
  }
  const revision = options.revision ?? 'main';
  const refFile = path.join(repoDir, 'refs', revision);
  const commit = existsSync(refFile) ? readFileSync(refFile, 'utf8').trim() : revision;
  const snapshot = path.join(repoDir, 'snapshots', commit);
  if (existsSync(snapshot)) return snapshot;
  const available = existsSync(path.join(repoDir, 'snapshots')) ? readdirSync(path.join(repoDir, 'snapshots')) : [];
  if (!options.revision && available.length === 1) return path.join(repoDir, 'snapshots', available[0]);
  throw new Error(`"${repo}" has no cached snapshot for revision "${revision}" under ${repoDir}; cached snapshots: ${available.join(', ') || 'none'}.`);
}

/** Loads an HF CLIP folder (config.json, model.safetensors, optional preprocessor/tokenizer files). */
export function loadClipFromFolder(dir: string, options: ClipLoadOptions = {}): ClipEncoder {
  const weightsFile = path.join(dir, 'model.safetensors');
  if (!existsSync(path.join(dir, 'config.json')) || !existsSync(weightsFile)) {
    const hasBin = existsSync(path.join(dir, 'pytorch_model.bin'));
    throw new Error(`${dir} must hold config.json and model.safetensors${hasBin ? ' (found pytorch_model.bin: convert it to safetensors first)' : ''}.`);
  }
  return clipFromFiles(
    {
      config: readFileSync(path.join(dir, 'config.json'), 'utf8'),
      weights: readFileSync(weightsFile),
      preprocessorConfig: readOptional(path.join(dir, 'preprocessor_config.json')),
      tokenizerJson: readOptional(path.join(dir, 'tokenizer.json')),
      vocabJson: readOptional(path.join(dir, 'vocab.json')),
      mergesTxt: readOptional(path.join(dir, 'merges.txt')),
    },
    { ...options, name: options.name ?? path.basename(path.resolve(dir)) },
  );
}

/** A folder path if it exists, else an HF repo id looked up in the local cache. */
export function loadClip(source: string, options: ClipLoadOptions & { revision?: string; cacheDir?: string } = {}): ClipEncoder {
  if (existsSync(source) && statSync(source).isDirectory()) return loadClipFromFolder(source, options);
  const dir = resolveHfSnapshot(source, options);
  return loadClipFromFolder(dir, { ...options, name: options.name ?? source.split('/').pop() });
}
