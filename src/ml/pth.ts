import { unzipSync } from 'fflate';

/**
 * Safe reader for PyTorch `.pth` state_dicts (torch.save zip format, torch ≥ 1.6).
 *
 * A `.pth` is a zip holding `<prefix>/data.pkl` (a pickle describing the dict) and raw tensor
 * storages `<prefix>/data/<key>`. Pickles can run arbitrary code, so instead of a general
 * unpickler this is a tiny VM that knows only the opcodes torch.save emits for a state_dict and
 * only an allow-list of callables (OrderedDict, _rebuild_tensor_v2, _rebuild_parameter, storage
 * types). Anything else is refused with the opcode / global name and byte offset.
 */

export interface PthTensor {
  shape: number[];
  /** Values converted to float32, row-major (C order), storage offset and strides applied. */
  data: Float32Array;
  /** Storage type in the file, e.g. `FloatStorage`. */
  storage: string;
}

export interface PthLimits {
  /** Max total uncompressed bytes of all zip entries. */
  maxUncompressedBytes: number;
  /** Max number of zip entries. */
  maxZipEntries: number;
  /** Max bytes of data.pkl. */
  maxPickleBytes: number;
  /** Max tensors in the state_dict. */
  maxTensors: number;
  /** Max elements of the pickle VM stack + memo (guards against blow-ups). */
  maxStackItems: number;
}

export const DEFAULT_PTH_LIMITS: PthLimits = {
  maxUncompressedBytes: 1 << 30,
  maxZipEntries: 100_000,
  maxPickleBytes: 64 << 20,
  maxTensors: 50_000,
  maxStackItems: 1_000_000,
};

export class PthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PthError';
  }
}

// ---- pickle values ---------------------------------------------------------------------------

const MARK = Symbol('mark');
type Mark = typeof MARK;

interface StorageType { kind: 'storageType'; name: string; bytes: number; decode: (view: DataView, i: number, little: boolean) => number }
interface Callable { kind: 'callable'; name: string }
interface StorageRef { kind: 'storage'; type: StorageType; key: string; numel: number }
interface TensorRef { kind: 'tensor'; storage: StorageRef; offset: number; size: number[]; stride: number[] }
type PyDict = Map<PyValue, PyValue> & { pyDict?: true };
type PyValue = null | boolean | number | bigint | string | PyValue[] | PyTuple | PyDict | StorageType | Callable | StorageRef | TensorRef;
class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

const STORAGE_TYPES: Record<string, Omit<StorageType, 'kind' | 'name'>> = {
  FloatStorage: { bytes: 4, decode: (v, i, le) => v.getFloat32(i, le) },
  DoubleStorage: { bytes: 8, decode: (v, i, le) => v.getFloat64(i, le) },
  HalfStorage: { bytes: 2, decode: (v, i, le) => halfToFloat(v.getUint16(i, le)) },
  BFloat16Storage: { bytes: 2, decode: (v, i, le) => new Float32Array(new Uint32Array([v.getUint16(i, le) << 16]).buffer)[0] },
  LongStorage: { bytes: 8, decode: (v, i, le) => Number(v.getBigInt64(i, le)) },
  IntStorage: { bytes: 4, decode: (v, i, le) => v.getInt32(i, le) },
  ShortStorage: { bytes: 2, decode: (v, i, le) => v.getInt16(i, le) },
  CharStorage: { bytes: 1, decode: (v, i) => v.getInt8(i) },
  ByteStorage: { bytes: 1, decode: (v, i) => v.getUint8(i) },
  BoolStorage: { bytes: 1, decode: (v, i) => (v.getUint8(i) ? 1 : 0) },
};

/** Allow-listed globals; everything else (os.system, builtins.eval, …) is refused. */
function resolveGlobal(module: string, name: string, at: number): StorageType | Callable {
  if (module === 'collections' && name === 'OrderedDict') return { kind: 'callable', name: 'OrderedDict' };
  if (module === 'torch._utils' && (name === '_rebuild_tensor_v2' || name === '_rebuild_parameter')) return { kind: 'callable', name };
  if (module === 'torch' && name in STORAGE_TYPES) return { kind: 'storageType', name, ...STORAGE_TYPES[name] };
  throw new PthError(`refused pickle GLOBAL '${module}.${name}' at byte ${at}: only OrderedDict, torch._utils._rebuild_tensor_v2/_rebuild_parameter and torch.*Storage are allowed; this file is not a plain state_dict.`);
}

const OPNAMES: Record<number, string> = {
  0x80: 'PROTO', 0x95: 'FRAME', 0x2e: 'STOP', 0x63: 'GLOBAL', 0x93: 'STACK_GLOBAL', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x94: 'MEMOIZE', 0x68: 'BINGET', 0x6a: 'LONG_BINGET', 0x28: 'MARK', 0x29: 'EMPTY_TUPLE', 0x74: 'TUPLE', 0x85: 'TUPLE1',
  0x86: 'TUPLE2', 0x87: 'TUPLE3', 0x7d: 'EMPTY_DICT', 0x5d: 'EMPTY_LIST', 0x58: 'BINUNICODE', 0x8c: 'SHORT_BINUNICODE',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4d: 'BININT2', 0x8a: 'LONG1', 0x47: 'BINFLOAT', 0x89: 'NEWFALSE', 0x88: 'NEWTRUE',
  0x4e: 'NONE', 0x51: 'BINPERSID', 0x52: 'REDUCE', 0x73: 'SETITEM', 0x75: 'SETITEMS', 0x62: 'BUILD', 0x61: 'APPEND', 0x65: 'APPENDS',
};

function describe(v: PyValue | Mark): string {
  if (v === MARK) return 'MARK';
  if (v === null) return 'None';
  if (v instanceof PyTuple) return `tuple(${v.items.length})`;
  if (v instanceof Map) return 'dict';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'object') return v.kind;
  return typeof v;
}

/** Run the restricted pickle VM over data.pkl; returns the unpickled top-level value. */
function unpickle(pkl: Uint8Array, limits: PthLimits, storageSizes: (key: string) => number | undefined): PyValue {
  const view = new DataView(pkl.buffer, pkl.byteOffset, pkl.byteLength);
  const dec = new TextDecoder('utf-8', { fatal: true });
  const stack: (PyValue | Mark)[] = [];
  const memo = new Map<number, PyValue>();
  let pos = 0;

  const need = (n: number, op: string) => {
    if (pos + n > pkl.length) throw new PthError(`truncated pickle: ${op} at byte ${pos - 1} needs ${n} more bytes; the file is corrupt.`);
  };
  const u8 = (op: string) => { need(1, op); return pkl[pos++]; };
  const u16 = (op: string) => { need(2, op); const v = view.getUint16(pos, true); pos += 2; return v; };
  const u32 = (op: string) => { need(4, op); const v = view.getUint32(pos, true); pos += 4; return v; };
  const utf8 = (bytes: Uint8Array, op: string) => {
    try {
      return dec.decode(bytes);
    } catch {
      throw new PthError(`malformed pickle: ${op} at byte ${pos - 1} holds invalid UTF-8; the file is corrupt.`);
    }
  };
  const str = (n: number, op: string) => {
    need(n, op);
    const s = utf8(pkl.subarray(pos, pos + n), op);
    pos += n;
    return s;
  };
  const line = (op: string) => {
    const end = pkl.indexOf(0x0a, pos);
    if (end < 0 || end - pos > 256) throw new PthError(`malformed pickle: ${op} at byte ${pos - 1} has no short newline-terminated argument.`);
    const s = utf8(pkl.subarray(pos, end), op);
    pos = end + 1;
    return s;
  };
  const push = (v: PyValue | Mark) => {
    if (stack.length + memo.size >= limits.maxStackItems) throw new PthError(`pickle too large: more than ${limits.maxStackItems} stack/memo items (limit maxStackItems).`);
    stack.push(v);
  };
  const pop = (op: string, at: number): PyValue => {
    const v = stack.pop();
    if (v === undefined) throw new PthError(`malformed pickle: ${op} at byte ${at} pops an empty stack.`);
    if (v === MARK) throw new PthError(`malformed pickle: ${op} at byte ${at} found a MARK where a value was expected.`);
    return v;
  };
  const popMark = (op: string, at: number): PyValue[] => {
    let i = stack.length - 1;
    while (i >= 0 && stack[i] !== MARK) i--;
    if (i < 0) throw new PthError(`malformed pickle: ${op} at byte ${at} has no matching MARK.`);
    const items = stack.splice(i + 1) as PyValue[];
    stack.pop();
    return items;
  };
  const top = (op: string, at: number): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) throw new PthError(`malformed pickle: ${op} at byte ${at} needs a value on the stack.`);
    return v;
  };
  const setItems = (d: PyValue, kv: PyValue[], op: string, at: number) => {
    if (!(d instanceof Map)) throw new PthError(`malformed pickle: ${op} at byte ${at} targets a ${describe(d)}, not a dict.`);
    if (kv.length % 2) throw new PthError(`malformed pickle: ${op} at byte ${at} has an odd number of key/value items.`);
    for (let i = 0; i < kv.length; i += 2) d.set(kv[i], kv[i + 1]);
    if (d.size > limits.maxTensors * 4) throw new PthError(`state_dict too large: more than ${limits.maxTensors * 4} entries.`);
  };
  const int = (v: PyValue, what: string, at: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new PthError(`malformed tensor at byte ${at}: ${what} must be a non-negative int, got ${describe(v)}.`);
    return v;
  };
  const intTuple = (v: PyValue, what: string, at: number): number[] => {
    if (!(v instanceof PyTuple)) throw new PthError(`malformed tensor at byte ${at}: ${what} must be a tuple, got ${describe(v)}.`);
    if (v.items.length > 16) throw new PthError(`malformed tensor at byte ${at}: ${what} has ${v.items.length} dims (max 16).`);
    return v.items.map((x) => int(x, what, at));
  };

  const call = (fn: PyValue, args: PyValue, at: number): PyValue => {
    if (!(args instanceof PyTuple)) throw new PthError(`malformed pickle: REDUCE at byte ${at} needs an argument tuple, got ${describe(args)}.`);
    if (fn === null || typeof fn !== 'object' || !('kind' in fn) || fn.kind !== 'callable') {
      throw new PthError(`refused pickle REDUCE at byte ${at}: ${describe(fn)} is not an allow-listed callable; this file is not a plain state_dict.`);
    }
    const a = args.items;
    if (fn.name === 'OrderedDict') {
      if (a.length !== 0) throw new PthError(`refused OrderedDict(...) with arguments at byte ${at}; a state_dict pickle builds it empty.`);
      return new Map();
    }
    if (fn.name === '_rebuild_parameter') {
      const t = a[0];
      if (!t || typeof t !== 'object' || !('kind' in t) || t.kind !== 'tensor') throw new PthError(`malformed _rebuild_parameter at byte ${at}: first argument must be a tensor.`);
      return t;
    }
    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    if (a.length < 6) throw new PthError(`malformed _rebuild_tensor_v2 at byte ${at}: expected ≥6 arguments, got ${a.length}.`);
    const storage = a[0];
    if (!storage || typeof storage !== 'object' || !('kind' in storage) || storage.kind !== 'storage') {
      throw new PthError(`malformed _rebuild_tensor_v2 at byte ${at}: first argument must be a storage reference, got ${describe(storage)}.`);
    }
    const offset = int(a[1], 'storage_offset', at);
    const size = intTuple(a[2], 'size', at);
    const stride = intTuple(a[3], 'stride', at);
    if (size.length !== stride.length) throw new PthError(`malformed tensor at byte ${at}: size has ${size.length} dims but stride ${stride.length}.`);
    return { kind: 'tensor', storage, offset, size, stride };
  };

  const persistent = (pid: PyValue, at: number): StorageRef => {
    // torch.save: ('storage', storage_type, key, location, numel)
    if (!(pid instanceof PyTuple) || pid.items.length !== 5 || pid.items[0] !== 'storage') {
      throw new PthError(`bad persistent id at byte ${at}: expected ('storage', type, key, location, numel), got ${describe(pid)}.`);
    }
    const [, type, key, , numel] = pid.items;
    if (!type || typeof type !== 'object' || !('kind' in type) || type.kind !== 'storageType') {
      throw new PthError(`bad persistent id at byte ${at}: storage type must be an allow-listed torch.*Storage, got ${describe(type)}.`);
    }
    if (typeof key !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(key)) throw new PthError(`bad persistent id at byte ${at}: storage key must be a short name, got ${describe(key)}.`);
    const n = int(numel, 'storage numel', at);
    const bytes = storageSizes(key);
    if (bytes === undefined) throw new PthError(`bad persistent id at byte ${at}: storage '${key}' has no data/${key} entry in the zip.`);
    if (bytes < n * type.bytes) throw new PthError(`storage '${key}' is truncated: ${bytes} bytes for ${n} × ${type.bytes}-byte elements.`);
    return { kind: 'storage', type, key, numel: n };
  };

  for (;;) {
    if (pos >= pkl.length) throw new PthError(`truncated pickle: reached byte ${pos} without STOP; the file is corrupt.`);
    const at = pos;
    const op = pkl[pos++];
    switch (op) {
      case 0x80: { const v = u8('PROTO'); if (v < 2 || v > 5) throw new PthError(`unsupported pickle protocol ${v} at byte ${at}.`); break; }
      case 0x95: need(8, 'FRAME'); pos += 8; break;
      case 0x2e: { // STOP
        const v = pop('STOP', at);
        return v;
      }
      case 0x63: { const m = line('GLOBAL'); const n = line('GLOBAL'); push(resolveGlobal(m, n, at)); break; }
      case 0x93: {
        const n = pop('STACK_GLOBAL', at);
        const m = pop('STACK_GLOBAL', at);
        if (typeof m !== 'string' || typeof n !== 'string') throw new PthError(`malformed pickle: STACK_GLOBAL at byte ${at} needs two strings.`);
        push(resolveGlobal(m, n, at));
        break;
      }
      case 0x71: memo.set(u8('BINPUT'), top('BINPUT', at)); break;
      case 0x72: memo.set(u32('LONG_BINPUT'), top('LONG_BINPUT', at)); break;
      case 0x94: memo.set(memo.size, top('MEMOIZE', at)); break;
      case 0x68: case 0x6a: {
        const idx = op === 0x68 ? u8('BINGET') : u32('LONG_BINGET');
        if (!memo.has(idx)) throw new PthError(`malformed pickle: ${OPNAMES[op]} at byte ${at} reads memo ${idx}, which was never set.`);
        push(memo.get(idx) as PyValue);
        break;
      }
      case 0x28: push(MARK); break;
      case 0x29: push(new PyTuple([])); break;
      case 0x74: push(new PyTuple(popMark('TUPLE', at))); break;
      case 0x85: push(new PyTuple([pop('TUPLE1', at)])); break;
      case 0x86: { const b = pop('TUPLE2', at); const a = pop('TUPLE2', at); push(new PyTuple([a, b])); break; }
      case 0x87: { const c = pop('TUPLE3', at); const b = pop('TUPLE3', at); const a = pop('TUPLE3', at); push(new PyTuple([a, b, c])); break; }
      case 0x7d: push(new Map()); break;
      case 0x5d: push([]); break;
      case 0x58: push(str(u32('BINUNICODE'), 'BINUNICODE')); break;
      case 0x8c: push(str(u8('SHORT_BINUNICODE'), 'SHORT_BINUNICODE')); break;
      case 0x4a: { need(4, 'BININT'); push(view.getInt32(pos, true)); pos += 4; break; }
      case 0x4b: push(u8('BININT1')); break;
      case 0x4d: push(u16('BININT2')); break;
      case 0x8a: {
        const n = u8('LONG1');
        need(n, 'LONG1');
        if (n > 8) throw new PthError(`unsupported LONG1 of ${n} bytes at byte ${at}.`);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(pkl[pos + i]);
        if (n > 0 && pkl[pos + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        pos += n;
        push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: { need(8, 'BINFLOAT'); push(view.getFloat64(pos, false)); pos += 8; break; }
      case 0x89: push(false); break;
      case 0x88: push(true); break;
      case 0x4e: push(null); break;
      case 0x51: push(persistent(pop('BINPERSID', at), at)); break;
      case 0x52: { const args = pop('REDUCE', at); const fn = pop('REDUCE', at); push(call(fn, args, at)); break; }
      case 0x73: { const v = pop('SETITEM', at); const k = pop('SETITEM', at); setItems(top('SETITEM', at), [k, v], 'SETITEM', at); break; }
      case 0x75: { const kv = popMark('SETITEMS', at); setItems(top('SETITEMS', at), kv, 'SETITEMS', at); break; }
      case 0x61: { const v = pop('APPEND', at); const l = top('APPEND', at); if (!Array.isArray(l)) throw new PthError(`malformed pickle: APPEND at byte ${at} targets a ${describe(l)}.`); l.push(v); break; }
      case 0x65: { const vs = popMark('APPENDS', at); const l = top('APPENDS', at); if (!Array.isArray(l)) throw new PthError(`malformed pickle: APPENDS at byte ${at} targets a ${describe(l)}.`); l.push(...vs); break; }
      case 0x62: {
        // BUILD: torch attaches `_metadata` (module versions) to the OrderedDict; only a plain dict
        // state on a dict is accepted, and it is dropped (it carries no weights).
        const state = pop('BUILD', at);
        const obj = top('BUILD', at);
        if (!(obj instanceof Map) || !(state instanceof Map || state === null || state instanceof PyTuple)) {
          throw new PthError(`refused pickle BUILD at byte ${at} on a ${describe(obj)} with ${describe(state)} state; this file is not a plain state_dict.`);
        }
        break;
      }
      default: {
        const name = OPNAMES[op] ?? `0x${op.toString(16).padStart(2, '0')} ('${String.fromCharCode(op)}')`;
        throw new PthError(`unsupported pickle opcode ${name} at byte ${at}; this file is not a plain state_dict.`);
      }
    }
  }
}

// ---- zip + tensor materialisation -------------------------------------------------------------

function materialise(name: string, t: TensorRef, raw: Uint8Array, little: boolean): PthTensor {
  const { type } = t.storage;
  const numel = t.size.reduce((a, b) => a * b, 1);
  // Bounded by the file itself: a tensor never has more elements than its storage holds, so a
  // stride-0 view (torch.zeros(1).expand(65536, 65536): 4 bytes on disk, 16 GiB materialised)
  // is refused instead of allocated. Saved state_dicts never contain such views.
  if (numel > t.storage.numel) {
    throw new PthError(`tensor '${name}': shape [${t.size}] has ${numel} elements but its storage '${t.storage.key}' holds only ${t.storage.numel} (a stride-0 or overlapping view); refused rather than expanded in memory. Save it with .contiguous() (or .clone()) first.`);
  }
  // Largest storage index touched; checked so a malicious stride cannot read out of bounds.
  const maxIndex = numel === 0 ? -1 : t.offset + t.size.reduce((acc, s, i) => acc + (s - 1) * t.stride[i], 0);
  if (maxIndex >= t.storage.numel) {
    throw new PthError(`tensor '${name}': shape [${t.size}] with strides [${t.stride}] and offset ${t.offset} reads element ${maxIndex}, past storage '${t.storage.key}' (${t.storage.numel} elements).`);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float32Array(numel);
  let contiguous = true;
  for (let i = t.size.length - 1, expect = 1; i >= 0; i--) {
    if (t.size[i] !== 1 && t.stride[i] !== expect) contiguous = false;
    expect *= t.size[i];
  }
  if (contiguous) {
    if (type.name === 'FloatStorage' && little && (raw.byteOffset + t.offset * 4) % 4 === 0) {
      out.set(new Float32Array(raw.buffer, raw.byteOffset + t.offset * 4, numel));
    } else {
      for (let i = 0; i < numel; i++) out[i] = type.decode(view, (t.offset + i) * type.bytes, little);
    }
  } else {
    // General strided gather, row-major over `size`.
    const idx = new Array<number>(t.size.length).fill(0);
    for (let i = 0; i < numel; i++) {
      let src = t.offset;
      for (let d = 0; d < idx.length; d++) src += idx[d] * t.stride[d];
      out[i] = type.decode(view, src * type.bytes, little);
      for (let d = idx.length - 1; d >= 0; d--) {
        if (++idx[d] < t.size[d]) break;
        idx[d] = 0;
      }
    }
  }
  return { shape: t.size.slice(), data: out, storage: type.name };
}

function isTensor(v: PyValue): v is TensorRef {
  return v !== null && typeof v === 'object' && !(v instanceof Map) && !(v instanceof PyTuple) && !Array.isArray(v) && v.kind === 'tensor';
}

/**
 * Parse a torch.save'd state_dict. Returns tensors by state_dict key (as stored; e.g. keys keep a
 * `module.` prefix from DataParallel — strip it at load time). Throws PthError with the reason.
 */
export function readPth(bytes: Uint8Array, limits: Partial<PthLimits> & { keep?: (key: string) => boolean } = {}): Map<string, PthTensor> {
  const { keep, ...rest } = limits;
  const lim: PthLimits = { ...DEFAULT_PTH_LIMITS, ...rest };
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) {
    const legacy = bytes[0] === 0x80 ? ' It looks like the legacy (pre-1.6) pickle format; re-save it with torch.save(sd, f) on torch ≥ 1.6.' : '';
    throw new PthError(`not a PyTorch zip checkpoint (no 'PK' zip signature).${legacy}`);
  }
  let files: Record<string, Uint8Array>;
  let total = 0;
  let count = 0;
  try {
    files = unzipSync(bytes, {
      filter: (f) => {
        count++;
        total += f.originalSize;
        if (count > lim.maxZipEntries) throw new PthError(`zip has more than ${lim.maxZipEntries} entries (limit maxZipEntries).`);
        if (total > lim.maxUncompressedBytes) throw new PthError(`zip expands to more than ${lim.maxUncompressedBytes} bytes (limit maxUncompressedBytes).`);
        if (f.compression !== 0 && f.compression !== 8) throw new PthError(`zip entry '${f.name}' uses compression method ${f.compression}; only stored and deflate are supported.`);
        return true;
      },
    });
  } catch (e) {
    if (e instanceof PthError) throw e;
    throw new PthError(`corrupt or truncated zip: ${(e as Error).message}.`);
  }
  const pklName = Object.keys(files).find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (!pklName) throw new PthError(`no '<name>/data.pkl' in the zip; not a torch.save checkpoint (entries: ${Object.keys(files).slice(0, 5).join(', ')}).`);
  const prefix = pklName.slice(0, -'data.pkl'.length);
  const pkl = files[pklName];
  if (pkl.length > lim.maxPickleBytes) throw new PthError(`data.pkl is ${pkl.length} bytes (limit maxPickleBytes ${lim.maxPickleBytes}).`);
  const byteorder = files[`${prefix}byteorder`];
  const little = byteorder ? new TextDecoder().decode(byteorder).trim() !== 'big' : true;

  const root = unpickle(pkl, lim, (key) => files[`${prefix}data/${key}`]?.length);
  let dict: PyValue = root;
  if (dict instanceof Map && ![...dict.values()].some(isTensor)) {
    // Common wrappers: {'state_dict': …} / {'model': …}.
    for (const k of ['state_dict', 'model', 'net']) {
      const inner = dict.get(k);
      if (inner instanceof Map) { dict = inner; break; }
    }
  }
  if (!(dict instanceof Map)) throw new PthError(`checkpoint root is a ${describe(root)}, not a state_dict (dict of tensors).`);
  const out = new Map<string, PthTensor>();
  // Total elements materialised are bounded by the file's own storages: twice their elements
  // (tied weights share one storage) plus 1 Mi of slack. Many tensors viewing one storage again
  // and again cannot turn a small file into gigabytes.
  const storageElements = new Map<string, number>();
  for (const v of dict.values()) if (isTensor(v)) storageElements.set(v.storage.key, v.storage.numel);
  const budget = 2 * [...storageElements.values()].reduce((a, b) => a + b, 0) + (1 << 20);
  let spent = 0;
  for (const [k, v] of dict) {
    if (typeof k !== 'string') throw new PthError(`state_dict key of type ${describe(k)}; expected strings.`);
    if (!isTensor(v)) continue; // non-tensor entries (e.g. saved hyperparameters) carry no weights
    if (keep && !keep(k)) continue; // not needed by the caller: never materialised
    if (out.size >= lim.maxTensors) throw new PthError(`state_dict has more than ${lim.maxTensors} tensors (limit maxTensors).`);
    const numel = v.size.reduce((a, b) => a * b, 1);
    spent += Math.min(numel, v.storage.numel); // larger views are refused by materialise itself
    if (spent > budget) throw new PthError(`tensor '${k}': the state_dict's tensors add up to more than ${budget} elements, twice what the file's storages hold; refused (many views of one storage).`);
    out.set(k, materialise(k, v, files[`${prefix}data/${v.storage.key}`], little));
  }
  if (out.size === 0) throw new PthError('state_dict contains no tensors.');
  return out;
}
