import * as tf from '@tensorflow/tfjs';
import type { RgbImage } from '../metrics';

/** [H,W,3] 0..1 → uint8 RGB, rounded like saving a PNG (RAVE evaluates saved files). */
export async function rgbOf(image: tf.Tensor3D): Promise<RgbImage> {
  const [height, width] = image.shape;
  const t = tf.tidy(() => image.clipByValue(0, 1).mul(255).round());
  const data = new Uint8Array(await t.data());
  t.dispose();
  return { width, height, data };
}

/** Downscales [H,W,3] to (width, height): 2×2 average pooling while at least twice too big (no aliasing), then bilinear. */
export function downscale(image: tf.Tensor3D, width: number, height: number): tf.Tensor3D {
  return tf.tidy(() => {
    let x = image.clipByValue(0, 1) as tf.Tensor3D;
    while (x.shape[0] >= 2 * height && x.shape[1] >= 2 * width) x = tf.avgPool(x, 2, 2, 'valid') as tf.Tensor3D;
    return x.shape[0] === height && x.shape[1] === width ? x : tf.image.resizeBilinear(x, [height, width], false, true);
  });
}
