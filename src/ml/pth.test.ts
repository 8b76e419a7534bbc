import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { PthError, readPth } from './pth';
import { sharedDataDir } from './testing';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'enhancer/fixtures');
const checksums = JSON.parse(readFileSync(path.join(fixtures, 'pth_checksums.json'), 'utf8')) as Record<
  string, Record<string, { shape: number[]; sum: number; sumsq: number; first: number[] }>
>;

const enc = new TextEncoder();
/** Build a pickle from byte pieces (numbers = raw bytes, strings = latin1 text). */
function pk(...parts: (number | string | Uint8Array)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else if (typeof p === 'string') out.push(...enc.encode(p));
    else out.push(...p);
  }
  return new Uint8Array(out);
}
const u32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);
const binunicode = (s: string) => pk(0x58, u32(enc.encode(s).length), s);
function pth(pickle: Uint8Array, storages: Record<string, Uint8Array> = {}): Uint8Array {
  const entries: Record<string, Uint8Array> = { 'archive/data.pkl': pickle };
  for (const [k, v] of Object.entries(storages)) entries[`archive/data/${k}`] = v;
  return zipSync(entries, { level: 0 });
}
/** A valid one-tensor state_dict: {'w': FloatStorage '0' of 4 floats viewed as [2,2]}. */
function goodPickle(pid: Uint8Array = pk(0x28, binunicode('storage'), 'ctorch\nFloatStorage\n', binunicode('0'), binunicode('cpu'), 0x4b, 4, 0x74)): Uint8Array {
  return pk(
    0x80, 2, 'ccollections\nOrderedDict\n', 0x29, 0x52, // OrderedDict()
    0x28, binunicode('w'),
    'ctorch._utils\n_rebuild_tensor_v2\n',
    0x28, pid, 0x51, 0x4b, 0, 0x4b, 2, 0x4b, 2, 0x86, 0x4b, 2, 0x4b, 1, 0x86, 0x89, 'ccollections\nOrderedDict\n', 0x29, 0x52, 0x74, 0x52,
    0x75, 0x2e,
  );
}
const floats = (...v: number[]) => new Uint8Array(new Float32Array(v).buffer);

describe('readPth: released checkpoints (values cross-checked against torch.load)', () => {
  for (const rel of Object.keys(checksums)) {
    it(`reads ${rel}`, () => {
      const sd = readPth(readFileSync(path.join(sharedDataDir, rel)));
      const want = checksums[rel];
      expect([...sd.keys()].sort()).toEqual(Object.keys(want).sort());
      for (const [k, w] of Object.entries(want)) {
        const t = sd.get(k)!;
        expect(t.shape).toEqual(w.shape);
        let s = 0;
        let s2 = 0;
        for (const v of t.data) { s += v; s2 += v * v; }
        expect(Math.abs(s - w.sum)).toBeLessThan(1e-6 * Math.max(1, Math.abs(w.sumsq)));
        expect(Math.abs(s2 - w.sumsq)).toBeLessThan(1e-6 * Math.max(1, w.sumsq));
        expect(Array.from(t.data.slice(0, 3))).toEqual(w.first.map((x) => Math.fround(x)));
      }
    });
  }
});

describe('readPth: layouts', () => {
  it('honours strides, storage offsets, float16/float64 and 0-d tensors', () => {
    const want = JSON.parse(readFileSync(path.join(fixtures, 'strided.json'), 'utf8')) as Record<string, { shape: number[]; values: number[] }>;
    const sd = readPth(readFileSync(path.join(fixtures, 'strided.pth')));
    for (const [k, w] of Object.entries(want)) {
      const t = sd.get(k)!;
      expect(t.shape, k).toEqual(w.shape);
      expect(Array.from(t.data), k).toEqual(w.values.map((x) => Math.fround(x)));
    }
    expect(sd.get('half')!.storage).toBe('HalfStorage');
  });

  it('parses a hand-built minimal state_dict', () => {
    const sd = readPth(pth(goodPickle(), { '0': floats(1, 2, 3, 4) }));
    expect(sd.get('w')).toEqual({ shape: [2, 2], data: new Float32Array([1, 2, 3, 4]), storage: 'FloatStorage' });
  });
});

describe('readPth: refuses malicious or corrupt input with clear errors', () => {
  const good = () => readFileSync(path.join(sharedDataDir, 'rave-weights/rave_unpaired.pth'));

  it('truncated zip', () => {
    const b = good();
    expect(() => readPth(b.subarray(0, b.length >> 1))).toThrow(PthError);
    expect(() => readPth(b.subarray(0, b.length >> 1))).toThrow(/corrupt or truncated zip/);
  });

  it('not a zip / legacy pickle', () => {
    expect(() => readPth(pk(0x80, 2, 0x4e, 0x2e))).toThrow(/legacy/);
  });

  it('GLOBAL os.system', () => {
    const evil = pk(0x80, 2, 'cos\nsystem\n', binunicode('echo pwned'), 0x85, 0x52, 0x2e);
    expect(() => readPth(pth(evil))).toThrow(/refused pickle GLOBAL 'os\.system' at byte 2/);
  });

  it('builtins.eval via STACK_GLOBAL', () => {
    const evil = pk(0x80, 4, 0x8c, 8, 'builtins', 0x8c, 4, 'eval', 0x93, 0x2e);
    expect(() => readPth(pth(evil))).toThrow(/refused pickle GLOBAL 'builtins\.eval'/);
  });

  it('unsupported opcode (INST)', () => {
    const evil = pk(0x80, 2, 0x28, 'ios\nsystem\n', 0x2e);
    expect(() => readPth(pth(evil))).toThrow(/unsupported pickle opcode 0x69 \('i'\) at byte 3; this file is not a plain state_dict/);
  });

  it('bad persistent id (not a storage tuple)', () => {
    const pid = pk(0x28, binunicode('module'), binunicode('x'), 0x74);
    expect(() => readPth(pth(goodPickle(pid), { '0': floats(1, 2, 3, 4) }))).toThrow(/bad persistent id/);
  });

  it('persistent id pointing to a missing storage entry', () => {
    expect(() => readPth(pth(goodPickle(), {}))).toThrow(/storage '0' has no data\/0 entry/);
  });

  it('storage shorter than declared', () => {
    expect(() => readPth(pth(goodPickle(), { '0': floats(1, 2) }))).toThrow(/storage '0' is truncated/);
  });

  it('REDUCE of a non-callable', () => {
    const evil = pk(0x80, 2, binunicode('x'), 0x29, 0x52, 0x2e);
    expect(() => readPth(pth(evil))).toThrow(/refused pickle REDUCE/);
  });

  it('truncated pickle', () => {
    const p = goodPickle();
    expect(() => readPth(pth(p.subarray(0, 40), { '0': floats(1, 2, 3, 4) }))).toThrow(/truncated pickle|malformed pickle/);
  });

  it('zip bomb limit', () => {
    expect(() => readPth(good(), { maxUncompressedBytes: 1000 })).toThrow(/limit maxUncompressedBytes/);
  });

  it('stride reading past the storage', () => {
    const p = goodPickle();
    // Patch stride (2,1) → (3,1): last element index 3+1 = 4 ≥ 4 elements.
    const i = p.findIndex((_, j) => p[j] === 0x4b && p[j + 1] === 2 && p[j + 2] === 0x4b && p[j + 3] === 1 && p[j + 4] === 0x86);
    p[i + 1] = 3;
    expect(() => readPth(pth(p, { '0': floats(1, 2, 3, 4) }))).toThrow(/reads element 4, past storage '0'/);
  });
});
