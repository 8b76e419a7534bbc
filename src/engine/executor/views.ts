import * as tf from '@tensorflow/tfjs';
import type { PortKind } from '../ports/kinds';
import type { ImageBatchValue, EmbeddingValue, EmbeddingsValue, PromptPairValue, ReportValue, ResidualValue } from '../ports/values';

/** A small, transferable summary of one output for the editor (no tensors, no handles). */
export type PortView =
  | { kind: 'ImageBatch'; count: number; thumbs: Thumbnail[] }
  | { kind: 'Embeddings'; space: string; shape: [number, number] }
  | { kind: 'Embedding'; space: string; dim: number; norm: number; count?: number }
  | { kind: 'Residual'; space: string; dim: number; thr: number; target: string; cosPosNeg: number; gap: number }
  | { kind: 'PromptPair'; space: string; mode: 'text' | 'latent'; dim: number; cosNegPos: number; accuracy?: { backlit: number; wellLit: number }; histogram?: PromptHistogram }
  | { kind: 'Scalar'; value: number }
  | { kind: 'Text'; value: string }
  | { kind: 'Report'; title: string; rows: Array<Record<string, string | number>> }
  | { kind: 'Other'; portKind: PortKind; summary: string };

export interface Thumbnail {
  name: string;
  /** Size of the full image. */
  width: number;
  height: number;
  /** RGBA pixels of the thumbnail (thumbWidth × thumbHeight). */
  rgba: Uint8ClampedArray;
  thumbWidth: number;
  thumbHeight: number;
}

/** Counts of P(positive) per set in `bins` equal bins on [0, 1] (set by the Prompt Learner). */
export interface PromptHistogram {
  bins: number;
  backlit: number[];
  wellLit: number[];
  previous?: number[];
  previous2?: number[];
}

const MAX_THUMBS = 12;

export async function viewOf(kind: PortKind, value: unknown, thumbSize = 160): Promise<PortView> {
  switch (kind) {
    case 'ImageBatch': {
      const batch = value as ImageBatchValue;
      const thumbs: Thumbnail[] = [];
      for (const img of batch.images.slice(0, MAX_THUMBS)) thumbs.push(await thumbnail(img.name, img.tensor, thumbSize));
      return { kind, count: batch.images.length, thumbs };
    }
    case 'Embeddings': {
      const v = value as EmbeddingsValue;
      return { kind, space: v.space, shape: v.tensor.shape as [number, number] };
    }
    case 'Embedding': {
      const v = value as EmbeddingValue;
      const norm = tf.tidy(() => tf.norm(v.tensor));
      const n = (await norm.data())[0];
      norm.dispose();
      return { kind, space: v.space, dim: v.tensor.shape[0], norm: n, count: v.count };
    }
    case 'Residual': {
      const v = value as ResidualValue;
      const stats = tf.tidy(() => tf.stack([tf.sum(tf.mul(v.vPos, v.vNeg)), tf.norm(tf.sub(v.vPos, v.vNeg))]));
      const [cosPosNeg, gap] = await stats.data();
      stats.dispose();
      return { kind, space: v.space, dim: v.r.shape[0], thr: v.thr, target: v.target ?? 'paper', cosPosNeg, gap };
    }
    case 'PromptPair': {
      // Learners may attach plain-number stats (accuracy, score histograms) to the value.
      const v = value as PromptPairValue & { stats?: { accuracy?: { backlit: number; wellLit: number }; histogram?: PromptHistogram } };
      const cos = tf.tidy(() => tf.sum(tf.prod(v.prompts, 0)));
      const cosNegPos = (await cos.data())[0];
      cos.dispose();
      return { kind, space: v.space, mode: v.mode, dim: v.prompts.shape[1], cosNegPos, accuracy: v.stats?.accuracy, histogram: v.stats?.histogram };
    }
    case 'Scalar':
      return { kind, value: Number(value) };
    case 'Text':
      return { kind, value: String(value) };
    case 'Report': {
      const r = value as ReportValue;
      return { kind, title: r.title, rows: r.rows };
    }
    default:
      return { kind: 'Other', portKind: kind, summary: describeHandle(value) };
  }
}

function describeHandle(value: unknown): string {
  if (value && typeof value === 'object' && 'label' in value) return String((value as { label: unknown }).label);
  if (value && typeof value === 'object' && 'numParams' in value) return `enhancement network, ${Number((value as { numParams: unknown }).numParams).toLocaleString('en-US')} parameters`;
  return value === undefined ? 'nothing' : 'a model handle';
}

/** Downscaled RGBA copy of an [H,W,3] 0..1 image. */
export async function thumbnail(name: string, image: tf.Tensor3D, maxSide: number): Promise<Thumbnail> {
  const [h, w] = image.shape;
  const scale = Math.min(1, maxSide / Math.max(h, w));
  const th = Math.max(1, Math.round(h * scale));
  const tw = Math.max(1, Math.round(w * scale));
  const rgbaT = tf.tidy(() => {
    const small = scale < 1 ? tf.image.resizeBilinear(image, [th, tw], false, true) : image;
    const rgb = small.clipByValue(0, 1).mul(255).round();
    const alpha = tf.fill([th, tw, 1], 255);
    return tf.concat([rgb, alpha], 2).toInt();
  });
  const data = await rgbaT.data();
  rgbaT.dispose();
  return { name, width: w, height: h, rgba: new Uint8ClampedArray(data), thumbWidth: tw, thumbHeight: th };
}
