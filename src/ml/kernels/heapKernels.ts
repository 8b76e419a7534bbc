import * as tf from '@tensorflow/tfjs';

/**
 * Small data-movement / elementwise kernels written in plain JS over the backend's own buffers
 * (wasm: views on the wasm heap; cpu: the tensors' typed arrays), for the enhancer's training path.
 *
 * Why: on tfjs-backend-wasm 4.22, `Slice` (and `SplitV`, which is built on it) copies the WHOLE
 * input out of the wasm heap (`readSync` → `HEAPU8.slice`) before taking the window, so every
 * slice of a big activation costs a full copy plus JS garbage; and elementwise gradients such as
 * LeakyReLU's (Greater + Multiply + Select) are three full passes with a bool temporary. These
 * kernels read the heap in place, do one pass, and allocate only their output.
 *
 * All are registered for 'wasm' and 'cpu' (idempotent, at import). Callers check
 * `heapKernelsAvailable()` and otherwise fall back to composite tf ops (webgl/webgpu).
 */

type Arr = Float32Array;
interface Info { dataId: object; shape: number[]; dtype: tf.DataType }
// Attribute bags: tfjs types attrs as NamedAttrMap; the kernels below read plain numbers from them.
type Attrs = Record<string, number>;

interface HeapKernel {
  name: string;
  inputs: string[];
  /** Output shapes from the input shapes (absent optional inputs are null) and attrs. */
  outShapes(shapes: (number[] | null)[], attrs: Attrs): number[][];
  run(ins: (Arr | null)[], outs: Arr[], shapes: (number[] | null)[], attrs: Attrs): void;
}

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** copy src[s, s+len) → dst[d, …); copyWithin when both live in the same buffer (wasm heap: no allocation). */
function copy(dst: Arr, d: number, src: Arr, s: number, len: number): void {
  if (len <= 0) return;
  if (dst.buffer === src.buffer) {
    const heap = new Float32Array(dst.buffer);
    const d0 = dst.byteOffset / 4 + d;
    const s0 = src.byteOffset / 4 + s;
    heap.copyWithin(d0, s0, s0 + len);
  } else dst.set(src.subarray(s, s + len), d);
}

/**
 * Transposed im2col rows for a conv filter gradient.
 * in: xT [ci, N, H, W] (channels-first, unpadded). out: [kh·kw·ci, rows·ow] where column
 * (r−r0)·ow + x of row ((i·kw + j)·ci + c) is xT[c, n, y·sh + i·dh − top, x·sw + j·dw − left]
 * (zero outside) for flattened output row r = n·oh + y ∈ [r0, r0 + rows).
 */
const filterColsK: HeapKernel = {
  name: 'BacklitFilterCols',
  inputs: ['x'],
  outShapes: (s, a) => [[a.kh * a.kw * (s[0] as number[])[0], a.rows * a.ow]],
  run([x], [out], [xs], a) {
    const [ci, n, h, w] = xs as number[];
    const { kh, kw, sh, sw, dh, dw, top, left, oh, ow, r0, rows } = a;
    const rowLen = rows * ow;
    let base = 0;
    // One view over the whole heap when x and out share it (wasm): copyWithin without allocations.
    const same = (x as Arr).buffer === out.buffer;
    const heap = same ? new Float32Array(out.buffer) : null;
    const xOff = same ? (x as Arr).byteOffset / 4 : 0;
    const oOff = same ? out.byteOffset / 4 : 0;
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const colShift = j * dw - left;
        // output columns whose source column lies inside [0, w)
        const xa = Math.max(0, Math.ceil(-colShift / sw));
        const xb = Math.min(ow, Math.floor((w - 1 - colShift) / sw) + 1);
        for (let c = 0; c < ci; c++, base += rowLen) {
          for (let r = r0; r < r0 + rows; r++) {
            const img = (r / oh) | 0;
            const y = r - img * oh;
            const yy = y * sh + i * dh - top;
            const o = base + (r - r0) * ow;
            if (yy < 0 || yy >= h || xb <= xa) {
              out.fill(0, o, o + ow);
              continue;
            }
            if (xa > 0) out.fill(0, o, o + xa);
            if (xb < ow) out.fill(0, o + xb, o + ow);
            const src = ((c * n + img) * h + yy) * w + colShift;
            if (sw === 1) {
              if (heap) heap.copyWithin(oOff + o + xa, xOff + src + xa, xOff + src + xb);
              else out.set((x as Arr).subarray(src + xa, src + xb), o + xa);
            } else {
              const xv = x as Arr;
              for (let q = xa; q < xb; q++) out[o + q] = xv[src + q * sw];
            }
          }
        }
      }
    }
  },
};

/** Contiguous row range of a 2-D tensor: x [R, C] → rows [begin, begin + count). */
const rowSliceK: HeapKernel = {
  name: 'BacklitRowSlice',
  inputs: ['x'],
  outShapes: (s, a) => [[a.count, (s[0] as number[])[1]]],
  run([x], [out], [xs], a) {
    const c = (xs as number[])[1];
    copy(out, 0, x as Arr, a.begin * c, a.count * c);
  },
};

/**
 * Adjoint of reflect padding by p on H and W, optionally fused with an activation-gradient mask
 * and a residual addend: out = fold(g) · (ref > 0 ? 1 : alpha) + addend.
 * in: g [N, H+2p, W+2p, C], ref? [N,H,W,C], addend? [N,H,W,C]. out: [N, H, W, C].
 * Padded index k < p mirrors source p − k; padded index p + n + k mirrors source n − 2 − k.
 */
const reflectFoldK: HeapKernel = {
  name: 'BacklitReflectFold',
  inputs: ['g', 'ref', 'addend'],
  outShapes: (s, a) => {
    const [n, hp, wp, c] = s[0] as number[];
    return [[n, hp - 2 * a.p, wp - 2 * a.p, c]];
  },
  run([g, ref, addend], [out], [gs], a) {
    const gv = g as Arr;
    const [n, hp, wp, c] = gs as number[];
    const p = a.p;
    const h = hp - 2 * p;
    const w = wp - 2 * p;
    const alpha = a.alpha ?? 1;
    const gRow = wp * c;
    const oRow = w * c;
    const tmp = new Float32Array(gRow);
    for (let img = 0; img < n; img++) {
      for (let y = 0; y < h; y++) {
        // Row fold: the centre row plus any mirrored padded rows that map onto source row y.
        let row: Arr = gv;
        let rowOff = (img * hp + y + p) * gRow;
        const mirrors: number[] = [];
        if (y >= 1 && y <= p) mirrors.push(p - y); // top border padded row k = p − y
        if (y >= h - 1 - p && y <= h - 2) mirrors.push(p + h + (h - 2 - y)); // bottom: k = h − 2 − y
        if (mirrors.length) {
          tmp.set(gv.subarray(rowOff, rowOff + gRow));
          for (const pr of mirrors) {
            const mo = (img * hp + pr) * gRow;
            for (let q = 0; q < gRow; q++) tmp[q] += gv[mo + q];
          }
          row = tmp;
          rowOff = 0;
        }
        const o = (img * h + y) * oRow;
        copy(out, o, row, rowOff + p * c, oRow);
        // Column fold within the row.
        for (let k = 0; k < p; k++) {
          const dstL = o + (p - k) * c; // left border col k → source p − k
          const srcL = rowOff + k * c;
          const dstR = o + (w - 2 - k) * c; // right border col p + w + k → source w − 2 − k
          const srcR = rowOff + (p + w + k) * c;
          for (let q = 0; q < c; q++) {
            out[dstL + q] += row[srcL + q];
            out[dstR + q] += row[srcR + q];
          }
        }
      }
    }
    const total = n * h * w * c;
    if (ref) {
      const r = ref;
      for (let q = 0; q < total; q++) if (!(r[q] > 0)) out[q] *= alpha;
    }
    if (addend) {
      const d = addend;
      for (let q = 0; q < total; q++) out[q] += d[q];
    }
  },
};

/**
 * Activation gradient from a reference whose sign decides the branch (the pre-activation, or
 * the output of relu/leaky-relu, which has the same sign): dx = dy · (ref > 0 ? 1 : alpha[ch]).
 * With `wantAlphaGrad` it also returns dalpha[ch] = Σ dy · min(ref, 0) (PReLU; ref must be the
 * pre-activation then). alpha is a [1] or [C] tensor (PReLU) or the `alpha` attr.
 */
const actGradK: HeapKernel = {
  name: 'BacklitActGrad',
  inputs: ['dy', 'ref', 'alpha'],
  outShapes: (s, a) => (a.wantAlphaGrad ? [s[0] as number[], s[2] as number[]] : [s[0] as number[]]),
  run([dy, ref, alphaT], outs, _shapes, a) {
    const d = dy as Arr;
    const r = ref as Arr;
    const dx = outs[0];
    const total = d.length;
    if (!alphaT) {
      const al = a.alpha ?? 0;
      for (let q = 0; q < total; q++) dx[q] = r[q] > 0 ? d[q] : al * d[q];
      return;
    }
    const na = alphaT.length;
    if (na === 1) {
      const al = alphaT[0];
      let ga = 0;
      for (let q = 0; q < total; q++) {
        const v = r[q];
        if (v > 0) dx[q] = d[q];
        else { dx[q] = al * d[q]; ga += d[q] * v; }
      }
      if (outs[1]) outs[1][0] = ga;
      return;
    }
    const ga = new Float64Array(na);
    for (let q = 0, ch = 0; q < total; q++, ch = ch + 1 === na ? 0 : ch + 1) {
      const v = r[q];
      if (v > 0) dx[q] = d[q];
      else { dx[q] = alphaT[ch] * d[q]; ga[ch] += d[q] * v; }
    }
    if (outs[1]) for (let ch = 0; ch < na; ch++) outs[1][ch] = ga[ch];
  },
};

/** Split the last axis into consecutive groups of sizes `s0, s1, …` (attr `parts` = count). */
const channelSplitK: HeapKernel = {
  name: 'BacklitChannelSplit',
  inputs: ['x'],
  outShapes: (s, a) => {
    const xs = s[0] as number[];
    return Array.from({ length: a.parts }, (_, i) => [...xs.slice(0, -1), a[`s${i}`]]);
  },
  run([x], outs, [xs], a) {
    const xv = x as Arr;
    const c = (xs as number[])[(xs as number[]).length - 1];
    const pix = xv.length / c;
    let c0 = 0;
    for (let i = 0; i < a.parts; i++) {
      const k = a[`s${i}`];
      const o = outs[i];
      if (k === 1) for (let p = 0; p < pix; p++) o[p] = xv[p * c + c0];
      else {
        for (let p = 0; p < pix; p++) {
          const s = p * c + c0;
          const d = p * k;
          for (let q = 0; q < k; q++) o[d + q] = xv[s + q];
        }
      }
      c0 += k;
    }
  },
};

const KERNELS = [filterColsK, rowSliceK, reflectFoldK, actGradK, channelSplitK];
const BACKENDS = ['wasm', 'cpu'];

interface WasmLike { makeOutput(shape: number[], dtype: string): Info; typedArrayFromHeap(t: Info): Arr }
interface CpuLike { data: { get(id: object): { values: Arr } }; makeTensorInfo(shape: number[], dtype: string, values: Arr): Info }

function register(): void {
  for (const k of KERNELS) {
    for (const backendName of BACKENDS) {
      if (tf.getKernel(k.name, backendName)) continue;
      tf.registerKernel({
        kernelName: k.name,
        backendName,
        kernelFunc: ({ inputs, attrs, backend }) => {
          const infos = k.inputs.map((nm) => (inputs[nm] as Info | undefined) ?? null);
          const shapes = infos.map((t) => (t ? t.shape : null));
          const a = attrs as unknown as Attrs;
          const outShapes = k.outShapes(shapes, a);
          if (backendName === 'wasm') {
            const b = backend as unknown as WasmLike;
            const outs = outShapes.map((s) => b.makeOutput(s, 'float32'));
            // Views are taken after all allocations (a heap grow detaches older views).
            const ins = infos.map((t) => (t ? b.typedArrayFromHeap(t) : null));
            k.run(ins, outs.map((o) => b.typedArrayFromHeap(o)), shapes, a);
            return outs.length === 1 ? outs[0] : outs;
          }
          const b = backend as unknown as CpuLike;
          const ins = infos.map((t) => (t ? b.data.get(t.dataId).values : null));
          const vals = outShapes.map((s) => new Float32Array(size(s)));
          k.run(ins, vals, shapes, a);
          const outs = outShapes.map((s, i) => b.makeTensorInfo(s, 'float32', vals[i]));
          return outs.length === 1 ? outs[0] : outs;
        },
      });
    }
  }
}
register();

/** True when the heap kernels run on the active backend (wasm, cpu). */
export function heapKernelsAvailable(): boolean {
  return BACKENDS.includes(tf.getBackend());
}

function run(name: string, inputs: Record<string, tf.Tensor | undefined>, attrs: Attrs): tf.Tensor | tf.Tensor[] {
  const ins: tf.NamedTensorMap = {};
  for (const [k, v] of Object.entries(inputs)) if (v) ins[k] = v;
  return tf.engine().runKernel(name, ins, attrs as unknown as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];
}

/** See `filterCols`. xT is [ci, N, H, W]. */
export function filterColumns(xT: tf.Tensor4D, a: { kh: number; kw: number; sh: number; sw: number; dh: number; dw: number; top: number; left: number; oh: number; ow: number; r0: number; rows: number }): tf.Tensor2D {
  return run(filterColsK.name, { x: xT }, a) as tf.Tensor2D;
}

/** Rows [begin, begin+count) of a 2-D tensor, read in place (tf.slice on wasm copies the whole input first). */
export function sliceRows(x: tf.Tensor2D, begin: number, count: number): tf.Tensor2D {
  if (begin === 0 && count === x.shape[0]) return x.clone();
  if (!heapKernelsAvailable()) return tf.slice(x, [begin, 0], [count, x.shape[1]]);
  return run(rowSliceK.name, { x }, { begin, count }) as tf.Tensor2D;
}

/**
 * fold(g) · (ref > 0 ? 1 : alpha) + addend, where fold is the adjoint of reflect padding by p
 * (g: [N, H+2p, W+2p, C]). `ref`/`addend` are optional [N,H,W,C].
 */
export function reflectFold(g: tf.Tensor4D, p: number, opts: { ref?: tf.Tensor4D; alpha?: number; addend?: tf.Tensor4D } = {}): tf.Tensor4D {
  const [, hp, wp] = g.shape;
  const h = hp - 2 * p;
  const w = wp - 2 * p;
  if (p >= h || p >= w) throw new Error(`reflectFold: pad ${p} needs H and W > ${p} (got ${h}×${w}).`);
  if (heapKernelsAvailable()) return run(reflectFoldK.name, { g, ref: opts.ref, addend: opts.addend }, { p, alpha: opts.alpha ?? 1 }) as tf.Tensor4D;
  return tf.tidy(() => {
    let out = foldAxis(foldAxis(g, 1, p, h), 2, p, w);
    if (opts.ref) out = tf.where(tf.greater(opts.ref, 0), out, tf.mul(out, opts.alpha ?? 1)) as tf.Tensor4D;
    if (opts.addend) out = tf.add(out, opts.addend);
    return out;
  });
}

/**
 * Composite adjoint of reflect padding along one axis (fallback for other backends). Padded index
 * k < p mirrors source p−k; after the centre, index p+n+k mirrors source n−2−k: reverse each border
 * block so its rows follow their sources, then add it in place.
 */
export function foldAxis(dy: tf.Tensor4D, axis: 1 | 2, p: number, n: number): tf.Tensor4D {
  return tf.tidy(() => {
    const shape = dy.shape.slice() as [number, number, number, number];
    const begin = [0, 0, 0, 0];
    const sz = shape.slice();
    const sl = (start: number, len: number): tf.Tensor4D => {
      begin[axis] = start;
      sz[axis] = len;
      return tf.slice(dy, begin, sz);
    };
    let out: tf.Tensor4D = sl(p, n);
    const top = tf.reverse(sl(0, p), axis); // sources 1..p
    const bot = tf.reverse(sl(p + n, p), axis); // sources n-1-p..n-2
    const padTop: [number, number][] = [[0, 0], [0, 0], [0, 0], [0, 0]];
    padTop[axis] = [1, n - 1 - p];
    const padBot: [number, number][] = [[0, 0], [0, 0], [0, 0], [0, 0]];
    padBot[axis] = [n - 1 - p, 1];
    out = tf.add(out, tf.pad(top, padTop));
    out = tf.add(out, tf.pad(bot, padBot));
    return out;
  });
}

/** Split x along its last axis into groups of the given sizes (tf.split, without wasm Slice's full copies). */
export function splitChannels(x: tf.Tensor, sizes: number[]): tf.Tensor[] {
  if (!heapKernelsAvailable() || sizes.length > 16) return tf.split(x, sizes, x.rank - 1);
  const attrs: Attrs = { parts: sizes.length };
  sizes.forEach((k, i) => { attrs[`s${i}`] = k; });
  const out = run(channelSplitK.name, { x }, attrs);
  return Array.isArray(out) ? out : [out];
}

/**
 * dy · (ref > 0 ? 1 : alpha): the gradient of relu (alpha 0), leaky relu (alpha number) or PReLU
 * (alpha a [1] or [C] tensor; then also returns dalpha = Σ dy·min(ref,0) with ref = pre-activation).
 */
export function activationGrad(dy: tf.Tensor4D, ref: tf.Tensor4D, alpha: number): tf.Tensor4D;
export function activationGrad(dy: tf.Tensor4D, ref: tf.Tensor4D, alpha: tf.Tensor): [tf.Tensor4D, tf.Tensor];
export function activationGrad(dy: tf.Tensor4D, ref: tf.Tensor4D, alpha: number | tf.Tensor): tf.Tensor4D | [tf.Tensor4D, tf.Tensor] {
  const isT = typeof alpha !== 'number';
  if (heapKernelsAvailable()) {
    const out = run(actGradK.name, { dy, ref, alpha: isT ? alpha : undefined }, { alpha: isT ? 0 : alpha, wantAlphaGrad: isT ? 1 : 0 });
    return isT ? (out as [tf.Tensor4D, tf.Tensor]) : (out as tf.Tensor4D);
  }
  return tf.tidy(() => {
    const pos = tf.greater(ref, 0);
    if (!isT) return tf.where(pos, dy, tf.mul(dy, alpha)) as tf.Tensor4D;
    const a = alpha;
    const c = dy.shape[3];
    const dx = tf.where(pos, dy, tf.mul(dy, a)) as tf.Tensor4D;
    const prod = tf.mul(dy, tf.minimum(ref, 0));
    const da = a.size === 1 ? tf.reshape(tf.sum(prod), a.shape) : tf.reshape(tf.sum(tf.reshape(prod, [-1, c]), 0), a.shape);
    return [dx, da] as [tf.Tensor4D, tf.Tensor];
  });
}
