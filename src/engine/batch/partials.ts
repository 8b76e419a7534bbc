import { hashString } from '../executor/hash';

/** A reducer's partial result over some images: merges exactly (float64 sums, integer counts). */
export interface ReducerPartial {
  space: string;
  sum: number[];
  count: number;
}

/** Adds b into a copy of a (either may be missing). Order-independent up to float64 rounding. */
export function mergePartial(a: ReducerPartial | undefined, b: ReducerPartial | undefined): ReducerPartial | undefined {
  if (!a) return b && { space: b.space, sum: [...b.sum], count: b.count };
  if (!b) return a;
  if (a.sum.length !== b.sum.length || a.space !== b.space) {
    throw new Error(`cannot merge partial means of different spaces or sizes (${a.space}/${a.sum.length} vs ${b.space}/${b.sum.length})`);
  }
  const sum = a.sum.map((v, i) => v + b.sum[i]);
  return { space: a.space, sum, count: a.count + b.count };
}

export function mergePartialMaps(into: Record<string, ReducerPartial>, more: Record<string, ReducerPartial>): Record<string, ReducerPartial> {
  for (const [id, p] of Object.entries(more)) into[id] = mergePartial(into[id], p)!;
  return into;
}

/** The normalised mean of a partial, as Mean Embedding computes it (sum / (|sum| + 1e-12)). */
export function normalisedMean(p: ReducerPartial): number[] {
  const norm = Math.sqrt(p.sum.reduce((s, v) => s + v * v, 0));
  return p.sum.map((v) => v / (norm + 1e-12));
}

export function partialDigest(p: ReducerPartial): string {
  return hashString(`${p.space}|${p.count}|${p.sum.join(',')}`);
}

/** SHA-256 of bytes, hex (WebCrypto: the same in Node 20+ and browsers). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes as unknown as ArrayBuffer);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}
