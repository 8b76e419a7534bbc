import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { sharedDataDir, useTestBackend } from '../testing';
import { readPreprocessorConfig } from './encoder';
import { preprocessForClip } from './preprocess';

interface PreprocessFixture {
  size: number;
  crop: number;
  parity_image: number[][][];
  parity_ref: number[][][];
  crop_image: number[][][];
  crop_ref: number[][][];
}
const tinyDir = path.join(sharedDataDir, 'tiny-clip');
const fixture = JSON.parse(readFileSync(path.join(tinyDir, 'tiny_clip_preprocess.json'), 'utf8')) as PreprocessFixture;
const processor = readPreprocessorConfig(readFileSync(path.join(tinyDir, 'tiny_clip_preprocessor_config.json'), 'utf8'));

beforeAll(async () => {
  await useTestBackend('wasm');
});

/** HWC uint8 → [1,H,W,3] 0..1; runs preprocessing; returns CHW values to compare with HF's pixel_values. */
function runHf(imageHwc: number[][][], mode: 'dataset' | 'loss', quantize: boolean): Float32Array {
  return tf.tidy(() => {
    const x = tf.div(tf.tensor3d(imageHwc), 255).expandDims(0) as tf.Tensor4D;
    const out = preprocessForClip(x, mode, { size: fixture.size, cropSize: fixture.crop, ...processor, quantize });
    return tf.transpose(out.squeeze([0]), [2, 0, 1]).dataSync() as Float32Array;
  });
}

function maxAbsDiff(a: ArrayLike<number>, b: number[]): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('CLIP preprocessing vs HF CLIPImageProcessor (tiny_clip_preprocess.json)', () => {
  it('reads mean/std/crop from the processor config', () => {
    expect(processor).toEqual({ mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711], cropSize: 8 });
  });

  it('rescale + normalise parity (8×8 input, no resize needed)', () => {
    expect(maxAbsDiff(runHf(fixture.parity_image, 'dataset', false), fixture.parity_ref.flat(2))).toBeLessThanOrEqual(1e-5);
  });

  it('centre crop 16→8 without resize (the fixture was made with do_resize off: crop_ref = rows/cols 4..11)', () => {
    const out = tf.tidy(() => {
      const x = tf.div(tf.tensor3d(fixture.crop_image), 255).expandDims(0) as tf.Tensor4D;
      const y = preprocessForClip(x, 'dataset', { size: fixture.size, cropSize: fixture.crop, ...processor, doResize: false });
      return tf.transpose(y.squeeze([0]), [2, 0, 1]).dataSync() as Float32Array;
    });
    expect(maxAbsDiff(out, fixture.crop_ref.flat(2))).toBeLessThanOrEqual(1e-5);
  });

  it('bicubic short-side resize keeps the aspect and crops the centre', () => {
    const out = tf.tidy(() => preprocessForClip(tf.ones([2, 12, 20, 3]) as tf.Tensor4D, 'dataset', { size: 8 }));
    expect(out.shape).toEqual([2, 8, 8, 3]);
    // A constant image stays constant through Pillow-weight resizing (weights sum to 1).
    const red = out.slice([0, 0, 0, 0], [-1, -1, -1, 1]);
    expect(red.max().dataSync()[0] - red.min().dataSync()[0]).toBeLessThan(1e-5);
    tf.dispose([out, red]);
  });

  it('loss mode resizes the whole image (no crop)', () => {
    const out = tf.tidy(() => preprocessForClip(tf.ones([1, 10, 30, 3]) as tf.Tensor4D, 'loss', { size: 8 }));
    expect(out.shape).toEqual([1, 8, 8, 3]);
    expect(out.dataSync()[0]).toBeCloseTo((1 - 0.48145466) / 0.26862954, 5);
    out.dispose();
  });
});
