import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeSafetensors, float16ToFloat32, SafetensorsFile } from './safetensors';
import { sharedDataDir } from './testing';

/** Hand-assembles a file from a header object and a data section. */
function craft(header: unknown, data: Uint8Array = new Uint8Array(0), headerLengthOverride?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLengthOverride ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('SafetensorsFile', () => {
  it('round-trips F32 tensors written by encodeSafetensors', () => {
    const bytes = encodeSafetensors({ a: { shape: [2, 2], values: new Float32Array([1, -2, 3.5, 4]) }, b: { shape: [], values: new Float32Array([7]) } }, { format: 'pt' });
    const file = SafetensorsFile.parse(bytes);
    expect(file.names.sort()).toEqual(['a', 'b']);
    expect(file.metadata).toEqual({ format: 'pt' });
    expect(file.tensor('a')).toEqual({ name: 'a', shape: [2, 2], values: new Float32Array([1, -2, 3.5, 4]) });
    expect(Array.from(file.tensor('b').values)).toEqual([7]);
  });

  it('decodes F16 and BF16 (values chosen to be exact in both)', () => {
    // 1.0 = 0x3c00 (f16) = 0x3f80 (bf16); -2.5 = 0xc100 (f16) = 0xc020 (bf16)
    const f16 = new Uint8Array([0x00, 0x3c, 0x00, 0xc1]);
    const bf16 = new Uint8Array([0x80, 0x3f, 0x20, 0xc0]);
    const data = new Uint8Array([...f16, ...bf16]);
    const file = SafetensorsFile.parse(craft({ h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, b: { dtype: 'BF16', shape: [2], data_offsets: [4, 8] } }, data));
    expect(Array.from(file.tensor('h').values)).toEqual([1, -2.5]);
    expect(Array.from(file.tensor('b').values)).toEqual([1, -2.5]);
    expect(float16ToFloat32(0x0001)).toBeCloseTo(5.96e-8, 9); // smallest subnormal
    expect(float16ToFloat32(0x7c00)).toBe(Infinity);
  });

  it('rejects a file shorter than the length prefix', () => {
    expect(() => SafetensorsFile.parse(new Uint8Array(3), 'x.safetensors')).toThrow(/x\.safetensors: only 3 bytes/);
  });

  it('rejects a header length beyond the file', () => {
    expect(() => SafetensorsFile.parse(craft({}, new Uint8Array(0), 1000))).toThrow(/header length 1000 runs beyond the end of the file/);
  });

  it('rejects a header that is not JSON', () => {
    expect(() => SafetensorsFile.parse(craft('{not json'))).toThrow(/header is not valid UTF-8 JSON/);
    expect(() => SafetensorsFile.parse(craft('[1,2]'))).toThrow(/header must be a JSON object/);
  });

  it('rejects unknown dtypes at parse time and non-float dtypes at read time, naming the tensor', () => {
    expect(() => SafetensorsFile.parse(craft({ w: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)))).toThrow(/tensor "w": unsupported dtype "Q4"/);
    const file = SafetensorsFile.parse(craft({ ids: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)));
    expect(() => file.tensor('ids')).toThrow(/tensor "ids" has dtype I64; only F32, F16 and BF16/);
  });

  it('rejects offsets outside the data section', () => {
    expect(() => SafetensorsFile.parse(craft({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)))).toThrow(/tensor "w": data_offsets \[0, 16\] are out of range \(data section has 8 bytes\)/);
    expect(() => SafetensorsFile.parse(craft({ w: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, new Uint8Array(8)))).toThrow(/out of range/);
  });

  it('rejects a shape that does not match the byte count', () => {
    expect(() => SafetensorsFile.parse(craft({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)))).toThrow(/tensor "w": shape \[3\] × F32 needs 12 bytes but data_offsets cover 8/);
    expect(() => SafetensorsFile.parse(craft({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)))).toThrow(/"shape" must be a list of non-negative integers/);
  });

  it('names close keys when a tensor is missing', () => {
    const file = SafetensorsFile.parse(encodeSafetensors({ 'vision_model.pre_layrnorm.weight': { shape: [1], values: new Float32Array(1) }, 'other.bias': { shape: [1], values: new Float32Array(1) } }));
    expect(() => file.tensor('vision_model.pre_layernorm.weight')).toThrow(/tensor "vision_model.pre_layernorm.weight" is not in the checkpoint.*Closest names: "vision_model.pre_layrnorm.weight"/);
  });

  it('reads the tiny CLIP fixture (values checked against numpy)', () => {
    const file = SafetensorsFile.parse(readFileSync(path.join(sharedDataDir, 'tiny-clip/model.safetensors')), 'tiny-clip');
    expect(file.names.length).toBe(78);
    expect(file.entry('vision_model.embeddings.patch_embedding.weight').shape).toEqual([16, 3, 8, 8]);
    expect(file.tensor('logit_scale').values[0]).toBeCloseTo(2.6592, 6);
    const projection = file.tensor('text_projection.weight');
    expect(projection.shape).toEqual([8, 16]);
    expect(Array.from(projection.values.slice(0, 3))).toEqual([0.21561607718467712, 0.09689792990684509, -0.8334781527519226].map(Math.fround));
    expect(projection.values.reduce((a, b) => a + b, 0)).toBeCloseTo(-0.72954977, 4);
    expect(file.tensor('vision_model.embeddings.patch_embedding.weight').values.reduce((a, b) => a + b, 0)).toBeCloseTo(-12.78125, 3);
  });
});
