import * as tf from '@tensorflow/tfjs';
import { heapKernelsAvailable } from '../kernels/heapKernels';
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
export const STAGE1_RADIUS = 5;

export interface TiledOptions {
  /** Core tile side in px (default 512). */
  tile?: number;
  /** Halo around each tile in px; must be ≥ 17 for exactness (default 24). */
  halo?: number;
  padMode?: PadMode;
}

/** Progress of a tiled pass, reported after every tile. */
export interface TileProgress {
  /** Tiles finished over both passes (context pass, then output pass). */
  done: number;
  /** 2 × tiles: every tile is visited once per pass. */
  total: number;
  /** 'context': pass 1 (stage-1 features → exact global pooled sums); 'tiles': pass 2 (the output). */
  phase: 'context' | 'tiles';
  /** 1-based tile number within the phase and the number of tiles per pass. */
  tile: number;
  tiles: number;
  elapsedMs: number;
  /**
   * Estimated time left. From measured tile times: during pass 2 the mean pass-2 tile time × tiles
   * left; during pass 1 it also assumes a pass-2 tile costs PASS2_PER_PASS1 pass-1 tiles (an
   * approximation from the layer counts, corrected as soon as pass 2 starts).
   */
  etaMs: number;
}

export interface TiledRunOptions extends TiledOptions {
  /** Called after every tile (both passes). */
  onProgress?: (p: TileProgress) => void;
  /** Checked between tiles: an aborted signal stops the pass (tensors freed) and rejects with its reason. */
  signal?: AbortSignal;
}

/** Approximate cost of a pass-2 tile in pass-1 tiles (17 vs 5 convs, plus the PPM): only seeds the first ETA. */
export const PASS2_PER_PASS1 = 4;

export interface Span { core0: number; core1: number; ext0: number; ext1: number }

/** Tile spans along one axis: cores of `tile` px, extended by `halo` (clipped to the image). */
export function spans(n: number, tile: number, halo: number): Span[] {
  const out: Span[] = [];
  for (let s = 0; s < n; s += tile) {
    const e = Math.min(n, s + tile);
    out.push({ core0: s, core1: e, ext0: Math.max(0, s - halo), ext1: Math.min(n, e + halo) });
  }
  return out;
}

/** Tiles per pass for an H×W image (what `enhanceTiled` will report as `tiles`). */
export function tileCount(H: number, W: number, tile = 512): number {
  return Math.ceil(H / tile) * Math.ceil(W / tile);
}

/**
 * The tiled pass as a generator that yields after every tile, so one implementation serves the
 * synchronous API and the cancellable async one. Cleans up its tensors when closed early.
 */
function* tiledSteps(net: EnhancerNet, image: tf.Tensor4D, opts: TiledOptions): Generator<Omit<TileProgress, 'elapsedMs' | 'etaMs'>, EnhanceResult> {
  const [n, H, W, c] = image.shape;
  if (n !== 1 || c !== 3) throw new Error(`enhanceTiled takes one image [1,H,W,3], got [${image.shape}].`);
  const tile = opts.tile ?? 512;
  const halo = opts.halo ?? 24;
  if (halo < RECEPTIVE_RADIUS) throw new Error(`enhanceTiled: halo ${halo} < receptive radius ${RECEPTIVE_RADIUS}; tiles would show seams. Use halo ≥ ${RECEPTIVE_RADIUS}.`);
  if (tile < 16) throw new Error(`enhanceTiled: tile ${tile} is too small; use ≥ 64.`);
  const padMode = opts.padMode ?? 'reflect';
  const rows = spans(H, tile, halo);
  const cols = spans(W, tile, halo);
  const tiles = rows.length * cols.length;
  const crop = (t: tf.Tensor4D, r: Span, q: Span, ext: boolean) => ext
    ? tf.slice(t, [0, r.ext0, q.ext0, 0], [1, r.ext1 - r.ext0, q.ext1 - q.ext0, t.shape[3]])
    : tf.slice(t, [0, r.core0 - r.ext0, q.core0 - q.ext0, 0], [1, r.core1 - r.core0, q.core1 - q.core0, t.shape[3]]);

  let pooled: tf.Tensor4D[] | null = null;
  let ctx: tf.Tensor4D[] | null = null;
  // GPU backends: L's finished row strips and the current row's tiles (freed if closed early).
  const strips: tf.Tensor4D[] = [];
  let rowTiles: tf.Tensor4D[] = [];
  try {
    // Pass 1: exact pooled sums of f1 over the whole image.
    let k = 0;
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
        k++;
        yield { done: k, total: 2 * tiles, phase: 'context', tile: k, tiles };
      }
    }
    ctx = net.ppmContext(pooled as tf.Tensor4D[]);
    tf.dispose(pooled as tf.Tensor4D[]);
    pooled = null;

    // Pass 2: each tile with a halo and the global context; keep the core of L. On wasm/cpu the
    // cores are copied into one JS array (off the wasm heap); on GPU backends they stay on the
    // device and are concatenated at the end (no synchronous readback, which webgpu in Node
    // cannot do at all and which stalls the GPU in a browser).
    const onDevice = !heapKernelsAvailable();
    const L = onDevice ? null : new Float32Array(H * W);
    k = 0;
    for (const r of rows) {
      for (const q of cols) {
        const core = tf.tidy(() => {
          const f1 = net.features1(crop(image, r, q, true), { padMode });
          const Lext = net.rest(f1, ctx as tf.Tensor4D[], { padMode, rowsFrom: r.ext0, colsFrom: q.ext0, fullH: H, fullW: W });
          return crop(Lext, r, q, false);
        });
        if (L) {
          const d = core.dataSync();
          core.dispose();
          const cw = q.core1 - q.core0;
          for (let y = r.core0; y < r.core1; y++) L.set(d.subarray((y - r.core0) * cw, (y - r.core0 + 1) * cw), y * W + q.core0);
        } else rowTiles.push(core);
        k++;
        yield { done: tiles + k, total: 2 * tiles, phase: 'tiles', tile: k, tiles };
      }
      if (rowTiles.length) {
        strips.push(rowTiles.length === 1 ? rowTiles[0] : tf.concat(rowTiles, 2));
        if (rowTiles.length > 1) tf.dispose(rowTiles);
        rowTiles = [];
      }
    }
    const Lt = L ? tf.tensor4d(L, [1, H, W, 1]) : strips.length === 1 ? strips.pop()! : tf.concat(strips, 1);
    return { L: Lt, out: tf.tidy(() => retinexOut(image, Lt)) };
  } finally {
    // Runs on normal completion and when the consumer stops early (cancel, error).
    if (pooled) tf.dispose(pooled);
    if (ctx) tf.dispose(ctx);
    tf.dispose([...strips, ...rowTiles]);
  }
}

/** Tiled full-resolution enhancement of one image [1,H,W,3]; equals `net.forward` up to rounding. */
export function enhanceTiled(net: EnhancerNet, image: tf.Tensor4D, opts: TiledOptions = {}): EnhanceResult {
  const steps = tiledSteps(net, image, opts);
  for (;;) {
    const s = steps.next();
    if (s.done) return s.value;
  }
}

/** Resolves after the host has had a turn (signals, progress output, UI messages). */
const yieldToHost = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('Enhance was cancelled.', 'AbortError');
}

/**
 * `enhanceTiled` that reports progress after every tile (k/N with time left), yields to the host
 * between tiles and stops between tiles when `signal` aborts (rejecting with the signal's reason;
 * every tensor it made is freed). Same result as `enhanceTiled`.
 */
export async function enhanceTiledAsync(net: EnhancerNet, image: tf.Tensor4D, opts: TiledRunOptions = {}): Promise<EnhanceResult> {
  if (opts.signal?.aborted) throw abortReason(opts.signal);
  const steps = tiledSteps(net, image, opts);
  const t0 = performance.now();
  let pass1Ms = 0;
  let pass1Tiles = 0;
  let pass2Start = 0;
  try {
    for (;;) {
      const s = steps.next();
      if (s.done) return s.value;
      const p = s.value;
      const now = performance.now();
      const elapsedMs = now - t0;
      let etaMs: number;
      if (p.phase === 'context') {
        pass1Ms = elapsedMs;
        pass1Tiles = p.tile;
        const perTile = pass1Ms / pass1Tiles;
        etaMs = perTile * (p.tiles - p.tile) + perTile * PASS2_PER_PASS1 * p.tiles;
        if (p.tile === p.tiles) pass2Start = now;
      } else {
        const perTile = (now - (pass2Start || now)) / p.tile;
        etaMs = perTile * (p.tiles - p.tile);
      }
      opts.onProgress?.({ ...p, elapsedMs, etaMs });
      if (p.done === p.total) continue; // all tiles done: assemble the result without another turn
      await yieldToHost();
      if (opts.signal?.aborted) throw abortReason(opts.signal);
    }
  } finally {
    steps.return(undefined as never); // runs the generator's cleanup when we stop early
  }
}

/**
 * Approximate peak bytes of live tensors for a full-resolution `net.forward` on an H×W image.
 * Measured with tf.profile (peakBytes) on wasm: 1668 B/px at 128², 256² and 384² (the 32-channel
 * activations, the 64-channel PPM concat and temporaries). inference.test.ts checks this stays an
 * upper bound within 1.5× of the measured peak.
 */
export const FULL_PASS_BYTES_PER_PIXEL = 1700;

export function fullPassBytes(H: number, W: number): number {
  return H * W * FULL_PASS_BYTES_PER_PIXEL;
}

/**
 * Largest live-tensor peak we let a full pass reach on the wasm backend (≈ 0.9 MP). The heap is
 * one wasm32 memory (at most 4 GiB) that never shrinks, also holds XNNPACK buffers and fragments
 * as tensors come and go: measured, a full pass at 1.21 MP (2.0 GB estimated peak) grew the heap
 * to 3.6 GiB, so beyond ~1.3 MP it fails with "memory access out of bounds". Tiled gives the same
 * result (up to rounding) for ~14 % more compute, so erring low costs little.
 */
export const WASM_FULL_PASS_BUDGET = 1.5 * 1024 ** 3;

/**
 * Whether a full-resolution pass over H×W is expected to fit the active backend. Only wasm has a
 * hard, known ceiling; other backends answer true (webgl/webgpu report their own errors).
 * `liveBytes`: what already lives on the backend (tf.memory().numBytes), which shares the heap.
 */
export function fullPassFits(H: number, W: number, backend: string = tf.getBackend(), liveBytes = 0): boolean {
  return backend !== 'wasm' || liveBytes + fullPassBytes(H, W) <= WASM_FULL_PASS_BUDGET;
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
