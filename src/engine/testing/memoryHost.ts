import { BacklitError } from '../errors/BacklitError';
import { hashString } from '../executor/hash';
import type { DecodedImage, Host, ImageFile, WrittenFile } from '../host';

/**
 * Test-only Host that keeps everything in memory: input files in a map, a tiny raw image format
 * instead of PNG/JPEG, and written files in another map. Like the real hosts it never overwrites
 * an existing output unless asked (`name.png` → `name-1.png`, `name-2.png`, …).
 *
 * Raw format ("BLRW"): 4 magic bytes, width and height as uint32 little-endian, then width×height
 * RGBA8 pixels, row-major. `encodeRaw`/`decodeRaw` read and write it.
 */
export class MemoryHost implements Host {
  readonly kind: 'node' | 'browser';
  /** Input files by path ("samples/a.raw"). */
  readonly files = new Map<string, Uint8Array>();
  /** Output files by "folder/name" (just "name" when the folder is ""). */
  readonly written = new Map<string, Uint8Array>();
  /** How often each input file was read (lets tests see caching at the host level). */
  readonly reads = new Map<string, number>();
  private readonly revisions = new Map<string, number>();

  constructor(opts: { kind?: 'node' | 'browser' } = {}) {
    this.kind = opts.kind ?? 'node';
  }

  /** Adds (or replaces) an input file. */
  addFile(path: string, bytes: Uint8Array): this {
    this.files.set(path, bytes);
    this.revisions.set(path, (this.revisions.get(path) ?? 0) + 1);
    return this;
  }

  /** Adds an image in the raw format; `pixel(x, y)` gives its RGBA (alpha defaults to 255). */
  addImage(path: string, width: number, height: number, pixel: (x: number, y: number) => readonly number[]): this {
    return this.addFile(path, encodeRaw(makeImage(width, height, pixel)));
  }

  /** Files for a source: exact paths, folders ("dir" or "dir/") and `*`/`?` globs, ";"-separated, sorted. */
  async listImageFiles(source: string): Promise<ImageFile[]> {
    return this.resolve(source).map((path) => ({
      name: path.slice(path.lastIndexOf('/') + 1),
      size: this.files.get(path)!.byteLength,
      read: async () => {
        this.reads.set(path, (this.reads.get(path) ?? 0) + 1);
        const bytes = this.files.get(path);
        if (!bytes) throw new Error(`${path} was removed`);
        return bytes;
      },
    }));
  }

  async fingerprint(source: string): Promise<string> {
    return hashString(this.resolve(source).map((p) => `${p}:${this.revisions.get(p)}`).join('\n'));
  }

  async decodeImage(bytes: Uint8Array, name: string): Promise<DecodedImage> {
    const img = decodeRaw(bytes);
    if (!img) {
      throw new BacklitError({ code: 'image-unreadable', message: `${name} could not be decoded (not a raw test image).`, fix: 'use encodeRaw() for test images.' });
    }
    return img;
  }

  async encodeImage(image: DecodedImage): Promise<Uint8Array> {
    return encodeRaw(image);
  }

  async writeFile(folder: string, name: string, bytes: Uint8Array, opts: { overwrite: boolean }): Promise<WrittenFile> {
    const key = (n: string) => (folder ? `${folder.replace(/\/+$/, '')}/${n}` : n);
    let finalName = name;
    if (!opts.overwrite) {
      const dot = name.lastIndexOf('.');
      const stem = dot > 0 ? name.slice(0, dot) : name;
      const ext = dot > 0 ? name.slice(dot) : '';
      for (let i = 1; this.written.has(key(finalName)); i++) finalName = `${stem}-${i}${ext}`;
    }
    this.written.set(key(finalName), bytes.slice());
    return { name: finalName, location: `memory:${key(finalName)}`, bytes: bytes.byteLength, renamedFrom: finalName !== name ? name : undefined };
  }

  /** Model files are input files under `<source>/<file>`. */
  async readModelFile(source: string, file: string): Promise<Uint8Array | undefined> {
    return this.files.get(`${source.replace(/\/+$/, '')}/${file}`);
  }

  async readFile(folder: string, name: string): Promise<Uint8Array | undefined> {
    return this.written.get(folder ? `${folder.replace(/\/+$/, '')}/${name}` : name);
  }

  /** A written output, decoded. */
  readWritten(key: string): DecodedImage {
    const bytes = this.written.get(key);
    if (!bytes) throw new Error(`nothing was written to "${key}" (written: ${[...this.written.keys()].join(', ') || 'none'})`);
    const img = decodeRaw(bytes);
    if (!img) throw new Error(`"${key}" is not a raw image`);
    return img;
  }

  private resolve(source: string): string[] {
    const out = new Set<string>();
    const paths = [...this.files.keys()];
    for (const part of source.split(';').map((s) => s.trim()).filter(Boolean)) {
      if (/[*?]/.test(part)) {
        const re = new RegExp(`^${part.split('').map((c) => (c === '*' ? '[^/]*' : c === '?' ? '[^/]' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('')}$`);
        for (const p of paths) if (re.test(p)) out.add(p);
      } else if (this.files.has(part)) {
        out.add(part);
      } else {
        const dir = part.endsWith('/') ? part : `${part}/`;
        for (const p of paths) if (p.startsWith(dir) && !p.slice(dir.length).includes('/')) out.add(p);
      }
    }
    return [...out].sort();
  }
}

const MAGIC = [0x42, 0x4c, 0x52, 0x57]; // "BLRW"

export function makeImage(width: number, height: number, pixel: (x: number, y: number) => readonly number[]): DecodedImage {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b, a = 255] = pixel(x, y);
      data.set([r, g, b, a], (y * width + x) * 4);
    }
  }
  return { width, height, data };
}

export function encodeRaw(img: DecodedImage): Uint8Array {
  const out = new Uint8Array(12 + img.width * img.height * 4);
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint32(4, img.width, true);
  view.setUint32(8, img.height, true);
  out.set(img.data.subarray(0, img.width * img.height * 4), 12);
  return out;
}

/** The decoded image, or undefined when the bytes are not a well-formed raw image. */
export function decodeRaw(bytes: Uint8Array): DecodedImage | undefined {
  if (bytes.byteLength < 12 || MAGIC.some((m, i) => bytes[i] !== m)) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = view.getUint32(4, true);
  const height = view.getUint32(8, true);
  if (width === 0 || height === 0 || bytes.byteLength !== 12 + width * height * 4) return undefined;
  return { width, height, data: new Uint8ClampedArray(bytes.slice(12)) };
}

/** RGBA of one pixel of a decoded image. */
export function pixelAt(img: DecodedImage, x: number, y: number): number[] {
  const i = (y * img.width + x) * 4;
  return Array.from(img.data.subarray(i, i + 4));
}
