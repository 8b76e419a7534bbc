/**
 * Port kinds and their contracts (DESIGN §3). A wire joins an output and an input of the same
 * kind; embedding-like kinds also carry the encoder space they live in.
 */
export const PORT_KINDS = {
  ImageBatch: { color: '#f2b94b', contract: 'N images [H,W,3] float32 in 0..1 (sizes may differ per image)' },
  Embeddings: { color: '#7aa2f7', contract: '[N,D] L2-normalised, tagged with an encoder space' },
  Embedding: { color: '#4fd1c5', contract: '[D], tagged with an encoder space' },
  Residual: { color: '#bb9af7', contract: 'residual r [D] with v_pos, v_neg and thr = <v_pos, r>' },
  PromptPair: { color: '#f7768e', contract: 'negative/positive prompt embeddings [2,D]' },
  Encoder: { color: '#9ece6a', contract: 'a differentiable image encoder handle' },
  Enhancer: { color: '#ff9e64', contract: 'trained enhancement-network weights' },
  Scalar: { color: '#c0caf5', contract: 'a number' },
  Text: { color: '#e0af68', contract: 'a string' },
  Report: { color: '#a9b1d6', contract: 'a table of named values' },
} as const;

export type PortKind = keyof typeof PORT_KINDS;

/** Kinds whose values live in an encoder's embedding space. */
export const SPACED_KINDS: ReadonlySet<PortKind> = new Set(['Embeddings', 'Embedding', 'Residual', 'PromptPair', 'Encoder']);

export interface PortSpec {
  kind: PortKind;
  label: string;
  description?: string;
  /** An input that may stay unconnected. */
  optional?: boolean;
}

export function isPortKind(x: string): x is PortKind {
  return Object.prototype.hasOwnProperty.call(PORT_KINDS, x);
}
