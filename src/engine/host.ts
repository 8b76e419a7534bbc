/**
 * What a node may ask of the machine it runs on. The CLI host implements it with the file system
 * and sharp; the worker host with fetch, uploads and OffscreenCanvas. Nodes never touch either directly.
 */
export interface ImageFile {
  /** File name shown to users and used to name outputs. */
  name: string;
  /** Size in bytes when known before reading (lets loaders refuse huge files early). */
  size?: number;
  read(): Promise<Uint8Array>;
}

/** 8-bit RGBA pixels, row-major. */
export interface DecodedImage {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray;
}

export interface WrittenFile {
  name: string;
  /** Where it went: a path (CLI) or an in-memory id the editor can download (browser). */
  location: string;
  bytes: number;
  /** Set when the requested name existed and a new name was chosen instead of overwriting. */
  renamedFrom?: string;
}

/** One file of a group written under a shared stem: its name is `<stem><rest>` (rest may hold one "/"). */
export interface FileGroupEntry {
  rest: string;
  bytes: Uint8Array;
}

export interface DecodeOptions {
  /**
   * Refuse (image-too-large) before decoding when the header says width × height is above this:
   * a 250 KB PNG can claim 16000² pixels and would take 1 GB to decode.
   */
  maxPixels?: number;
}

export interface Host {
  readonly kind: 'node' | 'browser';
  /** Files for an Image Loader source: a file, folder or glob (CLI), a sample set or uploads (browser). */
  listImageFiles(source: string): Promise<ImageFile[]>;
  /** A string that changes when the files behind `source` change, for the executor's cache. */
  fingerprint(source: string): Promise<string>;
  decodeImage(bytes: Uint8Array, name: string, opts?: DecodeOptions): Promise<DecodedImage>;
  encodeImage(image: DecodedImage, format: 'png' | 'jpeg', quality: number): Promise<Uint8Array>;
  /**
   * One file of a model (e.g. `config.json`) from `source`: a local folder or Hugging Face cache
   * entry (CLI), or a URL base (editor; also the hub where there is network). Undefined when absent.
   */
  readModelFile(source: string, file: string): Promise<Uint8Array | undefined>;
  /** Reads back a file written with writeFile (checkpoints); undefined when absent. */
  readFile(folder: string, name: string): Promise<Uint8Array | undefined>;
  /** Writes an output file into `folder` (relative to the run's output root); never overwrites unless asked. */
  writeFile(folder: string, name: string, bytes: Uint8Array, opts: { overwrite: boolean }): Promise<WrittenFile>;
  /**
   * Files that belong together, under one free stem (`stem`, `stem-1`, …) so that none of them
   * replaces an existing file unless `overwrite`. Hosts without it get the fallback in
   * writeFileGroup (check then write; fine for single-threaded in-memory hosts).
   */
  writeGroup?(folder: string, stem: string, files: FileGroupEntry[], opts: { overwrite: boolean }): Promise<WrittenFile[]>;
}

/** Writes a group of files under one stem (see Host.writeGroup); never splits a group across stems. */
export async function writeFileGroup(host: Host, folder: string, stem: string, files: FileGroupEntry[], opts: { overwrite: boolean }): Promise<WrittenFile[]> {
  if (host.writeGroup) return host.writeGroup(folder, stem, files, opts);
  const split = (name: string): [string, string] => {
    const slash = name.lastIndexOf('/');
    return slash < 0 ? [folder, name] : [folder ? `${folder}/${name.slice(0, slash)}` : name.slice(0, slash), name.slice(slash + 1)];
  };
  for (let i = 0; i < 10_000; i++) {
    const s = i === 0 ? stem : `${stem}-${i}`;
    let free = true;
    if (!opts.overwrite) {
      for (const f of files) if ((await host.readFile(...split(`${s}${f.rest}`))) !== undefined) free = false;
    }
    if (!free) continue;
    const written: WrittenFile[] = [];
    for (const f of files) {
      const [dir, name] = split(`${s}${f.rest}`);
      const w = await host.writeFile(dir, name, f.bytes, { overwrite: true });
      written.push({ ...w, name: `${s}${f.rest}`, renamedFrom: i ? `${stem}${f.rest}` : undefined });
    }
    return written;
  }
  throw new Error(`no free name for "${stem}" after 10000 tries`);
}
