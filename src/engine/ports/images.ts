import * as tf from '@tensorflow/tfjs';
import type { DecodedImage } from '../host';

/** RGBA8 pixels → [H,W,3] float32 in 0..1 (alpha dropped). */
export function imageFromRgba(img: DecodedImage): tf.Tensor3D {
  const { width, height, data } = img;
  const rgb = new Float32Array(width * height * 3);
  for (let i = 0, j = 0; i < width * height; i++, j += 4) {
    rgb[i * 3] = data[j] / 255;
    rgb[i * 3 + 1] = data[j + 1] / 255;
    rgb[i * 3 + 2] = data[j + 2] / 255;
  }
  return tf.tensor3d(rgb, [height, width, 3]);
}

/** [H,W,3] in 0..1 → RGBA8 (clamped, rounded, opaque). */
export async function rgbaFromImage(image: tf.Tensor3D): Promise<DecodedImage> {
  const [height, width] = image.shape;
  const rgb = tf.tidy(() => image.clipByValue(0, 1).mul(255).round());
  const src = await rgb.data();
  rgb.dispose();
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0, j = 0; i < width * height; i++, j += 4) {
    data[j] = src[i * 3];
    data[j + 1] = src[i * 3 + 1];
    data[j + 2] = src[i * 3 + 2];
    data[j + 3] = 255;
  }
  return { width, height, data };
}
