import * as tf from '@tensorflow/tfjs';

/** One image of a batch. Sizes may differ between images (enhancers run at native resolution). */
export interface NamedImage {
  name: string;
  /** [H,W,3] float32 in 0..1 */
  tensor: tf.Tensor3D;
}

export interface ImageBatchValue {
  kind: 'ImageBatch';
  images: NamedImage[];
}

export interface EmbeddingsValue {
  kind: 'Embeddings';
  space: string;
  /** [N,D] */
  tensor: tf.Tensor2D;
  names: string[];
}

export interface EmbeddingValue {
  kind: 'Embedding';
  space: string;
  /** [D] */
  tensor: tf.Tensor1D;
  /** How many items it summarises (means), for merging partial sums. */
  count?: number;
  /** Unnormalised sum of the items (means), so shards of a big folder can be merged exactly. */
  sum?: tf.Tensor1D;
}

/** The residual vector of RAVE: r = norm(v_pos − v_neg), thr = <v_pos, r>. */
export interface ResidualValue {
  kind: 'Residual';
  space: string;
  r: tf.Tensor1D;
  vPos: tf.Tensor1D;
  vNeg: tf.Tensor1D;
  thr: number;
  /** Which target thr is ('paper' = RAVE's <v_pos, r>, 'mean-projection', 'quantile'); absent = paper. */
  target?: string;
}

/** A learned prompt pair: row 0 = negative (backlit), row 1 = positive (well-lit), unit rows. */
export interface PromptPairValue {
  kind: 'PromptPair';
  space: string;
  mode: 'text' | 'latent';
  prompts: tf.Tensor2D;
}

export interface ReportValue {
  kind: 'Report';
  title: string;
  rows: Array<Record<string, string | number>>;
}

/** A handle value that owns tensors the executor cannot see (models); disposed when evicted. */
export interface Disposable {
  dispose(): void;
}

/** Every tensor reachable from a value (plain objects, arrays, Maps); handles are skipped. */
export function collectTensors(value: unknown, out: Set<tf.Tensor> = new Set(), seen: Set<unknown> = new Set()): Set<tf.Tensor> {
  if (value === null || typeof value !== 'object' || seen.has(value)) return out;
  seen.add(value);
  if (value instanceof tf.Tensor) {
    out.add(value);
    return out;
  }
  if (ArrayBuffer.isView(value)) return out;
  if (Array.isArray(value)) {
    for (const v of value) collectTensors(v, out, seen);
    return out;
  }
  if (value instanceof Map) {
    for (const v of value.values()) collectTensors(v, out, seen);
    return out;
  }
  // Only plain data objects are walked: model handles own their weights and dispose them themselves.
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return out;
  for (const v of Object.values(value)) collectTensors(v, out, seen);
  return out;
}

/** Model handles (encoders, enhancers) reachable from a value. */
export function collectHandles(value: unknown, out: Set<Disposable> = new Set(), seen: Set<unknown> = new Set()): Set<Disposable> {
  if (value === null || typeof value !== 'object' || seen.has(value) || value instanceof tf.Tensor || ArrayBuffer.isView(value)) return out;
  seen.add(value);
  const proto = Object.getPrototypeOf(value);
  const plain = proto === Object.prototype || proto === null || Array.isArray(value);
  if (!plain) {
    if (typeof (value as Partial<Disposable>).dispose === 'function') out.add(value as Disposable);
    return out;
  }
  for (const v of Object.values(value as object)) collectHandles(v, out, seen);
  return out;
}

/**
 * Every tensor a model handle holds, found through its fields (class instances, arrays, Maps and
 * Sets included). The executor keeps these alive past the scope of the node that built the handle;
 * the handle frees them in its own dispose().
 */
export function tensorsOwnedBy(handle: Disposable, out: Set<tf.Tensor> = new Set(), seen: Set<unknown> = new Set()): Set<tf.Tensor> {
  const walk = (value: unknown): void => {
    if (value === null || typeof value !== 'object' || seen.has(value)) return;
    seen.add(value);
    if (value instanceof tf.Tensor) {
      out.add(value);
      return;
    }
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return;
    if (value instanceof Map || value instanceof Set) {
      for (const v of value.values()) walk(v);
      return;
    }
    for (const v of Object.values(value)) walk(v);
  };
  walk(handle);
  return out;
}
