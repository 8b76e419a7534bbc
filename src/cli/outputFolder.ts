import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { BacklitError, cut, type FileGroupEntry, type WrittenFile } from '../engine';

/**
 * The run's output folder on disk, and the one place that turns an output folder + file name into
 * a path. Every write and read-back of the CLI host goes through `confine`:
 *
 * 1. resolve `root/folder/name` and require it to stay under the root (no "..", no absolute path);
 * 2. resolve symlinks on the way (the deepest existing folder is `realpath`ed) and require that to
 *    stay under the root's real path too: a symlinked sub-folder that points elsewhere is refused;
 * 3. new names are claimed atomically (exclusive create, `wx`), so two runs into one folder never
 *    pick the same name; bytes go to a temp file that is renamed over the claim (readers never see
 *    half a file). A symlink at the target is replaced, never followed.
 *
 * Approximation: between the check and the write another process could swap a folder for a
 * symlink (TOCTOU); `openat`-style confinement is not available from Node.
 */
export class OutputFolder {
  constructor(readonly root: string) {}

  /** Absolute path of `folder/name` inside the root, after the checks above; creates its folder. */
  async confine(folder: string, name: string, opts: { create: boolean }): Promise<string> {
    const root = path.resolve(this.root);
    // Names the file system would refuse with a raw error: refused here with a message instead.
    for (const part of [...folder.split('/'), ...name.split('/')]) {
      if (part.includes('\0')) throw badName(folder, name, 'contains a NUL character');
      if (Buffer.byteLength(part) > 255) throw badName(folder, name, `has a name part of ${Buffer.byteLength(part)} bytes (at most 255)`);
    }
    const target = path.resolve(root, folder, name);
    if (!inside(root, target) || (target === root && name !== '')) throw outside(folder, name, target, root, 'leaves');
    const last = name.split('/').at(-1);
    if (name !== '' && (last === '' || last === '.' || last === '..')) throw badName(folder, name, 'does not end in a file name');
    if (opts.create) await fs.mkdir(root, { recursive: true });
    const realRoot = await fs.realpath(root).catch(() => root);
    // The deepest folder that exists already decides where new folders would really be made.
    let existing = name === '' ? target : path.dirname(target);
    while (!(await isDir(existing)) && existing !== root && inside(root, existing)) existing = path.dirname(existing);
    const real = await fs.realpath(existing).catch(() => existing);
    if (!inside(realRoot, real)) throw outside(folder, name, real, realRoot, 'follows a symlink out of');
    const stat = await fs.lstat(target).catch(() => undefined);
    if (name !== '' && stat?.isDirectory()) throw badName(folder, name, 'is an existing folder, not a file');
    if (stat?.isSymbolicLink()) {
      const to = await fs.realpath(target).catch(() => undefined);
      if (!to || !inside(realRoot, to)) throw outside(folder, name, to ?? target, realRoot, 'is a symlink out of');
    }
    if (opts.create) await fs.mkdir(name === '' ? target : path.dirname(target), { recursive: true });
    return target;
  }

  /** The base folder of a write, created (after the same checks) when missing. */
  private async base(folder: string): Promise<void> {
    await this.confine(folder, '', { create: true });
  }

  async read(folder: string, name: string): Promise<Uint8Array | undefined> {
    return fsErrors(folder, name, 'read', async () => {
      const p = await this.confine(folder, name, { create: false });
      return (await isFile(p)) ? new Uint8Array(await fs.readFile(p)) : undefined;
    });
  }

  /** One file; a free name (`a-1.png`, …) is claimed unless `overwrite`. */
  async write(folder: string, name: string, bytes: Uint8Array, opts: { overwrite: boolean }): Promise<WrittenFile> {
    const ext = path.extname(name);
    const [written] = await this.writeGroup(folder, name.slice(0, name.length - ext.length), [{ rest: ext, bytes }], opts);
    return written;
  }

  /**
   * Files that belong together (an export's .safetensors and its -tfjs folder) under one stem:
   * `stem`, else `stem-1`, `stem-2`, … — the first for which every entry could be claimed. A rest
   * with a "/" names a folder part (`-tfjs/model.json`): that folder is claimed by creating it.
   */
  async writeGroup(folder: string, stem: string, files: FileGroupEntry[], opts: { overwrite: boolean }): Promise<WrittenFile[]> {
    return fsErrors(folder, `${stem}${files[0]?.rest ?? ''}`, 'write', () => this.writeGroupUnwrapped(folder, stem, files, opts));
  }

  private async writeGroupUnwrapped(folder: string, stem: string, files: FileGroupEntry[], opts: { overwrite: boolean }): Promise<WrittenFile[]> {
    await this.base(folder);
    for (let i = 0; i < 10_000; i++) {
      const s = i === 0 ? stem : `${stem}-${i}`;
      const claims: string[] = [];
      const dirs: string[] = [];
      let free = true;
      const targets: string[] = [];
      for (const f of files) {
        const target = await this.confine(folder, `${s}${f.rest}`, { create: false });
        targets.push(target);
        if (opts.overwrite) continue;
        const sub = f.rest.includes('/') ? path.dirname(target) : undefined;
        if (!sub) await fs.mkdir(path.dirname(target), { recursive: true });
        if (sub && !dirs.includes(sub)) {
          await fs.mkdir(path.dirname(sub), { recursive: true });
          const made = await fs.mkdir(sub).then(() => true, (e: NodeJS.ErrnoException) => (e.code === 'EEXIST' ? false : Promise.reject(e)));
          if (!made) {
            free = false;
            break;
          }
          dirs.push(sub);
        }
        if (!(await claim(target))) {
          free = false;
          break;
        }
        claims.push(target);
      }
      if (!free) {
        for (const c of claims) await fs.rm(c, { force: true });
        for (const d of dirs.reverse()) await fs.rmdir(d).catch(() => undefined);
        continue;
      }
      const written: WrittenFile[] = [];
      for (let k = 0; k < files.length; k++) {
        await fs.mkdir(path.dirname(targets[k]), { recursive: true });
        await writeAtomic(targets[k], files[k].bytes);
        const name = path.relative(path.resolve(this.root, folder), targets[k]).split(path.sep).join('/');
        const asked = `${stem}${files[k].rest}`;
        written.push({ name, location: targets[k], bytes: files[k].bytes.byteLength, renamedFrom: name !== asked ? asked : undefined });
      }
      return written;
    }
    throw new BacklitError({ code: 'output-exists', field: 'folder', message: `No free name for "${cut(stem, 80)}" after 10000 tries.`, fix: 'clean up the output folder or set overwrite.' });
  }
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
}

function outside(folder: string, name: string, resolved: string, root: string, how: string): BacklitError {
  return new BacklitError({
    code: 'path-outside-output',
    message: `The output path "${cut([folder, name].filter(Boolean).join('/'), 160)}" ${how} the output folder (${cut(resolved, 160)} is not inside ${cut(root, 160)}).`,
    fix: 'use a relative sub-folder and plain file names (no "..", no leading "/"), and no symlinks in the output folder that point elsewhere.',
  });
}

/** File-system failures (a path part that is a file, no permission, disk full) as messages that name the path. */
async function fsErrors<T>(folder: string, name: string, verb: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof BacklitError) throw err;
    const e = err as NodeJS.ErrnoException;
    const why: Record<string, string> = { ENOTDIR: 'a part of the path is a file, not a folder', EISDIR: 'it is a folder', EACCES: 'permission denied', EPERM: 'permission denied', ENOSPC: 'the disk is full', EROFS: 'the file system is read-only', ENAMETOOLONG: 'the name is too long', EEXIST: 'it exists' };
    throw new BacklitError({
      code: 'output-exists',
      message: `Could not ${verb} the output "${cut([folder, name].filter(Boolean).join('/'), 160)}" (${e.code ? `${e.code}: ${why[e.code] ?? 'file system error'}` : 'file system error'}).`,
      fix: 'choose another output folder or file name, or check the permissions and free space of the output folder.',
    });
  }
}

function badName(folder: string, name: string, why: string): BacklitError {
  return new BacklitError({ code: 'path-outside-output', message: `The output path "${cut([folder, name].filter(Boolean).join('/').replace(/\0/g, '\\0'), 160)}" ${why}.`, fix: 'use shorter plain file and folder names.' });
}

async function isDir(p: string): Promise<boolean> {
  return fs.stat(p).then((s) => s.isDirectory(), () => false);
}

async function isFile(p: string): Promise<boolean> {
  return fs.stat(p).then((s) => s.isFile(), () => false);
}

/** Exclusive create of an empty placeholder: true when this call made it. */
async function claim(target: string): Promise<boolean> {
  try {
    const handle = await fs.open(target, 'wx');
    await handle.close();
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/** Write to a uniquely named temp file beside the target, then rename: readers never see half a file. */
export async function writeAtomic(target: string, bytes: Uint8Array | string): Promise<void> {
  // Short, hidden temp name beside the target (a 255-byte target name must not overflow it).
  const tmp = path.join(path.dirname(target), `.${path.basename(target).slice(0, 40)}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`);
  try {
    await fs.writeFile(tmp, bytes);
    await fs.rename(tmp, target);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}
