import { describe, expect, it } from 'vitest';
import { deflateSync } from 'fflate';
import { graphFromPng, pngWithGraph } from './pngWorkflow';

/** A valid 1×1 grey PNG built by hand (IHDR, IDAT, IEND) with correct CRCs. */
function tinyPng(): Uint8Array {
  const chunk = (type: string, data: Uint8Array) => {
    const out = new Uint8Array(12 + data.length);
    const v = new DataView(out.buffer);
    v.setUint32(0, data.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(data, 8);
    let c = 0xffffffff;
    for (const b of out.subarray(4, 8 + data.length)) {
      c ^= b;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    v.setUint32(8 + data.length, (c ^ 0xffffffff) >>> 0);
    return out;
  };
  const ihdr = new Uint8Array([0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
  const idat = deflateSync(new Uint8Array([0, 128]));
  const parts = [new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array())];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('workflows inside PNGs', () => {
  it('round-trips graph JSON (non-ASCII included) and replaces an older embedded graph', () => {
    const png = tinyPng();
    expect(graphFromPng(png)).toBeUndefined();
    const json = JSON.stringify({ format: 'backlit-graph', meta: { name: 'Gegenlicht – été ☀' } });
    const once = pngWithGraph(png, json);
    expect(JSON.parse(graphFromPng(once)!)).toEqual(JSON.parse(json));
    const twice = pngWithGraph(once, JSON.stringify({ v: 2 }));
    expect(JSON.parse(graphFromPng(twice)!)).toEqual({ v: 2 });
    expect(twice.length).toBeLessThan(once.length + 20); // the old chunk was dropped, not kept alongside
    // IEND stays last.
    expect(String.fromCharCode(...twice.subarray(twice.length - 8, twice.length - 4))).toBe('IEND');
  });

  it('ignores files that are not PNGs and refuses to write into one', () => {
    expect(graphFromPng(new TextEncoder().encode('{"format":"backlit-graph"}'))).toBeUndefined();
    expect(() => pngWithGraph(new Uint8Array([1, 2, 3]), '{}')).toThrow(/not a PNG/);
  });
});
