/**
 * Small, pure tfjs image helpers. Images are [N,H,W,3] float32 in 0..1 (NHWC).
 *
 * Resizing is done as two matrix products (rows, then columns) with weights computed exactly as
 * Pillow's `ImagingResample` computes them (antialiased: the kernel widens when downscaling).
 * Why matrices: the result is differentiable with matMul only, which every backend — wasm included —
 * can back-propagate, and it matches PIL (what HF's CLIPImageProcessor uses), unlike
 * tf.image.resizeBilinear, which neither antialiases nor does bicubic.
 */
import * as tf from '@tensorflow/tfjs';

export type ResampleFilter = 'bicubic' | 'bilinear';

export interface ResizeOptions {
  /** Kernel; Pillow's bicubic uses a = −0.5. Default bicubic. */
  filter?: ResampleFilter;
  /**
   * Round to 8-bit levels after each pass, as Pillow does on uint8 images. Gives bit-for-bit parity
   * with HF preprocessing of 8-bit inputs; not differentiable (round has zero gradient). Default false.
   */
  quantize?: boolean;
}

function filterWeight(filter: ResampleFilter, x: number): number {
  const t = Math.abs(x);
  if (filter === 'bilinear') return t < 1 ? 1 - t : 0;
  const a = -0.5;
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

/**
 * Resampling weights [outSize, inSize] as Pillow's `precompute_coeffs`: window centred at
 * (i + 0.5)·scale, support scaled by max(1, scale), clipped to the image and renormalised.
 */
export function resampleMatrix(inSize: number, outSize: number, filter: ResampleFilter = 'bicubic'): Float32Array {
  if (!(inSize > 0 && outSize > 0)) throw new Error(`resampleMatrix: sizes must be positive (in ${inSize}, out ${outSize}).`);
  const baseSupport = filter === 'bicubic' ? 2 : 1;
  const scale = inSize / outSize;
  const filterScale = Math.max(1, scale);
  const support = baseSupport * filterScale;
  const weights = new Float32Array(outSize * inSize);
  const row = new Float64Array(inSize);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5));
    let total = 0;
    for (let x = xmin; x < xmax; x++) {
      row[x] = filterWeight(filter, (x - center + 0.5) / filterScale);
      total += row[x];
    }
    for (let x = xmin; x < xmax; x++) weights[o * inSize + x] = total !== 0 ? row[x] / total : 0;
  }
  return weights;
}

/**
 * x [M,K] @ constant [K,N], differentiable w.r.t. `x` only. Why: on wasm a matMul with a transposed
 * operand is 5–12× slower than a plain one, and tfjs's own matMul gradient (dy @ bᵀ) takes that slow
 * path; here the backward transposes `constant` explicitly (cheap) and runs a plain matMul. No
 * gradient flows to `constant` (frozen weights, resampling matrices).
 */
export function matMulConstant(x: tf.Tensor2D, constant: tf.Tensor2D): tf.Tensor2D {
  // customGrad's parameter type is variadic (Tensor | GradSaveFunc)[]; unpack it explicitly.
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    save([constant]); // keeps it alive past the caller's tidy until the backward pass
    return {
      value: tf.matMul(input, constant) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.matMul(dy as tf.Tensor2D, tf.transpose(saved[0]) as tf.Tensor2D) as tf.Tensor,
    };
  });
  return op(x) as tf.Tensor2D;
}

/** Row-major [rows, cols] → [cols, rows]. */
export function transposeMatrix(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c];
  return out;
}

/** After each pass Pillow stores 8-bit values: clamp (bicubic overshoots) and, with quantize, round. */
function storePass(x: tf.Tensor, quantize: boolean): tf.Tensor {
  const clamped = tf.clipByValue(x, 0, 1);
  return quantize ? tf.div(tf.round(tf.mul(clamped, 255)), 255) : clamped;
}

/**
 * Resizes [N,H,W,C] (0..1) to [N,outH,outW,C] with Pillow-equivalent antialiased weights; clamps to
 * 0..1 after each pass like Pillow on 8-bit images. Differentiable unless `quantize`.
 */
export function resizeImages(images: tf.Tensor4D, outH: number, outW: number, options: ResizeOptions = {}): tf.Tensor4D {
  const filter = options.filter ?? 'bicubic';
  const [n, h, w, c] = images.shape;
  if (h === outH && w === outW) return tf.clone(images); // Pillow skips both passes at the same size
  return tf.tidy(() => {
    // Stored as [in, out]: matMul with transposeB is ~5× slower on wasm.
    const colWeights = tf.tensor2d(transposeMatrix(resampleMatrix(w, outW, filter), outW, w), [w, outW]);
    const rowWeights = tf.tensor2d(transposeMatrix(resampleMatrix(h, outH, filter), outH, h), [h, outH]);
    // Horizontal pass first, as Pillow does (it matters only with quantize).
    let x: tf.Tensor = tf.reshape(tf.transpose(images, [0, 3, 1, 2]), [n * c * h, w]);
    x = matMulConstant(x as tf.Tensor2D, colWeights); // [NCH, outW]
    x = storePass(x, options.quantize ?? false);
    x = tf.reshape(tf.transpose(tf.reshape(x, [n * c, h, outW]), [0, 2, 1]), [n * c * outW, h]);
    x = matMulConstant(x as tf.Tensor2D, rowWeights); // [NC·outW, outH]
    x = storePass(x, options.quantize ?? false);
    return tf.transpose(tf.reshape(x, [n, c, outW, outH]), [0, 3, 2, 1]) as tf.Tensor4D;
  });
}

/** Alias kept for callers that think in PIL terms. */
export function resizeBicubic(images: tf.Tensor4D, outH: number, outW: number, quantize = false): tf.Tensor4D {
  return resizeImages(images, outH, outW, { filter: 'bicubic', quantize });
}

/** HF `get_resize_output_image_size(..., default_to_square=False)`: short side → `size`, long side truncated. */
export function shortSideSize(height: number, width: number, size: number): { height: number; width: number } {
  const short = Math.min(height, width);
  const long = Math.max(height, width);
  const newLong = Math.trunc((size * long) / short);
  return height <= width ? { height: size, width: newLong } : { height: newLong, width: size };
}

/** HF-style centre crop: offsets floor((size − crop)/2). */
export function centerCrop(images: tf.Tensor4D, cropH: number, cropW: number): tf.Tensor4D {
  const [, h, w] = images.shape;
  if (cropH > h || cropW > w) {
    throw new Error(`centerCrop: crop ${cropH}×${cropW} is larger than the image ${h}×${w}; resize first.`);
  }
  const top = Math.floor((h - cropH) / 2);
  const left = Math.floor((w - cropW) / 2);
  return tf.slice(images, [0, top, left, 0], [-1, cropH, cropW, -1]);
}
