import { zipSync } from 'fflate';

/**
 * Writes a state_dict in torch.save's zip format (protocol 2 pickle, FloatStorage), enough for
 * tests and fuzzing to make .pth files without PyTorch. Each tensor may override its storage
 * (to share one, or to be a stride-0 view of a short one) — the way hostile files are built.
 */
export interface PthWriteTensor {
  shape: number[];
  data: Float32Array;
  /** Default: contiguous row-major strides. */
  stride?: number[];
  offset?: number;
  /** Storage key; tensors naming the same key share the storage of the first one. */
  storage?: string;
}

export function writePth(tensors: Map<string, PthWriteTensor> | Record<string, PthWriteTensor>): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const out: number[] = [];
  const enc = new TextEncoder();
  const bytes = (...b: number[]) => out.push(...b);
  const text = (s: string) => out.push(...enc.encode(s));
  const u32 = (n: number) => bytes(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  const str = (s: string) => {
    const b = enc.encode(s);
    bytes(0x58);
    u32(b.length);
    out.push(...b);
  };
  const int = (n: number) => {
    bytes(0x4a);
    u32(n | 0);
  };
  const tuple = (items: number[]) => {
    bytes(0x28);
    for (const n of items) int(n);
    bytes(0x74);
  };
  const storages: Record<string, Uint8Array> = {};
  bytes(0x80, 2);
  text('ccollections\nOrderedDict\n');
  bytes(0x29, 0x52, 0x28);
  entries.forEach(([key, t], i) => {
    const storageKey = t.storage ?? String(i);
    if (!storages[storageKey]) storages[storageKey] = new Uint8Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
    const numel = storages[storageKey].byteLength / 4;
    const stride = t.stride ?? t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    str(key);
    text('ctorch._utils\n_rebuild_tensor_v2\n');
    bytes(0x28); // args
    bytes(0x28);
    str('storage');
    text('ctorch\nFloatStorage\n');
    str(storageKey);
    str('cpu');
    int(numel);
    bytes(0x74, 0x51); // TUPLE, BINPERSID
    int(t.offset ?? 0);
    tuple(t.shape);
    tuple(stride);
    bytes(0x89); // requires_grad False
    text('ccollections\nOrderedDict\n');
    bytes(0x29, 0x52); // backward hooks
    bytes(0x74, 0x52); // TUPLE, REDUCE
  });
  bytes(0x75, 0x2e); // SETITEMS, STOP
  const files: Record<string, Uint8Array> = { 'archive/data.pkl': new Uint8Array(out), 'archive/byteorder': enc.encode('little') };
  for (const [k, v] of Object.entries(storages)) files[`archive/data/${k}`] = v;
  return zipSync(files, { level: 0 });
}
