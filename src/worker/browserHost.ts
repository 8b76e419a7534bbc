import { BacklitError, hashString, type DecodedImage, type Host, type ImageFile, type WrittenFile } from '../engine';
import { isModelRef, readStoredModelFile } from './storedModels';

/**
 * The editor's Host, living in the worker: images come from the bundled samples (via their
 * manifest, since a browser cannot list a folder), from files the user dropped ("upload:<key>"),
 * or from URLs; model files from URLs or from the user's stored models (IndexedDB, "model:…");
 * outputs are kept in memory for the editor to preview and download.
 */
export class BrowserHost implements Host {
  readonly kind = 'browser' as const;
  private readonly uploads = new Map<string, Array<{ name: string; bytes: Uint8Array }>>();
  private readonly outputs = new Map<string, Uint8Array>();
  private manifest?: Record<string, string[]>;

  constructor(private readonly baseUrl: string) {}

  putUpload(key: string, files: Array<{ name: string; bytes: Uint8Array }>): void {
    this.uploads.set(key, files);
  }

  hasUpload(key: string): boolean {
    return this.uploads.has(key);
  }

  getOutput(location: string): Uint8Array | undefined {
    return this.outputs.get(location);
  }

  async listImageFiles(source: string): Promise<ImageFile[]> {
    const files: ImageFile[] = [];
    for (const part of source.split(';').map((s) => s.trim()).filter(Boolean)) files.push(...(await this.resolveOne(part)));
    return files;
  }

  private async resolveOne(source: string): Promise<ImageFile[]> {
    if (source.startsWith('upload:')) {
      const files = this.uploads.get(source.slice('upload:'.length));
      if (!files) {
        throw new BacklitError({ code: 'no-images', field: 'source', message: `The dropped files for "${source}" are no longer in memory (the page was reloaded).`, fix: 'drop or pick the files again on the Image Loader.' });
      }
      return files.map((f) => ({ name: f.name, size: f.bytes.byteLength, read: async () => f.bytes }));
    }
    if (/^https?:\/\//.test(source)) return [{ name: source.split('/').pop() || 'image', read: () => this.fetchBytes(source) }];
    const manifest = await this.loadManifest();
    const pattern = globToRegExp(source.replace(/^\.?\/?samples\//, '').replace(/\/$/, '/*'));
    const matches = Object.values(manifest).flat().filter((p) => pattern.test(p) || pattern.test(`${p.split('/')[0]}`));
    return [...new Set(matches)].sort().map((p) => ({ name: p.split('/').pop()!, read: () => this.fetchBytes(`${this.baseUrl}samples/${p}`) }));
  }

  private async loadManifest(): Promise<Record<string, string[]>> {
    if (!this.manifest) {
      const res = await fetch(`${this.baseUrl}samples/index.json`);
      if (!res.ok) throw new Error(`the sample manifest could not be loaded (HTTP ${res.status})`);
      this.manifest = (await res.json()) as Record<string, string[]>;
    }
    return this.manifest;
  }

  private async fetchBytes(url: string): Promise<Uint8Array> {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${url} could not be fetched (HTTP ${res.status})`);
    return new Uint8Array(await res.arrayBuffer());
  }

  async fingerprint(source: string): Promise<string> {
    // Samples are immutable; uploads change key when replaced; URLs are trusted to be stable.
    const uploads = source.startsWith('upload:') ? (this.uploads.get(source.slice(7)) ?? []).map((f) => `${f.name}:${f.bytes.byteLength}`).join(',') : '';
    return hashString(`${source}|${uploads}`);
  }

  async decodeImage(bytes: Uint8Array, name: string): Promise<DecodedImage> {
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(new Blob([bytes as BlobPart]));
    } catch {
      throw new BacklitError({ code: 'image-unreadable', message: `${name} could not be decoded by the browser.`, fix: 'use a PNG, JPEG, WebP or BMP file.' });
    }
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext('2d')!;
    ctx.drawImage(bitmap, 0, 0);
    bitmap.close();
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height);
    return { width: data.width, height: data.height, data: data.data };
  }

  async encodeImage(image: DecodedImage, format: 'png' | 'jpeg', quality: number): Promise<Uint8Array> {
    const canvas = new OffscreenCanvas(image.width, image.height);
    canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(image.data), image.width, image.height), 0, 0);
    const blob = await canvas.convertToBlob({ type: format === 'png' ? 'image/png' : 'image/jpeg', quality: quality / 100 });
    return new Uint8Array(await blob.arrayBuffer());
  }

  async readModelFile(source: string, file: string): Promise<Uint8Array | undefined> {
    // Files the user picked or dropped (Models panel), kept in IndexedDB: model:<kind>/<name>@<hash>.
    if (isModelRef(source)) return readStoredModelFile(source, file);
    // A URL base, a path on this server (e.g. models/my-clip), or a hub repo id (needs network).
    const base = /^https?:\/\//.test(source) ? source : /^[\w.-]+\/[\w.-]+$/.test(source) && !source.startsWith('models/') ? `https://huggingface.co/${source}/resolve/main` : `${this.baseUrl}${source.replace(/^\.?\//, '')}`;
    const res = await fetch(`${base.replace(/\/$/, '')}/${file}`);
    // Static servers with an SPA fallback answer a missing file with index.html and status 200.
    if (res.status === 404 || (res.ok && (res.headers.get('content-type') ?? '').includes('text/html'))) return undefined;
    if (!res.ok) throw new Error(`${file} could not be fetched from ${base} (HTTP ${res.status})`);
    return new Uint8Array(await res.arrayBuffer());
  }

  async readFile(folder: string, name: string): Promise<Uint8Array | undefined> {
    const prefix = folder ? `${folder.replace(/\/$/, '')}/` : '';
    return this.outputs.get(`mem:${prefix}${name}`);
  }

  async writeFile(folder: string, name: string, bytes: Uint8Array, opts: { overwrite: boolean }): Promise<WrittenFile> {
    const prefix = folder ? `${folder.replace(/\/$/, '')}/` : '';
    let finalName = name;
    if (!opts.overwrite) {
      const dot = name.lastIndexOf('.');
      for (let i = 1; this.outputs.has(`mem:${prefix}${finalName}`); i++) finalName = `${name.slice(0, dot)}-${i}${name.slice(dot)}`;
    }
    const location = `mem:${prefix}${finalName}`;
    this.outputs.set(location, bytes);
    return { name: finalName, location, bytes: bytes.byteLength, renamedFrom: finalName !== name ? name : undefined };
  }

  /** Outputs of earlier runs are dropped when a new run starts, so memory does not pile up. */
  clearOutputs(): void {
    this.outputs.clear();
  }
}

function globToRegExp(glob: string): RegExp {
  const re = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*/g, '\u0000').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]').replace(/\u0000/g, '.*');
  return new RegExp(`^${re}$`);
}
