import * as tf from '@tensorflow/tfjs';
import { filterColumns, heapKernelsAvailable, sliceRows } from './heapKernels';

/**
 * Training kernels for tfjs's wasm backend.
 *
 * tfjs-backend-wasm 4.22 has no `Conv2DBackpropFilter`, so any conv weight gradient throws there.
 * Its `Conv2DBackpropInput` exists but is a naive loop ~10× slower than the forward conv
 * (measured: 1200 ms vs 114 ms, 256², 64→64), which would dominate training. We register:
 * - `Conv2DBackpropFilter`: one GEMM per chunk of output rows, cols [kh·kw·ci, rows·ow] × dy —
 *   the transposed im2col is written by a JS kernel straight from the heap (`heapKernels.ts`),
 *   so the big reduction (N·H·W) runs inside XNNPACK's GEMM and nothing else touches the data
 *   more than once. (The first version built cols from 9 `tf.slice`s + concat per chunk; wasm's
 *   Slice copies its whole input out of the heap on every call, which made the filter gradient
 *   ~4× the cost of the forward conv — kept as `conv2dBackpropFilterLegacy`.)
 * - `Conv2DBackpropInput` (stride 1, dilation 1): a forward conv of `dy` with the 180°-rotated,
 *   in/out-swapped filter and explicit padding — the wasm forward conv is XNNPACK-fast. Other
 *   strides fall back to the backend's own kernel.
 * - `Identity`: shares the buffer (refcount) instead of copying it; the engine clones every
 *   tensor it saves for backprop through Identity, so on stock wasm each taped activation
 *   existed twice.
 * `setTrainingKernelImpl('legacy')` switches back to the original behaviour (benchmarks).
 */

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dilations?: number | [number, number];
}

/** Cap on the im2col buffer per chunk (floats), so 512² batch-8 training does not blow wasm memory. */
const COL_CHUNK_FLOATS = 4 * 1024 * 1024;

let registered = false;

function pair(v: number | [number, number] | undefined, dflt: number): [number, number] {
  if (v === undefined) return [dflt, dflt];
  return typeof v === 'number' ? [v, v] : v;
}

function asPad(pad: unknown): Pad {
  return pad as Pad;
}

export type TrainingKernelImpl = 'heap' | 'legacy';
let impl: TrainingKernelImpl = 'heap';

/**
 * Which implementation the registered wasm training kernels use: 'heap' (default; in-place
 * im2col on the wasm heap, explicit-pad backprop-input conv) or 'legacy' (the original
 * slice+concat im2col and tf.pad — kept so benchmarks can show both side by side).
 */
export function setTrainingKernelImpl(which: TrainingKernelImpl): void {
  impl = which;
}

export function getTrainingKernelImpl(): TrainingKernelImpl {
  return impl;
}

function convInfo(xShape: [number, number, number, number], filterShape: [number, number, number, number], attrs: ConvAttrs) {
  const [sh, sw] = pair(attrs.strides, 1);
  const [dh, dw] = pair(attrs.dilations, 1);
  const info = tf.backend_util.computeConv2DInfo(
    xShape, filterShape, [sh, sw], [dh, dw], attrs.pad as Parameters<typeof tf.backend_util.computeConv2DInfo>[4],
    attrs.dimRoundingMode,
  );
  return { info, sh, sw, dh, dw };
}

/**
 * dW[kh,kw,ci,co] = Σ_{n,y,x} xpad[n, y·s+kh·d, x·s+kw·d, ci] · dy[n,y,x,co].
 *
 * One GEMM per chunk of output rows: cols [kh·kw·ci, rows·ow] × dy [rows·ow, co] → HWIO directly.
 * `cols` (transposed im2col) is built by a JS kernel straight from a channels-first copy of x on
 * the heap — zero padding handled there, no tf.pad, no tf.slice (which on wasm copies the whole
 * input per call). dy is the GEMM's packed operand, so it is packed once per chunk, not per tap.
 * Exported for tests and for callers that want the op without the registry.
 */
export function conv2dBackpropFilterNHWC(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  attrs: ConvAttrs,
  chunkFloats = COL_CHUNK_FLOATS,
): tf.Tensor4D {
  if (attrs.dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter (wasm training kernel): only NHWC is supported; use dataFormat NHWC.');
  if (impl === 'legacy' || !heapKernelsAvailable()) return conv2dBackpropFilterLegacy(x, dy, filterShape, attrs, chunkFloats);
  const [kh, kw, ci, co] = filterShape;
  const { info, sh, sw, dh, dw } = convInfo(x.shape, filterShape, attrs);
  const oh = info.outHeight;
  const ow = info.outWidth;
  const n = x.shape[0];
  const { top, left } = info.padInfo;
  return tf.tidy(() => {
    const xT = ci === 1 ? tf.reshape(x, [1, x.shape[0], x.shape[1], x.shape[2]]) as tf.Tensor4D : tf.transpose(x, [3, 0, 1, 2]) as tf.Tensor4D;
    const total = n * oh;
    const rowsPerChunk = Math.max(1, Math.min(total, Math.floor(chunkFloats / (kh * kw * ci * ow))));
    const dy2 = tf.reshape(dy, [total * ow, co]) as tf.Tensor2D;
    const filterGrad = sumOverRowChunks(total, rowsPerChunk, (r0, rows) => {
      const cols = filterColumns(xT, { kh, kw, sh, sw, dh, dw, top, left, oh, ow, r0, rows });
      const dyc = rows === total ? dy2 : sliceRows(dy2, r0 * ow, rows * ow);
      return tf.matMul(cols, dyc) as tf.Tensor2D;
    });
    return tf.reshape(filterGrad, [kh, kw, ci, co]) as tf.Tensor4D;
  });
}

/** Σ over row chunks of `part(r0, rows)`, each chunk in its own tidy, keeping one running sum. */
function sumOverRowChunks(total: number, rowsPerChunk: number, part: (r0: number, rows: number) => tf.Tensor2D): tf.Tensor2D {
  let acc: tf.Tensor2D | null = null;
  for (let r0 = 0; r0 < total; r0 += rowsPerChunk) {
    const rows = Math.min(rowsPerChunk, total - r0);
    const chunk = tf.tidy(() => part(r0, rows));
    if (acc === null) acc = chunk;
    else {
      const next: tf.Tensor2D = tf.add(acc, chunk);
      tf.dispose([acc, chunk]);
      acc = next;
    }
  }
  return acc as tf.Tensor2D;
}

/** The original implementation (tf.pad + channels-first transpose + 9 tf.slice + concat per chunk). */
export function conv2dBackpropFilterLegacy(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  attrs: ConvAttrs,
  chunkFloats = COL_CHUNK_FLOATS,
): tf.Tensor4D {
  const [kh, kw, ci, co] = filterShape;
  const { info, sh, sw, dh, dw } = convInfo(x.shape, filterShape, attrs);
  const { top, bottom, left, right } = info.padInfo;
  const oh = info.outHeight;
  const ow = info.outWidth;
  const n = x.shape[0];
  return tf.tidy(() => {
    // Pad may be negative on the far side when the conv drops trailing rows ('valid' with stride):
    // slicing below only touches rows that the forward conv used, so clamp to ≥0.
    const xp = tf.pad(x, [[0, 0], [top, Math.max(0, bottom)], [left, Math.max(0, right)], [0, 0]]);
    // Channels-first so each shifted window reshapes to [ci, rows] without a per-window transpose.
    const xt = tf.transpose(xp, [3, 0, 1, 2]) as tf.Tensor4D; // [ci, n, Hp, Wp]
    const rowsPerChunk = Math.max(1, Math.min(oh, Math.floor(chunkFloats / (kh * kw * ci * n * ow))));
    const filterGrad = sumOverRowChunks(oh, rowsPerChunk, (r0, rows) => {
      const cols: tf.Tensor2D[] = [];
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const y0 = r0 * sh + i * dh;
          const x0 = j * dw;
          const win = sh === 1 && sw === 1
            ? tf.slice(xt, [0, 0, y0, x0], [ci, n, rows, ow])
            : tf.stridedSlice(xt, [0, 0, y0, x0], [ci, n, y0 + (rows - 1) * sh + 1, x0 + (ow - 1) * sw + 1], [1, 1, sh, sw]);
          cols.push(tf.reshape(win, [ci, n * rows * ow]));
        }
      }
      const colT = cols.length === 1 ? cols[0] : tf.concat(cols, 0); // [(kh,kw,ci), n·rows·ow]
      const dyc = rows === oh ? dy : tf.slice(dy, [0, r0, 0, 0], [n, rows, ow, co]);
      return tf.matMul(colT, tf.reshape(dyc, [n * rows * ow, co])) as tf.Tensor2D;
    });
    return tf.reshape(filterGrad, [kh, kw, ci, co]) as tf.Tensor4D;
  });
}

/**
 * dx for a stride-1, dilation-1 conv: a 'valid' forward conv of dy padded by (k−1−pad) with the
 * filter rotated 180° and in/out channels swapped. Returns null when the shortcut does not apply.
 */
export function conv2dBackpropInputNHWC(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  inputShape: [number, number, number, number],
  attrs: ConvAttrs,
): tf.Tensor4D | null {
  const [sh, sw] = pair(attrs.strides, 1);
  const [dh, dw] = pair(attrs.dilations, 1);
  if (sh !== 1 || sw !== 1 || dh !== 1 || dw !== 1 || attrs.dataFormat === 'NCHW') return null;
  const [kh, kw] = filter.shape;
  const info = tf.backend_util.computeConv2DInfo(
    inputShape, filter.shape, 1, 1, attrs.pad as Parameters<typeof tf.backend_util.computeConv2DInfo>[4], attrs.dimRoundingMode,
  );
  const { top, bottom, left, right } = info.padInfo;
  const pt = kh - 1 - top;
  const pb = kh - 1 - bottom;
  const pl = kw - 1 - left;
  const pr = kw - 1 - right;
  if (pt < 0 || pb < 0 || pl < 0 || pr < 0) return null;
  return tf.tidy(() => {
    const wT = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    if (impl === 'legacy') {
      const padded = pt === 0 && pb === 0 && pl === 0 && pr === 0 ? dy : tf.pad(dy, [[0, 0], [pt, pb], [pl, pr], [0, 0]]);
      return tf.conv2d(padded as tf.Tensor4D, wT, 1, 'valid');
    }
    // Explicit padding goes straight to XNNPACK's conv (no padded copy of dy).
    return tf.conv2d(dy, wT, 1, [[0, 0], [pt, pb], [pl, pr], [0, 0]]);
  });
}

/**
 * Register the wasm training kernels (idempotent). Call after the wasm backend is imported;
 * harmless when another backend is active (kernels are per-backend).
 */
export function registerWasmTrainingKernels(opts: { fastBackpropInput?: boolean; shareIdentity?: boolean } = {}): void {
  if (registered) return;
  registered = true;
  if (!tf.getKernel('Conv2DBackpropFilter', 'wasm')) {
    tf.registerKernel({
      kernelName: 'Conv2DBackpropFilter',
      backendName: 'wasm',
      kernelFunc: ({ inputs, attrs }) => {
        const a = attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
        return conv2dBackpropFilterNHWC(inputs.x as tf.Tensor4D, inputs.dy as tf.Tensor4D, a.filterShape, { ...a, pad: asPad(a.pad) });
      },
    });
  }
  // Identity: tfjs-core's engine clones every tensor it saves for the backward pass (and
  // tf.customGrad's `save` clones too) through the Identity kernel, and wasm's Identity copies
  // the data — so on wasm every taped activation existed twice. Tensors are immutable and the
  // wasm backend refcounts data ids (Reshape already shares), so share instead, as the cpu
  // backend does. The 'legacy' implementation keeps the copy (for before/after benchmarks).
  const identity = tf.getKernel('Identity', 'wasm');
  if (opts.shareIdentity !== false && identity) {
    tf.unregisterKernel('Identity', 'wasm');
    tf.registerKernel({
      kernelName: 'Identity',
      backendName: 'wasm',
      kernelFunc: (args) => {
        const x = args.inputs.x as tf.TensorInfo;
        if (impl === 'legacy' || x.dtype === 'string') return identity.kernelFunc(args);
        (args.backend as unknown as { incRef(id: object): void }).incRef(x.dataId);
        return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
      },
    });
  }
  const original = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (opts.fastBackpropInput !== false && original) {
    tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
    tf.registerKernel({
      kernelName: 'Conv2DBackpropInput',
      backendName: 'wasm',
      kernelFunc: (args) => {
        const a = args.attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
        const fast = conv2dBackpropInputNHWC(args.inputs.dy as tf.Tensor4D, args.inputs.filter as tf.Tensor4D, a.inputShape, a);
        return fast ?? original.kernelFunc(args);
      },
    });
  }
}
