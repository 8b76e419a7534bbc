import * as tf from '@tensorflow/tfjs';
import { reflectPad2d } from '../kernels/reflectPad';
import { convLayer, resBlock as fusedResBlock, type Activation } from './layers';
import type { PthTensor } from '../pth';

/**
 * The CLIP-LIT / RAVE enhancement network (METHODS.md "Enhancement network", ~0.28 M params).
 *
 * Weights live in a plain map of tf.Variables keyed by the PyTorch state_dict names of the
 * released checkpoints minus the DataParallel `module.` prefix (`cond1.weight`,
 * `ResidualBlock3.conv2.weight`, `PPM1.features.2.1.weight`, …), so importing a .pth is a
 * rename-free copy. Conv weights are stored HWIO (tfjs) — transposed from PyTorch's OIHW on import.
 *
 * Layout is NHWC, images in 0..1. Fully convolutional; the pyramid pooling is global, handled
 * exactly in tiled inference by a two-pass scheme (see `enhanceTiled`).
 */

export type PadMode = 'zero' | 'reflect';
export type Weights = Map<string, tf.Variable>;

export interface ForwardOptions {
  /**
   * Padding of the non-ResBlock 3×3 convs (cond1, condx, condy, cond_add1): PyTorch trains with
   * zeros and the released test code uses reflect. ResBlocks always reflect; the PPM fuse conv
   * always zero-pads (it is one module shared by both variants).
   */
  padMode?: PadMode;
  /**
   * 'fused' (default): layers with hand-written backward passes (`layers.ts`) — same maths, far
   * less taped memory and fewer kernels. 'reference': the plain composition of tf ops with tfjs
   * autograd (the original implementation; kept for comparison and tests).
   */
  impl?: 'fused' | 'reference';
  /**
   * Gradient checkpointing of the ResBlocks (fused only): do not keep each block's inner
   * activation; recompute its first conv in the backward. Measured: peak live memory of a
   * training step −18 % (512²: 1034 → 842 MB) for ~+10 % CPU time.
   */
  checkpoint?: boolean;
}

export interface EnhanceResult {
  /** Illumination map L, [N,H,W,1], ≥ 0. */
  L: tf.Tensor4D;
  /** clamp(I / (L + 1e-9), 0, 1), [N,H,W,3]. */
  out: tf.Tensor4D;
}

export const PPM_BINS = [1, 2, 3, 6] as const;
const EPS = 1e-9;
/** Slope of every LeakyReLU in the network. */
export const LRELU_SLOPE = 0.2;

/**
 * One layer of the trunk. `features1` and `rest` walk STAGE1 / STAGE2, and the ONNX exporter
 * (src/ml/onnx/export.ts) walks the same lists, so the architecture is written down once.
 * conv: 3×3, stride 1; pad 'mode' follows ForwardOptions.padMode, 'zero' always zero-pads.
 * res: ResidualBlock{block}: lrelu(conv2(lrelu(conv1(x))) + x), reflect-padded, no bias.
 */
export type TrunkLayer =
  | { kind: 'conv'; name: string; pad: 'mode' | 'zero'; bias: boolean; act: Activation; alpha?: string }
  | { kind: 'res'; block: number };

/** Stage 1: conv 3→32 + LeakyReLU, ResBlock1, ResBlock2 (receptive radius 5 px). */
export const STAGE1: readonly TrunkLayer[] = [
  { kind: 'conv', name: 'cond1', pad: 'mode', bias: true, act: 'lrelu' },
  { kind: 'res', block: 1 },
  { kind: 'res', block: 2 },
];

/** After the pyramid pooling: the PPM fuse conv (input: f1 ++ upsampled contexts), then stage 2. */
export const STAGE2: readonly TrunkLayer[] = [
  { kind: 'conv', name: 'PPM1.fuse.0', pad: 'zero', bias: false, act: 'prelu', alpha: 'PPM1.fuse.1.weight' },
  { kind: 'conv', name: 'condx', pad: 'mode', bias: true, act: 'none' },
  { kind: 'res', block: 3 },
  { kind: 'res', block: 4 },
  { kind: 'conv', name: 'condy', pad: 'mode', bias: true, act: 'none' },
  { kind: 'res', block: 5 },
  { kind: 'res', block: 6 },
  { kind: 'conv', name: 'cond_add1', pad: 'mode', bias: true, act: 'relu' },
];

/** Parameter names of PPM branch i (bin PPM_BINS[i]): 1×1 conv 32→8 without bias, then PReLU. */
export function ppmBranch(i: number): { conv: string; alpha: string } {
  return { conv: `PPM1.features.${i}.1.weight`, alpha: `PPM1.features.${i}.2.weight` };
}

interface ParamSpec { name: string; shape: number[]; kind: 'conv' | 'bias' | 'prelu' }

function conv(name: string, cin: number, cout: number, k: number, bias: boolean): ParamSpec[] {
  const specs: ParamSpec[] = [{ name: `${name}.weight`, shape: [k, k, cin, cout], kind: 'conv' }];
  if (bias) specs.push({ name: `${name}.bias`, shape: [cout], kind: 'bias' });
  return specs;
}

/** All parameters, in the PyTorch state_dict order, with tfjs (HWIO) shapes. */
export function parameterSpecs(): ParamSpec[] {
  const specs: ParamSpec[] = [
    ...conv('cond1', 3, 32, 3, true),
    ...conv('cond_add1', 32, 1, 3, true),
    ...conv('condx', 32, 64, 3, true),
    ...conv('condy', 64, 32, 3, true),
  ];
  const blocks: [number, number][] = [[1, 32], [2, 32], [3, 64], [4, 64], [5, 32], [6, 32]];
  for (const [i, c] of blocks) specs.push(...conv(`ResidualBlock${i}.conv1`, c, c, 3, false), ...conv(`ResidualBlock${i}.conv2`, c, c, 3, false));
  PPM_BINS.forEach((_, i) => {
    specs.push(...conv(`PPM1.features.${i}.1`, 32, 8, 1, false));
    specs.push({ name: `PPM1.features.${i}.2.weight`, shape: [1], kind: 'prelu' });
  });
  specs.push(...conv('PPM1.fuse.0', 64, 32, 3, false));
  specs.push({ name: 'PPM1.fuse.1.weight', shape: [1], kind: 'prelu' });
  return specs;
}

let instanceCounter = 0;

/** tfjs treats seed 0 as "no seed" (irreproducible); every other value is used as is. */
function tfSeed(s: number): number {
  return s === 0 ? 0x5eed : s;
}

// ---- pyramid-pooling matrices (exact PyTorch semantics) -----------------------------------------

/** adaptive_avg_pool1d as a [b, n] matrix: bin i averages [floor(i·n/b), ceil((i+1)·n/b)). */
export function adaptivePoolMatrix(b: number, n: number): Float32Array {
  const m = new Float32Array(b * n);
  for (let i = 0; i < b; i++) {
    const s = Math.floor((i * n) / b);
    const e = Math.ceil(((i + 1) * n) / b);
    for (let j = s; j < e; j++) m[i * n + j] = 1 / (e - s);
  }
  return m;
}

/** Bilinear align_corners=True upsampling b → n as a [n, b] matrix (rows `from`..`from+count`). */
export function upsampleMatrix(n: number, b: number, from = 0, count = n): Float32Array {
  const m = new Float32Array(count * b);
  for (let r = 0; r < count; r++) {
    const y = from + r;
    const src = b > 1 && n > 1 ? (y * (b - 1)) / (n - 1) : 0;
    const i0 = Math.min(Math.floor(src), b - 1);
    const i1 = Math.min(i0 + 1, b - 1);
    const f = src - i0;
    m[r * b + i0] += 1 - f;
    m[r * b + i1] += f;
  }
  return m;
}

/** y[n, i, r] = Σ_a M[i, a] · x[n, a, r] — a matrix applied along axis 1 of [N, A, R]. */
function applyAlongAxis1(x: tf.Tensor3D, m: tf.Tensor2D): tf.Tensor3D {
  const [n, a, r] = x.shape;
  const rows = m.shape[0];
  if (n === 1) return tf.reshape(tf.matMul(m, tf.reshape(x, [a, r])), [1, rows, r]);
  const xt = tf.reshape(tf.transpose(x, [1, 0, 2]), [a, n * r]);
  return tf.transpose(tf.reshape(tf.matMul(m, xt), [rows, n, r]), [1, 0, 2]);
}

/** Separable 2-D linear map: [N,H,W,C] → [N,rows(mh),rows(mw),C] with mh [h', H], mw [w', W]. */
function separable(x: tf.Tensor4D, mh: tf.Tensor2D, mw: tf.Tensor2D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const hh = mh.shape[0];
  const ww = mw.shape[0];
  const a = applyAlongAxis1(tf.reshape(x, [n, h, w * c]), mh); // [n, hh, w·c]
  const b = applyAlongAxis1(tf.reshape(a, [n * hh, w, c]), mw); // [n·hh, ww, c]
  return tf.reshape(b, [n, hh, ww, c]);
}

// ---- the network ---------------------------------------------------------------------------------

export class EnhancerNet {
  readonly weights: Weights;

  private constructor(weights: Weights) {
    this.weights = weights;
  }

  /** Fresh network: conv weights N(0, 0.02) from `seed`, biases 0 (illumination head 1, see below), PReLU slopes 0.25. */
  static create(seed = 0, opts: { identityStart?: boolean } = {}): EnhancerNet {
    const identityStart = opts.identityStart ?? true;
    const id = instanceCounter++;
    const weights: Weights = new Map();
    parameterSpecs().forEach((s, i) => {
      const init = tf.tidy(() => {
        if (s.kind === 'conv') return tf.randomNormal(s.shape, 0, 0.02, 'float32', tfSeed(seed * 1000 + i));
        if (s.kind === 'prelu') return tf.fill(s.shape, 0.25);
        // Deviation (default on): the illumination head's bias starts at 1, so L ≈ 1 and I_out ≈ I —
        // where the reconstruction warm-up is meant to arrive. With N(0, 0.02) weights the reference
        // init gives L ≈ 0.02 (or 0), every pixel above that clamps to white and no gradient passes
        // the clamp; the reference code copes by re-initialising when PSNR(in, out) < 8. Other biases
        // start at 0 (METHODS.md specifies only the weights; zero trained fastest in our runs).
        if (identityStart && s.name === 'cond_add1.bias') return tf.ones(s.shape);
        return tf.zeros(s.shape);
      });
      weights.set(s.name, tf.variable(init, true, `enhancer${id}/${s.name}`));
      init.dispose();
    });
    return new EnhancerNet(weights);
  }

  /**
   * Network from a PyTorch state_dict (from `readPth`). A `module.` prefix is stripped; every
   * expected key must be present with the right shape; PReLU may be single or per-channel.
   */
  static fromStateDict(sd: Map<string, PthTensor>, opts: { allowExtraKeys?: boolean } = {}): EnhancerNet {
    const strip = (k: string) => (k.startsWith('module.') ? k.slice('module.'.length) : k);
    const byName = new Map<string, PthTensor>();
    for (const [k, v] of sd) byName.set(strip(k), v);
    const specs = parameterSpecs();
    const missing = specs.filter((s) => !byName.has(s.name)).map((s) => s.name);
    if (missing.length) throw new Error(`enhancer state_dict is missing ${missing.length} key(s): ${missing.slice(0, 6).join(', ')}; is this a CLIP-LIT/RAVE enhancement checkpoint?`);
    const known = new Set(specs.map((s) => s.name));
    const extra = [...byName.keys()].filter((k) => !known.has(k));
    if (extra.length && !opts.allowExtraKeys) throw new Error(`enhancer state_dict has unexpected key(s): ${extra.slice(0, 6).join(', ')}; pass allowExtraKeys to ignore them.`);
    const id = instanceCounter++;
    const weights: Weights = new Map();
    for (const s of specs) {
      const t = byName.get(s.name) as PthTensor;
      let value: tf.Tensor;
      if (s.kind === 'conv') {
        const [k, , cin, cout] = s.shape;
        const want = [cout, cin, k, k];
        if (t.shape.join() !== want.join()) throw new Error(`enhancer weight '${s.name}' has shape [${t.shape}], expected OIHW [${want}].`);
        value = tf.tidy(() => tf.transpose(tf.tensor4d(t.data, [cout, cin, k, k]), [2, 3, 1, 0]));
      } else if (s.kind === 'prelu') {
        const channels = s.name.startsWith('PPM1.fuse') ? 32 : 8;
        if (!(t.shape.length === 1 && (t.shape[0] === 1 || t.shape[0] === channels))) {
          throw new Error(`enhancer PReLU '${s.name}' has shape [${t.shape}], expected [1] or [${channels}].`);
        }
        value = tf.tensor1d(t.data);
      } else {
        if (t.shape.join() !== s.shape.join()) throw new Error(`enhancer bias '${s.name}' has shape [${t.shape}], expected [${s.shape}].`);
        value = tf.tensor1d(t.data);
      }
      weights.set(s.name, tf.variable(value, true, `enhancer${id}/${s.name}`));
      value.dispose();
    }
    return new EnhancerNet(weights);
  }

  /**
   * PyTorch-layout state_dict (OIHW), for saving or comparing. Reads the variables synchronously and
   * transposes on the CPU: on webgpu in Node a synchronous GPU read is impossible, so call
   * `download()` first there (it caches every weight on the CPU; reads then hit the cache).
   */
  stateDict(): Map<string, { shape: number[]; data: Float32Array }> {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const s of parameterSpecs()) {
      const v = this.w(s.name);
      const data = v.dataSync() as Float32Array;
      if (s.kind === 'conv') {
        const [kh, kw, ci, co] = v.shape;
        const t = new Float32Array(data.length);
        // HWIO → OIHW
        for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let c = 0; c < ci; c++) for (let o = 0; o < co; o++) t[((o * ci + c) * kh + i) * kw + j] = data[((i * kw + j) * ci + c) * co + o];
        out.set(s.name, { shape: [co, ci, kh, kw], data: t });
      } else out.set(s.name, { shape: v.shape, data: Float32Array.from(data) });
    }
    return out;
  }

  /** Reads every weight back asynchronously (cached on the CPU until the next update), so `stateDict()` works on GPU backends. */
  async download(): Promise<void> {
    await Promise.all([...this.weights.values()].map((v) => v.data()));
  }

  get numParams(): number {
    let n = 0;
    for (const v of this.weights.values()) n += v.size;
    return n;
  }

  trainableVariables(): tf.Variable[] {
    return [...this.weights.values()];
  }

  dispose(): void {
    for (const v of this.weights.values()) v.dispose();
    this.weights.clear();
  }

  private w(name: string): tf.Variable {
    const v = this.weights.get(name);
    if (!v) throw new Error(`enhancer weight '${name}' is missing (network disposed?).`);
    return v;
  }

  // ---- layers ----

  /** conv3×3 (+bias) + activation; one fused taped op unless opts.impl is 'reference'. */
  private convAct(x: tf.Tensor4D | tf.Tensor4D[], name: string, pad: PadMode, bias: boolean, act: Activation, opts: ForwardOptions, preluName?: string): tf.Tensor4D {
    if ((opts.impl ?? 'fused') === 'fused') {
      return convLayer(x, this.w(`${name}.weight`) as tf.Tensor4D, {
        pad, act, bias: bias ? (this.w(`${name}.bias`) as tf.Tensor1D) : null, alpha: preluName ? this.w(preluName) : undefined,
      });
    }
    return tf.tidy(() => {
      const xin = Array.isArray(x) ? tf.concat(x, 3) : x;
      const z = this.conv3(xin, name, pad, bias);
      if (act === 'relu') return tf.relu(z);
      if (act === 'lrelu') return tf.leakyRelu(z, LRELU_SLOPE);
      if (act === 'prelu') return this.prelu(z, preluName as string);
      return z;
    });
  }

  private conv3(x: tf.Tensor4D, name: string, pad: PadMode, bias: boolean): tf.Tensor4D {
    const w = this.w(`${name}.weight`) as tf.Tensor4D;
    const y = pad === 'reflect' ? tf.conv2d(reflectPad2d(x, 1), w, 1, 'valid') : tf.conv2d(x, w, 1, 'same');
    return bias ? tf.add(y, this.w(`${name}.bias`)) : y;
  }

  private prelu(x: tf.Tensor4D, name: string): tf.Tensor4D {
    // max(0,x) + a·min(0,x); written out because the single-slope [1] alpha must broadcast.
    return tf.add(tf.relu(x), tf.mul(this.w(name), tf.minimum(x, 0))) as tf.Tensor4D;
  }

  private resBlock(x: tf.Tensor4D, i: number, opts: ForwardOptions = {}): tf.Tensor4D {
    if ((opts.impl ?? 'fused') === 'fused') {
      return fusedResBlock(x, this.w(`ResidualBlock${i}.conv1.weight`) as tf.Tensor4D, this.w(`ResidualBlock${i}.conv2.weight`) as tf.Tensor4D, { checkpoint: opts.checkpoint });
    }
    return tf.tidy(() => {
      const h = tf.leakyRelu(this.conv3(x, `ResidualBlock${i}.conv1`, 'reflect', false), LRELU_SLOPE);
      const y = this.conv3(h, `ResidualBlock${i}.conv2`, 'reflect', false);
      return tf.leakyRelu(tf.add(y, x) as tf.Tensor4D, LRELU_SLOPE);
    });
  }

  /** Stage 1: conv 3→32 + LeakyReLU, ResBlock1, ResBlock2 (receptive radius 5 px). */
  features1(x: tf.Tensor4D, opts: ForwardOptions = {}): tf.Tensor4D {
    return this.walk(x, STAGE1, opts);
  }

  /** Runs `layers` on `input` (an array is concatenated along channels by the first conv); frees what it made along the way. */
  private walk(input: tf.Tensor4D | tf.Tensor4D[], layers: readonly TrunkLayer[], opts: ForwardOptions, freeAfterFirst: tf.Tensor[] = []): tf.Tensor4D {
    const pad = opts.padMode ?? 'zero';
    let x: tf.Tensor4D | null = null;
    for (const l of layers) {
      const src = x ?? input;
      let y: tf.Tensor4D;
      if (l.kind === 'res') {
        if (Array.isArray(src)) throw new Error('enhancer: a ResBlock cannot take a channel list; the first layer of a stage must be a conv.');
        y = this.resBlock(src, l.block, opts);
      } else y = this.convAct(src, l.name, l.pad === 'mode' ? pad : 'zero', l.bias, l.act, opts, l.alpha);
      x?.dispose();
      // Inputs only the first layer reads (the upsampled contexts) go now, not at the end: lower peak.
      if (!x) tf.dispose(freeAfterFirst);
      x = y;
    }
    if (!x) throw new Error('enhancer: empty layer list.');
    return x;
  }

  /** Per-bin pooled sums → pooled means are linear in f1, so tiles can accumulate them exactly. */
  poolSums(f1: tf.Tensor4D, rowsFrom: number, colsFrom: number, fullH: number, fullW: number): tf.Tensor4D[] {
    const [, h, w] = f1.shape;
    return PPM_BINS.map((b) => tf.tidy(() => {
      const ph = tf.tensor2d(sliceCols(adaptivePoolMatrix(b, fullH), b, fullH, rowsFrom, h), [b, h]);
      const pw = tf.tensor2d(sliceCols(adaptivePoolMatrix(b, fullW), b, fullW, colsFrom, w), [b, w]);
      return separable(f1, ph, pw);
    }));
  }

  /** The b×b context of each PPM branch: 1×1 conv 32→8 → PReLU on the pooled map. */
  ppmContext(pooled: tf.Tensor4D[]): tf.Tensor4D[] {
    return pooled.map((p, i) => tf.tidy(() => this.prelu(tf.conv2d(p, this.w(ppmBranch(i).conv) as tf.Tensor4D, 1, 'valid'), ppmBranch(i).alpha)));
  }

  /**
   * Stage 2 onwards, given f1 and the PPM contexts. (rowsFrom, colsFrom, fullH, fullW) place f1
   * inside the whole image so the upsampled contexts are the matching window of the global ones.
   */
  rest(f1: tf.Tensor4D, ctx: tf.Tensor4D[], opts: ForwardOptions & { rowsFrom?: number; colsFrom?: number; fullH?: number; fullW?: number } = {}): tf.Tensor4D {
    const [, h, w] = f1.shape;
    const fullH = opts.fullH ?? h;
    const fullW = opts.fullW ?? w;
    const ups = tf.tidy(() => ctx.map((c, i) => {
      const b = PPM_BINS[i];
      const uh = tf.tensor2d(upsampleMatrix(fullH, b, opts.rowsFrom ?? 0, h), [h, b]);
      const uw = tf.tensor2d(upsampleMatrix(fullW, b, opts.colsFrom ?? 0, w), [w, b]);
      return separable(c, uh, uw);
    }));
    try {
      return this.walk([f1, ...ups], STAGE2, opts, ups);
    } finally {
      tf.dispose(ups);
    }
  }

  /** Illumination map L [N,H,W,1] of images [N,H,W,3]. Differentiable. */
  illumination(x: tf.Tensor4D, opts: ForwardOptions = {}): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== 3) throw new Error(`enhancer input must be [N,H,W,3] in 0..1, got [${x.shape}].`);
    if (x.shape[1] < 2 || x.shape[2] < 2) throw new Error(`enhancer input must be at least 2×2 (reflect padding), got ${x.shape[1]}×${x.shape[2]}.`);
    const f1 = this.features1(x, opts);
    const [, h, w] = f1.shape;
    const pooled = this.poolSums(f1, 0, 0, h, w);
    const ctx = this.ppmContext(pooled);
    tf.dispose(pooled);
    const L = this.rest(f1, ctx, opts);
    tf.dispose([f1, ...ctx]);
    return L;
  }

  /** Full-resolution forward: L and clamp(I/(L+1e-9), 0, 1). Differentiable. */
  forward(x: tf.Tensor4D, opts: ForwardOptions = {}): EnhanceResult {
    const L = this.illumination(x, opts);
    const out = tf.tidy(() => retinexOut(x, L));
    return { L, out };
  }
}

/** I_out = clamp(I / (L + 1e-9), 0, 1). */
export function retinexOut(x: tf.Tensor4D, L: tf.Tensor4D): tf.Tensor4D {
  return tf.clipByValue(tf.div(x, tf.add(L, EPS)), 0, 1) as tf.Tensor4D;
}

/**
 * retinexOut on plain arrays (RGB interleaved, one L per pixel), in float32 like the tensor version,
 * into a new array: `x` may be a backend's own storage (tfjs-cpu's data() returns it). Hosts that
 * hold the image as an array (the onnx engine) avoid three full-size tensors of intermediates: at
 * 12 MP that is ~340 MB of wasm heap that never shrinks.
 */
export function retinexOutArray(x: Float32Array, L: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let p = 0; p < L.length; p++) {
    const d = Math.fround(L[p] + EPS);
    for (let c = 3 * p; c < 3 * p + 3; c++) out[c] = Math.min(1, Math.max(0, Math.fround(x[c] / d)));
  }
  return out;
}

/** Columns [from, from+count) of a row-major [rows, n] matrix. */
function sliceCols(m: Float32Array, rows: number, n: number, from: number, count: number): Float32Array {
  const out = new Float32Array(rows * count);
  for (let r = 0; r < rows; r++) out.set(m.subarray(r * n + from, r * n + from + count), r * count);
  return out;
}
