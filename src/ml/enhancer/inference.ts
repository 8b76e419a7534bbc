import * as tf from '@tensorflow/tfjs';
import { retinexOut, type EnhanceResult, type EnhancerNet, type PadMode } from './network';

/**
 * Inference for big photos.
 *
 * Tiled: the only global operation in the network is the pyramid pooling, and its pooled means
 * are linear in the stage-1 features f1 (conv + 2 ResBlocks, receptive radius 5 px). So pass 1
 * computes f1 tile by tile (with a halo) and accumulates the exact per-bin pooled sums; pass 2
 * runs each tile with a halo ≥ the network's receptive radius (17 px) using the exact global
 * context. Tiles therefore reproduce the full-resolution pass up to float rounding — no seams,
 * no blending needed — at ~14% extra compute (f1 is computed twice) and memory bounded by the
 * tile size instead of the photo size.
 *
 * Fast: L is smooth, so it is estimated on a box-downsampled copy and upsampled bilinearly.
 */

/** Receptive radius of the whole network in px (17 stacked 3×3 convs). */
export const RECEPTIVE_RADIUS = 17;
/** Receptive radius of stage 1 (cond1 + 2 ResBlocks). */
const STAGE1_RADIUS = 5;

export interface TiledOptions {
  /** Core tile side in px (default 512). */
  tile?: number;
  /** Halo around each tile in px; must be ≥ 17 for exactness (default 24). */
  halo?: number;
  padMode?: PadMode;
}

interface Span { core0: number; core1: number; ext0: number; ext1: number }

function spans(n: number, tile: number, halo: number): Span[] {
  const out: Span[] = [];
  for (let s = 0; s < n; s += tile) {
    const e = Math.min(n, s + tile);
    out.push({ core0: s, core1: e, ext0: Math.max(0, s - halo), ext1: Math.min(n, e + halo) });
  }
  return out;
}

/** Tiled full-resolution enhancement of one image [1,H,W,3]; equals `net.forward` up to rounding. */
export function enhanceTiled(net: EnhancerNet, image: tf.Tensor4D, opts: TiledOptions = {}): EnhanceResult {
  const [n, H, W, c] = image.shape;
  if (n !== 1 || c !== 3) throw new Error(`enhanceTiled takes one image [1,H,W,3], got [${image.shape}].`);
  const tile = opts.tile ?? 512;
  const halo = opts.halo ?? 24;
  if (halo < RECEPTIVE_RADIUS) throw new Error(`enhanceTiled: halo ${halo} < receptive radius ${RECEPTIVE_RADIUS}; tiles would show seams. Use halo ≥ ${RECEPTIVE_RADIUS}.`);
  if (tile < 16) throw new Error(`enhanceTiled: tile ${tile} is too small; use ≥ 64.`);
  const padMode = opts.padMode ?? 'reflect';
  const rows = spans(H, tile, halo);
  const cols = spans(W, tile, halo);
  const crop = (t: tf.Tensor4D, r: Span, q: Span, ext: boolean) => ext
    ? tf.slice(t, [0, r.ext0, q.ext0, 0], [1, r.ext1 - r.ext0, q.ext1 - q.ext0, t.shape[3]])
    : tf.slice(t, [0, r.core0 - r.ext0, q.core0 - q.ext0, 0], [1, r.core1 - r.core0, q.core1 - q.core0, t.shape[3]]);

  // Pass 1: exact pooled sums of f1 over the whole image.
  let pooled: tf.Tensor4D[] | null = null;
  for (const r of rows) {
    for (const q of cols) {
      const part = tf.tidy(() => {
        const rr = { ...r, ext0: Math.max(0, r.core0 - STAGE1_RADIUS - 3), ext1: Math.min(H, r.core1 + STAGE1_RADIUS + 3) };
        const qq = { ...q, ext0: Math.max(0, q.core0 - STAGE1_RADIUS - 3), ext1: Math.min(W, q.core1 + STAGE1_RADIUS + 3) };
        const f1 = net.features1(crop(image, rr, qq, true), { padMode });
        return net.poolSums(crop(f1, rr, qq, false), r.core0, q.core0, H, W);
      });
      if (pooled === null) pooled = part;
      else {
        const next: tf.Tensor4D[] = pooled.map((p, i) => tf.add(p, part[i]));
        tf.dispose([...pooled, ...part]);
        pooled = next;
      }
    }
  }
  const ctx = net.ppmContext(pooled as tf.Tensor4D[]);
  tf.dispose(pooled as tf.Tensor4D[]);

  // Pass 2: each tile with a halo and the global context; keep the core of L.
  const L = new Float32Array(H * W);
  for (const r of rows) {
    for (const q of cols) {
      const core = tf.tidy(() => {
        const f1 = net.features1(crop(image, r, q, true), { padMode });
        const Lext = net.rest(f1, ctx, { padMode, rowsFrom: r.ext0, colsFrom: q.ext0, fullH: H, fullW: W });
        return crop(Lext, r, q, false);
      });
      const d = core.dataSync();
      core.dispose();
      const cw = q.core1 - q.core0;
      for (let y = r.core0; y < r.core1; y++) L.set(d.subarray((y - r.core0) * cw, (y - r.core0 + 1) * cw), y * W + q.core0);
    }
  }
  tf.dispose(ctx);
  const Lt = tf.tensor4d(L, [1, H, W, 1]);
  return { L: Lt, out: tf.tidy(() => retinexOut(image, Lt)) };
}

export interface FastOptions {
  /** Integer downscale factor for estimating L (default 2: ~7× faster, ~38 dB PSNR vs full on a 1.3 MP photo; 4: ~25×, ~32 dB). */
  factor?: number;
  padMode?: PadMode;
  /** Run the low-resolution pass tiled (for very large photos). */
  tiled?: boolean;
}

/** Fast mode: L from a box-downsampled copy, upsampled bilinearly to full size. */
export function enhanceFast(net: EnhancerNet, image: tf.Tensor4D, opts: FastOptions = {}): EnhanceResult {
  const f = Math.round(opts.factor ?? 2);
  if (f < 1) throw new Error(`enhanceFast: factor must be an integer ≥ 1, got ${opts.factor}.`);
  const [, H, W] = image.shape;
  const small = f === 1 ? image : (tf.avgPool(image, f, f, 'same') as tf.Tensor4D);
  const padMode = opts.padMode ?? 'reflect';
  const Ls = opts.tiled ? enhanceTiled(net, small, { padMode }) : { L: net.illumination(small, { padMode }), out: null };
  if (small !== image) small.dispose();
  if (Ls.out) Ls.out.dispose();
  const L = f === 1 ? Ls.L : tf.tidy(() => tf.image.resizeBilinear(Ls.L, [H, W], false, true) as tf.Tensor4D);
  if (L !== Ls.L) Ls.L.dispose();
  return { L, out: tf.tidy(() => retinexOut(image, L)) };
}
