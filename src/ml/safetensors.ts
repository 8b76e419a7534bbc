/**
 * Bounds-checked reader for the safetensors format (https://huggingface.co/docs/safetensors):
 * 8-byte little-endian header length N, N bytes of JSON `{name: {dtype, shape, data_offsets:[begin,end]}}`
 * (offsets relative to the end of the header), then the raw little-endian tensor bytes.
 * Tensors are decoded lazily, so checkpoints may hold dtypes we never read (e.g. I64 position_ids).
 */

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL' | string;

export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** Byte range relative to the start of the data section (after the header). */
  readonly begin: number;
  readonly end: number;
}

export interface DecodedTensor {
  readonly name: string;
  readonly shape: number[];
  readonly values: Float32Array;
}

export class SafetensorsError extends Error {
  override readonly name = 'SafetensorsError';
}

const BYTES_PER_ELEMENT: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};
const DECODABLE = new Set(['F32', 'F16', 'BF16']);
/** The format caps the header at 100 MB; anything larger is a corrupt or foreign file. */
const MAX_HEADER_BYTES = 100_000_000;

export class SafetensorsFile {
  readonly metadata: Readonly<Record<string, string>>;
  private readonly entries: Map<string, SafetensorsEntry>;
  private readonly dataStart: number;

  private constructor(private readonly bytes: Uint8Array, entries: Map<string, SafetensorsEntry>, metadata: Record<string, string>, dataStart: number) {
    this.entries = entries;
    this.metadata = metadata;
    this.dataStart = dataStart;
  }

  /** Parses and validates the header; `source` names the file in error messages. */
  static parse(input: Uint8Array | ArrayBuffer, source = 'safetensors file'): SafetensorsFile {
    const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
    if (bytes.byteLength < 8) {
      throw new SafetensorsError(`${source}: only ${bytes.byteLength} bytes; a safetensors file starts with an 8-byte header length. Is this the right file (model.safetensors)?`);
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const headerLength = Number(view.getBigUint64(0, true));
    if (headerLength > MAX_HEADER_BYTES) {
      throw new SafetensorsError(`${source}: header length ${headerLength} is larger than the 100 MB the format allows — not a safetensors file, or corrupt.`);
    }
    if (8 + headerLength > bytes.byteLength) {
      throw new SafetensorsError(`${source}: header length ${headerLength} runs beyond the end of the file (${bytes.byteLength} bytes) — the file is truncated or not safetensors.`);
    }
    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)));
    } catch (e) {
      throw new SafetensorsError(`${source}: header is not valid UTF-8 JSON (${(e as Error).message}).`);
    }
    if (header === null || typeof header !== 'object' || Array.isArray(header)) {
      throw new SafetensorsError(`${source}: header must be a JSON object of tensor entries.`);
    }
    const dataStart = 8 + headerLength;
    const dataLength = bytes.byteLength - dataStart;
    const entries = new Map<string, SafetensorsEntry>();
    let metadata: Record<string, string> = {};
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        metadata = (raw ?? {}) as Record<string, string>;
        continue;
      }
      entries.set(name, validateEntry(name, raw, dataLength, source));
    }
    return new SafetensorsFile(bytes, entries, metadata, dataStart);
  }

  get names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Header entry of a tensor, or a clear error with the closest names. */
  entry(name: string): SafetensorsEntry {
    const entry = this.entries.get(name);
    if (!entry) {
      const hints = closestNames(name, this.names, 3);
      throw new SafetensorsError(
        `tensor "${name}" is not in the checkpoint (${this.entries.size} tensors).` +
          (hints.length ? ` Closest names: ${hints.map((h) => `"${h}"`).join(', ')}.` : '') +
          ' Check the model type/config matches these weights.',
      );
    }
    return entry;
  }

  /** Decodes one tensor (F32/F16/BF16) to float32. */
  tensor(name: string): DecodedTensor {
    const entry = this.entry(name);
    if (!DECODABLE.has(entry.dtype)) {
      throw new SafetensorsError(`tensor "${name}" has dtype ${entry.dtype}; only F32, F16 and BF16 can be read as float weights. Re-save the checkpoint in float32/float16.`);
    }
    const count = entry.shape.reduce((a, b) => a * b, 1);
    const bytes = this.bytes.subarray(this.dataStart + entry.begin, this.dataStart + entry.end);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const values = new Float32Array(count);
    if (entry.dtype === 'F32') {
      for (let i = 0; i < count; i++) values[i] = view.getFloat32(i * 4, true);
    } else if (entry.dtype === 'F16') {
      for (let i = 0; i < count; i++) values[i] = float16ToFloat32(view.getUint16(i * 2, true));
    } else {
      // bfloat16 is the top half of a float32.
      const scratch = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < count; i++) {
        scratch.setUint32(0, view.getUint16(i * 2, true) << 16, true);
        values[i] = scratch.getFloat32(0, true);
      }
    }
    return { name, shape: [...entry.shape], values };
  }
}

function validateEntry(name: string, raw: unknown, dataLength: number, source: string): SafetensorsEntry {
  const where = `${source}: tensor "${name}"`;
  if (raw === null || typeof raw !== 'object') throw new SafetensorsError(`${where}: header entry is not an object.`);
  const { dtype, shape, data_offsets: offsets } = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof dtype !== 'string') throw new SafetensorsError(`${where}: missing "dtype".`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new SafetensorsError(`${where}: "shape" must be a list of non-negative integers, got ${JSON.stringify(shape)}.`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
    throw new SafetensorsError(`${where}: "data_offsets" must be [begin, end], got ${JSON.stringify(offsets)}.`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataLength) {
    throw new SafetensorsError(`${where}: data_offsets [${begin}, ${end}] are out of range (data section has ${dataLength} bytes) — the file is truncated or corrupt.`);
  }
  const elementBytes = BYTES_PER_ELEMENT[dtype];
  if (elementBytes === undefined) {
    throw new SafetensorsError(`${where}: unsupported dtype "${dtype}" (known: ${Object.keys(BYTES_PER_ELEMENT).join(', ')}).`);
  }
  const expected = (shape as number[]).reduce((a, b) => a * b, 1) * elementBytes;
  if (end - begin !== expected) {
    throw new SafetensorsError(`${where}: shape [${(shape as number[]).join(', ')}] × ${dtype} needs ${expected} bytes but data_offsets cover ${end - begin}.`);
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

export function float16ToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Names ranked by edit distance to `name` (for "did you mean" hints). */
export function closestNames(name: string, candidates: string[], count: number): string[] {
  return candidates
    .map((c) => ({ c, d: editDistance(name, c) }))
    .sort((a, b) => a.d - b.d)
    .slice(0, count)
    .map((x) => x.c);
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/** Builds a safetensors file in memory (tests, and for saving small weight sets). */
export function encodeSafetensors(tensors: Record<string, { shape: number[]; values: Float32Array }>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.values.length * 4] };
    offset += t.values.length * 4;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data section is 8-byte aligned, as the reference writer does.
  while ((8 + new TextEncoder().encode(json).length) % 8) json += ' ';
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of Object.values(tensors)) {
    for (let i = 0; i < t.values.length; i++) view.setFloat32(at + i * 4, t.values[i], true);
    at += t.values.length * 4;
  }
  return out;
}
