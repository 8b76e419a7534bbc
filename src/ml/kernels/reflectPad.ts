import * as tf from '@tensorflow/tfjs';
import { foldAxis, reflectFold } from './heapKernels';
import { getTrainingKernelImpl } from './wasmTraining';

/**
 * Reflect padding of H and W (NHWC) with a correct gradient.
 *
 * tfjs 4.22's MirrorPad gradient just slices the centre of dy and drops the contributions of the
 * mirrored border (checked: d/dx Σ mirrorPad(x) is all ones instead of 2s/4s on the edges), so
 * ResBlocks trained through `tf.mirrorPad` would get wrong weight gradients. Forward uses the
 * fast MirrorPad kernel; backward folds the border rows/columns of dy back onto their sources
 * (one pass on the heap via `reflectFold`; the composite slice/reverse/pad version under the
 * 'legacy' kernel implementation).
 */
export function reflectPad2d(x: tf.Tensor4D, p: number): tf.Tensor4D {
  if (p === 0) return x;
  const [, h, w] = x.shape;
  if (p >= h || p >= w) {
    throw new Error(`reflectPad2d: pad ${p} needs H and W > ${p} (got ${h}×${w}); use a larger image or zero padding.`);
  }
  // customGrad passes (…inputs, save); with one input the second argument is the save function.
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as tf.Tensor4D;
    const value = tf.mirrorPad(input, [[0, 0], [p, p], [p, p], [0, 0]], 'reflect');
    return {
      value,
      gradFunc: (dy: tf.Tensor) => (getTrainingKernelImpl() === 'legacy' ? foldReflect(dy as tf.Tensor4D, p, h, w) : reflectFold(dy as tf.Tensor4D, p)),
    };
  });
  return f(x) as tf.Tensor4D;
}

/** Adjoint of reflect padding along axis 1 then axis 2. */
function foldReflect(dy: tf.Tensor4D, p: number, h: number, w: number): tf.Tensor4D {
  return tf.tidy(() => {
    const rows = foldAxis(dy, 1, p, h);
    return foldAxis(rows, 2, p, w);
  });
}
