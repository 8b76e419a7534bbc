/**
 * Workflows inside PNGs (as ComfyUI does): the graph JSON that made an image travels in a PNG tEXt
 * chunk with the keyword "backlit-graph". Pure byte functions (no DOM, no Node), shared by the
 * browser (drop a PNG on the canvas), the CLI (`backlit run photo.png`) and the Output node.
 * What comes out is untrusted text: callers pass it to loadGraph (parse, migrate, validate).
 */
export const PNG_GRAPH_KEYWORD = 'backlit-graph';

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && SIGNATURE.every((b, i) => bytes[i] === b);
}

let crcTable: Uint32Array | undefined;
function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

interface Chunk {
  type: string;
  start: number;
  dataStart: number;
  length: number;
}

function* chunks(bytes: Uint8Array): Generator<Chunk> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  while (at + 12 <= bytes.length) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (at + 12 + length > bytes.length) return; // truncated file: stop rather than read past the end
    yield { type, start: at, dataStart: at + 8, length };
    at += 12 + length;
    if (type === 'IEND') return;
  }
}

/** The graph JSON text embedded in a PNG, or undefined when there is none (or it is not a PNG). */
export function graphFromPng(bytes: Uint8Array): string | undefined {
  if (!isPng(bytes)) return undefined;
  for (const c of chunks(bytes)) {
    if (c.type !== 'tEXt') continue;
    const data = bytes.subarray(c.dataStart, c.dataStart + c.length);
    const nul = data.indexOf(0);
    if (nul < 0 || new TextDecoder('latin1').decode(data.subarray(0, nul)) !== PNG_GRAPH_KEYWORD) continue;
    // tEXt is Latin-1 by the PNG spec; we write the JSON \u-escaped to ASCII, so both readings agree.
    return new TextDecoder('latin1').decode(data.subarray(nul + 1));
  }
  return undefined;
}

/** A copy of the PNG with the graph JSON in a tEXt chunk just before IEND (replacing an older one). */
export function pngWithGraph(bytes: Uint8Array, graphJson: string): Uint8Array {
  if (!isPng(bytes)) throw new Error('pngWithGraph: not a PNG (bad signature).');
  // ASCII only, so the Latin-1 text chunk holds any graph: escape everything above 0x7e as \uXXXX (still valid JSON).
  const ascii = graphJson.replace(/[\u007f-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const text = new TextEncoder().encode(`${PNG_GRAPH_KEYWORD}\0${ascii}`);
  const chunk = new Uint8Array(12 + text.length);
  const view = new DataView(chunk.buffer);
  view.setUint32(0, text.length);
  chunk.set([0x74, 0x45, 0x58, 0x74], 4); // "tEXt"
  chunk.set(text, 8);
  view.setUint32(8 + text.length, crc32(chunk.subarray(4, 8 + text.length)));
  const kept: Uint8Array[] = [bytes.subarray(0, 8)];
  let iend: Uint8Array | undefined;
  for (const c of chunks(bytes)) {
    const whole = bytes.subarray(c.start, c.dataStart + c.length + 4);
    if (c.type === 'IEND') iend = whole;
    else if (c.type === 'tEXt' && graphFromPng(concat([bytes.subarray(0, 8), whole])) !== undefined) continue;
    else kept.push(whole);
  }
  if (!iend) throw new Error('pngWithGraph: the PNG has no IEND chunk (truncated file).');
  return concat([...kept, chunk, iend]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
