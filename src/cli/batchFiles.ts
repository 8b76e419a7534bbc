import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';
import type { BatchFile } from '../engine/batch';
import { IMAGE_EXTENSIONS, REPO_ROOT } from './nodeHost';

/** A file of a streamed folder as plain data (a BullMQ shard carries these). */
export interface BatchFileRef {
  rel: string;
  path: string;
  fingerprint: string;
  size: number;
}

const MAX_BYTES = 512 * 1024 * 1024;

export function batchFileOf(ref: BatchFileRef): BatchFile {
  return {
    rel: ref.rel,
    fingerprint: ref.fingerprint,
    file: {
      name: ref.rel,
      size: ref.size,
      read: async () => {
        const stat = await fs.stat(ref.path);
        if (stat.size > MAX_BYTES) throw new Error(`${ref.path} is ${(stat.size / 2 ** 20).toFixed(0)} MiB, larger than the 512 MiB limit`);
        return new Uint8Array(await fs.readFile(ref.path));
      },
    },
  };
}

/**
 * Lazily lists the images of a batch source: a folder (walked recursively, sub-folders kept in
 * `rel` so Output mirrors them), a glob (`rel` relative to its static base) or a file; several
 * separated by ";". Relative sources resolve like NodeHost's (graph folder, working folder, bundled
 * public/). Memory: one directory's names at a time (each directory is sorted, so the order, and
 * therefore chunk and shard boundaries, are stable between runs); a glob is matched whole.
 */
export async function* listBatchFiles(source: string, baseDirs: string[]): AsyncGenerator<BatchFileRef> {
  const bases = [...baseDirs, path.join(REPO_ROOT, 'public')];
  for (const part of source.split(';').map((s) => s.trim()).filter(Boolean)) {
    yield* listOne(part, path.isAbsolute(part) ? [''] : bases);
  }
}

async function* listOne(source: string, bases: string[]): AsyncGenerator<BatchFileRef> {
  for (const base of bases) {
    if (isDynamicPattern(source)) {
      const matches = (await glob(source, { cwd: base || '/', absolute: true, onlyFiles: true })).filter(isImagePath).sort();
      if (!matches.length) continue;
      const root = path.resolve(base || '/', staticPrefix(source));
      for (const m of matches) yield await refOf(m, path.relative(root, m));
      return;
    }
    const full = path.resolve(base, source);
    const stat = await fs.stat(full).catch(() => undefined);
    if (stat?.isDirectory()) {
      yield* walk(full, full);
      return;
    }
    if (stat?.isFile()) {
      yield await refOf(full, path.basename(full));
      return;
    }
  }
}

async function* walk(dir: string, root: string): AsyncGenerator<BatchFileRef> {
  const entries = (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!e.name.startsWith('.')) yield* walk(p, root);
    } else if (e.isFile() && isImagePath(e.name)) yield await refOf(p, path.relative(root, p));
  }
}

async function refOf(p: string, rel: string): Promise<BatchFileRef> {
  const st = await fs.stat(p);
  return { rel: rel.split(path.sep).join('/'), path: p, fingerprint: `${st.size}:${Math.round(st.mtimeMs)}`, size: st.size };
}

/** The part of a glob before its first dynamic segment ("photos/2024/*.jpg" → "photos/2024"). */
function staticPrefix(pattern: string): string {
  const segs = pattern.split('/');
  const out: string[] = [];
  for (const s of segs) {
    if (isDynamicPattern(s)) break;
    out.push(s);
  }
  if (out.length === segs.length) out.pop();
  return out.join('/') || '.';
}

function isImagePath(p: string): boolean {
  return IMAGE_EXTENSIONS.includes(path.extname(p).toLowerCase());
}

/** Counts a source's images without keeping them (for "k of N"). */
export async function countBatchFiles(source: string, baseDirs: string[]): Promise<number> {
  let n = 0;
  for await (const _ of listBatchFiles(source, baseDirs)) n++;
  return n;
}

export async function* asBatchFiles(refs: AsyncIterable<BatchFileRef>): AsyncGenerator<BatchFile> {
  for await (const r of refs) yield batchFileOf(r);
}
