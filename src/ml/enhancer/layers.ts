import * as tf from '@tensorflow/tfjs';
import { activationGrad, reflectFold, splitChannels } from '../kernels/heapKernels';
import { registerWasmTrainingKernels } from '../kernels/wasmTraining';

/**
 * Fused enhancer layers with hand-written backward passes (tf.customGrad), for training speed and
 * memory on wasm. Same maths as composing tf ops (the 'reference' path in network.ts), but:
 *
 * - the tape holds only what the backward needs — a ResBlock saves its input, the conv1
 *   activation and its output (the output is the next layer's input, so it costs nothing),
 *   instead of tfjs's ~8 full-size tensors (padded copies, pre-activations, bool masks …);
 * - saved tensors and incoming gradients are freed as soon as a layer's backward is done (tfjs
 *   keeps them all until the end of the backward pass, doubling its peak);
 * - the backward is a fixed sequence of big kernels: XNNPACK convs (input gradients as convs with
 *   the rotated filter and explicit padding), the wasm `Conv2DBackpropFilter` GEMM, and
 *   single-pass heap kernels for the reflect-pad adjoint, activation masks and residual add;
 * - the forward uses FusedConv2D (bias + relu/leaky-relu in the conv) at inference (tfjs only
 *   fuses linear activations while a tape is recording).
 *
 * `checkpoint` (ResBlocks): do not save the conv1 activation; recompute it in the backward —
 * one extra 3×3 conv per block for one fewer saved activation per block.
 */

export type Activation = 'none' | 'relu' | 'lrelu' | 'prelu';
export type LayerPad = 'zero' | 'reflect';
const LRELU = 0.2;

/** Input gradients produced by these layers: the consuming layer may free them once used. */
const ownGrads = new WeakSet<tf.Tensor>();

/**
 * tfjs keeps every node's dy and saved tensors until the whole backward pass ends, so the peak
 * of a backward pass is ~2× the taped forward. A layer's saved tensors and its incoming dy (when
 * it came from another of these layers, i.e. nobody else holds it) are not needed once its
 * gradient is computed: free them right away. Skipped under higher-order gradients, where the
 * tape is replayed.
 */
function release(dy: tf.Tensor, saved: tf.Tensor[]): void {
  const state = (tf.engine() as unknown as { state: { gradientDepth: number } }).state;
  if (state.gradientDepth !== 0) return;
  for (const t of saved) t.dispose();
  if (ownGrads.has(dy)) dy.dispose();
}

function own<T extends tf.Tensor>(t: T): T {
  ownGrads.add(t);
  return t;
}

function ensureKernels(): void {
  if (tf.getBackend() === 'wasm' && !tf.getKernel('Conv2DBackpropFilter', 'wasm')) registerWasmTrainingKernels();
}

/** 180°-rotated, in/out-swapped filter: the input gradient of a stride-1 conv is a conv with it. */
function rotated(w: tf.Tensor4D): tf.Tensor4D {
  return tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
}

function mirror(x: tf.Tensor4D): tf.Tensor4D {
  return tf.mirrorPad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], 'reflect');
}

/** dW of a stride-1 conv of `x` (already padded for 'valid') through the backend's kernel. */
function filterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, shape: number[], pad: 'same' | 'valid'): tf.Tensor4D {
  ensureKernels();
  return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
    strides: [1, 1], pad, dataFormat: 'NHWC', dimRoundingMode: undefined as unknown as string, dilations: [1, 1], filterShape: shape,
  } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/**
 * Input gradient of a 3×3 stride-1 conv: with reflect padding the conv ran 'valid' on the padded
 * input, so dy is padded by 2 (inside XNNPACK) and the result folded back; zero padding is 'same'.
 */
function inputGrad(dz: tf.Tensor4D, w: tf.Tensor4D, pad: LayerPad, fold: { ref?: tf.Tensor4D; alpha?: number; addend?: tf.Tensor4D } = {}): tf.Tensor4D {
  return tf.tidy(() => inputGradInner(dz, w, pad, fold));
}

function inputGradInner(dz: tf.Tensor4D, w: tf.Tensor4D, pad: LayerPad, fold: { ref?: tf.Tensor4D; alpha?: number; addend?: tf.Tensor4D }): tf.Tensor4D {
  const k = w.shape[0];
  if (pad === 'reflect') {
    const g = tf.conv2d(dz, rotated(w), 1, [[0, 0], [k - 1, k - 1], [k - 1, k - 1], [0, 0]]);
    return reflectFold(g, (k - 1) / 2, fold);
  }
  const g = tf.conv2d(dz, rotated(w), 1, 'same');
  if (!fold.ref && !fold.addend) return g;
  let out: tf.Tensor4D = g;
  if (fold.ref) out = activationGrad(out, fold.ref, fold.alpha ?? 0);
  if (fold.addend) out = tf.add(out, fold.addend);
  return out;
}

function applyAct(z: tf.Tensor4D, act: Activation, alpha?: tf.Tensor): tf.Tensor4D {
  if (act === 'relu') return tf.relu(z);
  if (act === 'lrelu') return tf.leakyRelu(z, LRELU);
  if (act === 'prelu') return tf.where(tf.greater(z, 0), z, tf.mul(z, alpha as tf.Tensor)) as tf.Tensor4D;
  return z;
}

/** Forward conv (+bias, +relu/leaky-relu fused); prelu applied after. */
function convForward(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D | null, pad: LayerPad, act: Activation, alpha?: tf.Tensor): { z: tf.Tensor4D; y: tf.Tensor4D } {
  const xin = pad === 'reflect' ? mirror(x) : x;
  const padArg = pad === 'reflect' ? 'valid' : 'same';
  if (act === 'prelu') {
    const z = b ? tf.fused.conv2d({ x: xin, filter: w, strides: 1, pad: padArg, bias: b }) : tf.conv2d(xin, w, 1, padArg);
    return { z, y: applyAct(z, act, alpha) };
  }
  const y = tf.fused.conv2d({
    x: xin, filter: w, strides: 1, pad: padArg, bias: b ?? undefined,
    activation: act === 'none' ? 'linear' : act === 'relu' ? 'relu' : 'leakyrelu', leakyreluAlpha: LRELU,
  });
  return { z: y, y };
}

export interface ConvLayerOptions {
  pad: LayerPad;
  act: Activation;
  /** Bias [cout], or null. */
  bias: tf.Tensor1D | null;
  /** PReLU slope ([1] or [cout]) when act is 'prelu'. */
  alpha?: tf.Tensor;
}

/**
 * act(conv3×3(x, w) + b) with `pad` padding, as one taped op (saves x and the output — or the
 * pre-activation for PReLU). Input may be a list of tensors, concatenated along channels first
 * (their gradients are split back), which is how the PPM fuse conv consumes [f1, contexts…].
 */
export function convLayer(x: tf.Tensor4D | tf.Tensor4D[], w: tf.Tensor4D, o: ConvLayerOptions): tf.Tensor4D {
  const parts = Array.isArray(x) ? x : [x];
  const sizes = parts.map((p) => p.shape[3]);
  const extra: tf.Tensor[] = [];
  if (o.bias) extra.push(o.bias);
  if (o.act === 'prelu') extra.push(o.alpha as tf.Tensor);
  const np = parts.length;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const ins = args.slice(0, -1) as tf.Tensor[];
    const wv = ins[np] as tf.Tensor4D;
    const bv = o.bias ? (ins[np + 1] as tf.Tensor1D) : null;
    const av = o.act === 'prelu' ? ins[ins.length - 1] : undefined;
    const xin = np === 1 ? (ins[0] as tf.Tensor4D) : tf.concat(ins.slice(0, np) as tf.Tensor4D[], 3);
    const { z, y } = convForward(xin, wv, bv, o.pad, o.act, av);
    save([xin, o.act === 'prelu' ? z : y]);
    const backward = (dy: tf.Tensor4D, [xs, ref]: tf.Tensor4D[]): tf.Tensor[] => {
      let dz = dy;
      let dAlpha: tf.Tensor | null = null;
      if (o.act === 'prelu') [dz, dAlpha] = activationGrad(dz, ref, av as tf.Tensor);
      else if (o.act !== 'none') dz = activationGrad(dz, ref, o.act === 'relu' ? 0 : LRELU);
      const xin2 = o.pad === 'reflect' ? mirror(xs) : xs;
      const dw = filterGrad(xin2, dz, wv.shape, o.pad === 'reflect' ? 'valid' : 'same');
      if (xin2 !== xs) xin2.dispose();
      const dx = inputGrad(dz, wv, o.pad);
      const dxs = np === 1 ? [dx] : (splitChannels(dx, sizes) as tf.Tensor4D[]);
      const grads: tf.Tensor[] = [...dxs.map(own), dw];
      if (bv) grads.push(tf.sum(dz, [0, 1, 2]));
      if (dAlpha) grads.push(dAlpha);
      return grads;
    };
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const grads = tf.tidy(() => backward(dy as tf.Tensor4D, saved as tf.Tensor4D[]));
        release(dy, saved);
        return grads;
      },
    };
  });
  return f(...parts, w, ...extra) as tf.Tensor4D;
}

/**
 * ResBlock(c): lrelu(conv2(reflect(lrelu(conv1(reflect(x))))) + x), both convs bias-free, as one
 * taped op. Saves x, the conv1 activation a, and the output y (x and y with `checkpoint`, a is
 * then recomputed in the backward).
 */
export function resBlock(x: tf.Tensor4D, w1: tf.Tensor4D, w2: tf.Tensor4D, opts: { checkpoint?: boolean } = {}): tf.Tensor4D {
  const ckpt = opts.checkpoint === true;
  const conv1 = (xv: tf.Tensor4D, wv: tf.Tensor4D) => tf.tidy(() => tf.fused.conv2d({
    x: mirror(xv), filter: wv, strides: 1, pad: 'valid', activation: 'leakyrelu', leakyreluAlpha: LRELU,
  }));
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xv, w1v, w2v] = args as tf.Tensor4D[];
    const save = args[3] as tf.GradSaveFunc;
    const a = conv1(xv, w1v);
    const y = tf.leakyRelu(tf.add(tf.conv2d(mirror(a), w2v, 1, 'valid'), xv), LRELU);
    save(ckpt ? [xv, y] : [xv, y, a]);
    // Intermediates are disposed as soon as they are used: the backward of one 64-channel 512²
    // block would otherwise hold ~10 full-size tensors at once.
    const backward = (dy: tf.Tensor4D, saved: tf.Tensor4D[]): tf.Tensor[] => {
      const [xs, ys] = saved;
      const as = ckpt ? conv1(xs, w1v) : saved[2];
      const ds = activationGrad(dy, ys, LRELU);
      const ap = mirror(as);
      const dw2 = filterGrad(ap, ds, w2v.shape, 'valid');
      ap.dispose();
      const dz1 = inputGrad(ds, w2v, 'reflect', { ref: as, alpha: LRELU });
      if (ckpt) as.dispose();
      const xp = mirror(xs);
      const dw1 = filterGrad(xp, dz1, w1v.shape, 'valid');
      xp.dispose();
      const dx = inputGrad(dz1, w1v, 'reflect', { addend: ds });
      return [own(dx), dw1, dw2];
    };
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const grads = tf.tidy(() => backward(dy as tf.Tensor4D, saved as tf.Tensor4D[]));
        release(dy, saved);
        return grads;
      },
    };
  });
  return f(x, w1, w2) as tf.Tensor4D;
}
