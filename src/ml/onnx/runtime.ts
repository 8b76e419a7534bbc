import * as tf from '@tensorflow/tfjs';
import type * as Ort from 'onnxruntime-node';
import { PPM_BINS, adaptivePoolMatrix, retinexOutArray, upsampleMatrix, type EnhanceResult, type EnhancerNet, type PadMode } from '../enhancer/network';
import { PASS2_PER_PASS1, RECEPTIVE_RADIUS, STAGE1_RADIUS, spans, type TileProgress, type TiledRunOptions } from '../enhancer/inference';
import { exportEnhancer, type EnhancerGraphKind } from './export';

/**
 * Enhance inference on onnxruntime-node (Node only: the CLI and benches import this, never the
 * browser bundle). The graphs come from `export.ts` (our weights, our layer lists); this file
 * drives the same two-pass exact tiling as enhancer/inference.ts, with the same progress reports
 * and cancel-between-tiles, and returns tfjs tensors so callers do not change.
 */

export type OrtModule = typeof Ort;

let ortLoad: Promise<{ ort: OrtModule } | { error: string }> | null = null;

/** Loads onnxruntime-node once; resolves to an error text instead of throwing (it is an optional dependency). */
export function loadOrt(): Promise<{ ort: OrtModule } | { error: string }> {
  ortLoad ??= import('onnxruntime-node').then(
    (m) => ({ ort: ((m as { default?: OrtModule }).default ?? m) as OrtModule }),
    (err: unknown) => ({ error: (err as Error).message.split('\n')[0] }),
  );
  return ortLoad;
}

export interface OnnxEnhancerOptions {
  /** intra-op threads (default 1). */
  threads?: number;
  padMode?: PadMode;
  /** onnxruntime's CPU memory arena (default on: faster; off lowers peak RSS — 3 MP tiled: 1.93 → 1.11 GB, CPU time +55 %, bench/RESULTS.md). */
  memArena?: boolean;
  /**
   * onnxruntime's memory pattern: one pre-planned block per input shape, kept. Tiles come in several
   * shapes (edges), so it is off by default: 3 MP tiled, peak RSS 1927 → 1268 MB at the same CPU time
   * (bench/RESULTS.md).
   */
  memPattern?: boolean;
}

/** Sessions for one network's weights (built lazily per graph kind). */
export class OnnxEnhancer {
  private sessions = new Map<EnhancerGraphKind, Promise<Ort.InferenceSession>>();

  private constructor(private readonly ort: OrtModule, private readonly net: EnhancerNet, private readonly opts: Required<OnnxEnhancerOptions>) {}

  static async create(net: EnhancerNet, opts: OnnxEnhancerOptions = {}): Promise<OnnxEnhancer> {
    const loaded = await loadOrt();
    if ('error' in loaded) throw new Error(`onnxruntime-node is not available (${loaded.error}); reinstall with ONNXRUNTIME_NODE_INSTALL=skip npm ci, or use --engine tfjs.`);
    return new OnnxEnhancer(loaded.ort, net, { threads: opts.threads ?? 1, padMode: opts.padMode ?? 'reflect', memArena: opts.memArena ?? true, memPattern: opts.memPattern ?? false });
  }

  session(kind: EnhancerGraphKind): Promise<Ort.InferenceSession> {
    let s = this.sessions.get(kind);
    if (!s) {
      s = this.ort.InferenceSession.create(exportEnhancer(this.net, kind, this.opts.padMode), {
        intraOpNumThreads: this.opts.threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        enableCpuMemArena: this.opts.memArena,
        enableMemPattern: this.opts.memPattern,
      });
      this.sessions.set(kind, s);
    }
    return s;
  }

  private t(data: Float32Array, dims: number[]): Ort.Tensor {
    return new this.ort.Tensor('float32', data, dims);
  }

  /** Full-resolution L [H·W] of an NHWC image in one pass (no tiling). */
  async illumination(image: Float32Array, H: number, W: number): Promise<Float32Array> {
    const feeds: Record<string, Ort.Tensor> = { x: this.t(image, [1, H, W, 3]) };
    PPM_BINS.forEach((b, k) => {
      feeds[`ph_${k}`] = this.t(adaptivePoolMatrix(b, H), [b, H]);
      feeds[`pwT_${k}`] = this.t(transpose(adaptivePoolMatrix(b, W), b, W), [W, b]);
      feeds[`uh_${k}`] = this.t(upsampleMatrix(H, b), [H, b]);
      feeds[`uwT_${k}`] = this.t(transpose(upsampleMatrix(W, b), W, b), [b, W]);
    });
    const out = await (await this.session('full')).run(feeds);
    return takeFloat(out.L);
  }

  /**
   * Tiled L [H·W] (exact: same two passes as enhanceTiled). Progress after every tile; an aborted
   * signal stops between tiles and rejects with its reason.
   */
  async illuminationTiled(image: Float32Array, H: number, W: number, opts: TiledRunOptions = {}): Promise<Float32Array> {
    const tile = opts.tile ?? 512;
    const halo = opts.halo ?? 24;
    if (halo < RECEPTIVE_RADIUS) throw new Error(`enhance (onnx): halo ${halo} < receptive radius ${RECEPTIVE_RADIUS}; tiles would show seams. Use halo ≥ ${RECEPTIVE_RADIUS}.`);
    if (tile < 16) throw new Error(`enhance (onnx): tile ${tile} is too small; use ≥ 64.`);
    const rows = spans(H, tile, halo);
    const cols = spans(W, tile, halo);
    const tiles = rows.length * cols.length;
    const full = { ph: PPM_BINS.map((b) => adaptivePoolMatrix(b, H)), pw: PPM_BINS.map((b) => adaptivePoolMatrix(b, W)) };
    const t0 = performance.now();
    let pass2Start = 0;
    const check = () => {
      if (opts.signal?.aborted) throw opts.signal.reason ?? new DOMException('Enhance was cancelled.', 'AbortError');
    };
    const report = (p: Omit<TileProgress, 'elapsedMs' | 'etaMs'>) => {
      const now = performance.now();
      const elapsedMs = now - t0;
      let etaMs: number;
      if (p.phase === 'context') {
        const perTile = elapsedMs / p.tile;
        etaMs = perTile * (p.tiles - p.tile) + perTile * PASS2_PER_PASS1 * p.tiles;
        if (p.tile === p.tiles) pass2Start = now;
      } else etaMs = ((now - (pass2Start || now)) / p.tile) * (p.tiles - p.tile);
      opts.onProgress?.({ ...p, elapsedMs, etaMs });
    };
    check();

    // Pass 1: pooled means of stage-1 features, accumulated over tile cores.
    const pool = await this.session('pool');
    const pooled = PPM_BINS.map((b) => new Float32Array(32 * b * b));
    let k = 0;
    for (const r of rows) {
      for (const q of cols) {
        const rr = { y0: Math.max(0, r.core0 - STAGE1_RADIUS - 3), y1: Math.min(H, r.core1 + STAGE1_RADIUS + 3) };
        const qq = { x0: Math.max(0, q.core0 - STAGE1_RADIUS - 3), x1: Math.min(W, q.core1 + STAGE1_RADIUS + 3) };
        const h = rr.y1 - rr.y0;
        const w = qq.x1 - qq.x0;
        const feeds: Record<string, Ort.Tensor> = { x: this.t(crop(image, W, rr.y0, rr.y1, qq.x0, qq.x1), [1, h, w, 3]) };
        PPM_BINS.forEach((b, i) => {
          feeds[`ph_${i}`] = this.t(window(full.ph[i], b, H, rr.y0, h, r.core0, r.core1), [b, h]);
          feeds[`pwT_${i}`] = this.t(transpose(window(full.pw[i], b, W, qq.x0, w, q.core0, q.core1), b, w), [w, b]);
        });
        const out = await pool.run(feeds);
        PPM_BINS.forEach((_, i) => {
          const d = takeFloat(out[`pooled_${i}`]);
          for (let j = 0; j < d.length; j++) pooled[i][j] += d[j];
        });
        k++;
        report({ done: k, total: 2 * tiles, phase: 'context', tile: k, tiles });
        await yieldToHost();
        check();
      }
    }

    // Pass 2: each tile with its halo and the global context; keep the core of L.
    const rest = await this.session('rest');
    const L = new Float32Array(H * W);
    k = 0;
    for (const r of rows) {
      for (const q of cols) {
        const h = r.ext1 - r.ext0;
        const w = q.ext1 - q.ext0;
        const feeds: Record<string, Ort.Tensor> = { x: this.t(crop(image, W, r.ext0, r.ext1, q.ext0, q.ext1), [1, h, w, 3]) };
        PPM_BINS.forEach((b, i) => {
          feeds[`pooled_${i}`] = this.t(pooled[i], [1, 32, b, b]);
          feeds[`uh_${i}`] = this.t(upsampleMatrix(H, b, r.ext0, h), [h, b]);
          feeds[`uwT_${i}`] = this.t(transpose(upsampleMatrix(W, b, q.ext0, w), w, b), [b, w]);
        });
        const d = takeFloat((await rest.run(feeds)).L);
        const cw = q.core1 - q.core0;
        for (let y = r.core0; y < r.core1; y++) {
          const src = (y - r.ext0) * w + (q.core0 - q.ext0);
          L.set(d.subarray(src, src + cw), y * W + q.core0);
        }
        k++;
        report({ done: tiles + k, total: 2 * tiles, phase: 'tiles', tile: k, tiles });
        if (k < tiles) {
          await yieldToHost();
          check();
        }
      }
    }
    return L;
  }

  /** Enhance a tfjs image [1,H,W,3]: 'tiled' (default) or 'full'; returns tfjs tensors like net.forward. */
  async enhance(image: tf.Tensor4D, opts: TiledRunOptions & { mode?: 'tiled' | 'full' } = {}): Promise<EnhanceResult> {
    const [n, H, W, c] = image.shape;
    if (n !== 1 || c !== 3) throw new Error(`enhance (onnx) takes one image [1,H,W,3], got [${image.shape}].`);
    const data = (await image.data()) as Float32Array; // read only: on tfjs-cpu this is the input tensor's own storage
    const Ld = opts.mode === 'full' ? await this.illumination(data, H, W) : await this.illuminationTiled(data, H, W, opts);
    return { L: tf.tensor4d(Ld, [1, H, W, 1]), out: tf.tensor4d(retinexOutArray(data, Ld), [1, H, W, 3]) };
  }

  async release(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s).release();
  }
}

const yieldToHost = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

function takeFloat(t: Ort.Tensor | undefined): Float32Array {
  if (!t || t.type !== 'float32') throw new Error('enhance (onnx): the graph returned no float32 output.');
  return t.data as Float32Array;
}

/** Row-major [rows, cols] → [cols, rows]. */
function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c];
  return out;
}

/** Columns [from, from+count) of a row-major [rows, n] matrix, zeroed outside [keep0, keep1) (image coordinates). */
function window(m: Float32Array, rows: number, n: number, from: number, count: number, keep0: number, keep1: number): Float32Array {
  const out = new Float32Array(rows * count);
  for (let r = 0; r < rows; r++) for (let j = Math.max(0, keep0 - from); j < Math.min(count, keep1 - from); j++) out[r * count + j] = m[r * n + from + j];
  return out;
}

/** Rows [y0, y1) × cols [x0, x1) of an NHWC image with 3 channels and width W. */
function crop(img: Float32Array, W: number, y0: number, y1: number, x0: number, x1: number): Float32Array {
  const w = x1 - x0;
  const out = new Float32Array((y1 - y0) * w * 3);
  for (let y = y0; y < y1; y++) out.set(img.subarray((y * W + x0) * 3, (y * W + x1) * 3), (y - y0) * w * 3);
  return out;
}
