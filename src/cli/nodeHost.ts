import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import decodeBmp from 'decode-bmp';
import sharp from 'sharp';
import { glob, isDynamicPattern } from 'tinyglobby';
import { resolveHfSnapshot } from '../ml/clip/loadNode';
import { BacklitError, cut, hashString, type DecodedImage, type DecodeOptions, type FileGroupEntry, type Host, type ImageFile, type WrittenFile } from '../engine';
import { OutputFolder } from './outputFolder';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff', '.gif', '.avif', '.bmp'];

export interface NodeHostOptions {
  /** Folders relative sources are tried in, in order (graph folder, working folder). */
  baseDirs: string[];
  /** Root folder for Output nodes. */
  outDir: string;
}

/** The CLI's Host: files on disk, sharp for codecs, atomic writes that never overwrite silently. */
export class NodeHost implements Host {
  readonly kind = 'node' as const;
  /** Relative sources also resolve against the bundled samples (public/), so example graphs run anywhere. */
  private readonly baseDirs: string[];

  private readonly out: OutputFolder;

  constructor(private readonly opts: NodeHostOptions) {
    this.baseDirs = [...opts.baseDirs, path.join(REPO_ROOT, 'public')];
    this.out = new OutputFolder(opts.outDir);
  }

  async listImageFiles(source: string): Promise<ImageFile[]> {
    const paths: string[] = [];
    for (const part of source.split(';').map((s) => s.trim()).filter(Boolean)) paths.push(...(await this.resolveOne(part)));
    return paths.map((p) => ({
      name: path.basename(p),
      read: async () => {
        // Folders and globs list every visible file, so the loader can say why one was skipped.
        if (!isImagePath(p)) throw new Error(`not an image type this loader reads (${path.extname(p) || 'no extension'}; it reads ${IMAGE_EXTENSIONS.join(' ')})`);
        const stat = await fs.stat(p);
        if (stat.size > 512 * 1024 * 1024) throw new Error(`${p} is ${(stat.size / 2 ** 20).toFixed(0)} MiB, larger than the 512 MiB limit`);
        return new Uint8Array(await fs.readFile(p));
      },
    }));
  }

  private async resolveOne(source: string): Promise<string[]> {
    const bases = path.isAbsolute(source) ? [''] : this.baseDirs;
    for (const base of bases) {
      const full = path.resolve(base, source);
      if (isDynamicPattern(source)) {
        const matches = await glob(source, { cwd: base || '/', absolute: true, onlyFiles: true });
        if (matches.some(isImagePath)) return matches.filter(isVisible).sort();
        continue;
      }
      const stat = await fs.stat(full).catch(() => undefined);
      if (stat?.isDirectory()) {
        const entries = await fs.readdir(full, { withFileTypes: true });
        return entries.filter((e) => e.isFile() && isVisible(e.name)).map((e) => path.join(full, e.name)).sort();
      }
      if (stat?.isFile()) return [full];
    }
    return [];
  }

  async fingerprint(source: string): Promise<string> {
    const files = [];
    for (const part of source.split(';').map((s) => s.trim()).filter(Boolean)) {
      for (const p of await this.resolveOne(part)) {
        const st = await fs.stat(p);
        files.push(`${p}:${st.size}:${st.mtimeMs}`);
      }
    }
    return hashString(files.join('\n'));
  }

  async decodeImage(bytes: Uint8Array, name: string, opts: DecodeOptions = {}): Promise<DecodedImage> {
    // Decompression bombs: the header's size is checked before a single pixel is decoded.
    const size = await headerSize(bytes);
    const limit = Math.min(opts.maxPixels ?? Infinity, MAX_DECODE_PIXELS);
    if (size && size.width * size.height > limit) {
      const mp = (size.width * size.height) / 1e6;
      throw new BacklitError({
        code: 'image-too-large',
        message: `${cut(name, 120)} is ${size.width}×${size.height} (${mp.toFixed(1)} MP) by its header, above the limit of ${(limit / 1e6).toFixed(1)} MP; it was not decoded.`,
        fix: limit === MAX_DECODE_PIXELS ? 'downscale the file first.' : 'raise maxMegapixels on the Image Loader, or downscale the file.',
      });
    }
    // sharp (libvips) has no BMP reader; decode-bmp reads 1/4/8/16/24/32-bit BMPs ("BM" magic).
    if (bytes[0] === 0x42 && bytes[1] === 0x4d) {
      try {
        const bmp = decodeBmp(bytes);
        return { width: bmp.width, height: bmp.height, data: new Uint8Array(bmp.data.buffer, bmp.data.byteOffset, bmp.data.byteLength) };
      } catch (err) {
        throw new BacklitError({ code: 'image-unreadable', message: `${name} looks like a BMP but could not be decoded (${(err as Error).message.replace(/\.$/, '')}).`, fix: 'save it again as PNG or an uncompressed BMP.' });
      }
    }
    try {
      const { data, info } = await sharp(bytes, { limitInputPixels: MAX_DECODE_PIXELS })
        .rotate() // honour EXIF orientation like browsers do
        .ensureAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
      return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
    } catch (err) {
      throw new BacklitError({
        code: 'image-unreadable',
        message: `${name} could not be decoded (${(err as Error).message.replace(/\.$/, '')}).`,
        fix: 'use a PNG, JPEG, WebP, TIFF or BMP file.',
      });
    }
  }

  async encodeImage(image: DecodedImage, format: 'png' | 'jpeg', quality: number): Promise<Uint8Array> {
    const pipeline = sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
      raw: { width: image.width, height: image.height, channels: 4 },
    });
    const buf = format === 'png' ? await pipeline.png().toBuffer() : await pipeline.flatten().jpeg({ quality }).toBuffer();
    return new Uint8Array(buf);
  }

  async readModelFile(source: string, file: string): Promise<Uint8Array | undefined> {
    const dir = await this.resolveModelDir(source);
    const p = path.join(dir, file);
    return (await exists(p)) ? new Uint8Array(await fs.readFile(p)) : undefined;
  }

  /** A folder (relative like image sources), else an `org/name` repo id in the Hugging Face cache. */
  private async resolveModelDir(source: string): Promise<string> {
    const bases = path.isAbsolute(source) ? [''] : this.baseDirs;
    for (const base of bases) {
      const full = path.resolve(base, source);
      if ((await fs.stat(full).catch(() => undefined))?.isDirectory()) return full;
    }
    if (/^[\w.-]+\/[\w.-]+$/.test(source)) return resolveHfSnapshot(source);
    throw new BacklitError({ code: 'node-failed', field: 'source', message: `Model folder "${source}" does not exist.`, fix: 'give a folder holding config.json and model.safetensors (relative to the graph file), or a Hugging Face repo id that is in the local cache.' });
  }

  // Every output path goes through OutputFolder: containment (symlinks included), atomic name claims.
  async readFile(folder: string, name: string): Promise<Uint8Array | undefined> {
    return this.out.read(folder, name);
  }

  async writeFile(folder: string, name: string, bytes: Uint8Array, opts: { overwrite: boolean }): Promise<WrittenFile> {
    return this.out.write(folder, name, bytes, opts);
  }

  async writeGroup(folder: string, stem: string, files: FileGroupEntry[], opts: { overwrite: boolean }): Promise<WrittenFile[]> {
    return this.out.writeGroup(folder, stem, files, opts);
  }
}

/** The most pixels any image may have (sharp's default limit, 16383²). */
const MAX_DECODE_PIXELS = 268_402_689;

/**
 * Width and height from the file header only: sharp's metadata() reads the header without
 * decoding; BMP (which sharp cannot read) from its BITMAPINFOHEADER. Undefined when unknown.
 */
async function headerSize(bytes: Uint8Array): Promise<{ width: number; height: number } | undefined> {
  if (bytes.length >= 26 && bytes[0] === 0x42 && bytes[1] === 0x4d) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const headerBytes = view.getUint32(14, true);
    if (headerBytes === 12) return { width: view.getUint16(18, true), height: view.getUint16(20, true) };
    return { width: Math.abs(view.getInt32(18, true)), height: Math.abs(view.getInt32(22, true)) };
  }
  try {
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    return meta.width && meta.height ? { width: meta.width, height: meta.height } : undefined;
  } catch {
    return undefined; // not readable: the decoder below reports it as image-unreadable
  }
}

/** Hidden files (.DS_Store, editor swap files) are not worth a warning. */
function isVisible(p: string): boolean {
  return !path.basename(p).startsWith('.');
}

function isImagePath(p: string): boolean {
  return IMAGE_EXTENSIONS.includes(path.extname(p).toLowerCase());
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(() => true, () => false);
}

export { writeAtomic } from './outputFolder';
