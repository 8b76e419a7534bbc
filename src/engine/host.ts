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

export interface Host {
  readonly kind: 'node' | 'browser';
  /** Files for an Image Loader source: a file, folder or glob (CLI), a sample set or uploads (browser). */
  listImageFiles(source: string): Promise<ImageFile[]>;
  /** A string that changes when the files behind `source` change, for the executor's cache. */
  fingerprint(source: string): Promise<string>;
  decodeImage(bytes: Uint8Array, name: string): Promise<DecodedImage>;
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
}
