import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPth } from '../pth';
import { sharedDataDir, useTestBackend } from '../testing';
import { enhanceFast, enhanceTiled } from './inference';
import { EnhancerNet, type EnhanceResult } from './network';

let net: EnhancerNet;
let img: tf.Tensor4D;
let full: EnhanceResult;

async function loadCrop(file: string, width: number, height: number): Promise<tf.Tensor4D> {
  const { data, info } = await sharp(file).extract({ left: 0, top: 0, width, height }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return tf.tidy(() => tf.div(tf.tensor4d(new Uint8Array(data), [1, info.height, info.width, 3], 'int32'), 255)) as tf.Tensor4D;
}

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
const psnr = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => 10 * Math.log10(1 / tf.mean(tf.square(tf.sub(a, b))).dataSync()[0]));

describe('big-photo inference (1.05 MP backlit photo, RAVE unpaired weights)', () => {
  beforeAll(async () => {
    await useTestBackend('wasm');
    net = EnhancerNet.fromStateDict(readPth(readFileSync(`${sharedDataDir}/rave-weights/rave_unpaired.pth`)));
    img = await loadCrop(`${sharedDataDir}/images/backlit/backlit_cliplit_30374039626_355dca2192_o.jpg`, 1100, 950);
    full = net.forward(img, { padMode: 'reflect' });
  }, 300_000);
  afterAll(() => {
    tf.dispose([img, full.L, full.out]);
    net.dispose();
  });

  it('tiled inference (3×3 tiles of 384 px, halo 24) has no seams: equals the full pass', () => {
    const before = tf.memory().numTensors;
    const t = enhanceTiled(net, img, { tile: 384, halo: 24 });
    expect(maxAbsDiff(t.L, full.L)).toBeLessThan(1e-4);
    expect(maxAbsDiff(t.out, full.out)).toBeLessThan(1e-4);
    tf.dispose([t.L, t.out]);
    expect(tf.memory().numTensors).toBe(before);
  }, 300_000);

  it('a halo below the receptive radius is refused', () => {
    expect(() => enhanceTiled(net, img, { halo: 8 })).toThrow(/halo 8 < receptive radius 17/);
  });

  it('fast mode (L at 1/2 resolution) stays within 35 dB PSNR of the full pass', () => {
    const f2 = enhanceFast(net, img, { factor: 2 });
    expect(f2.L.shape).toEqual(full.L.shape);
    expect(psnr(f2.out, full.out)).toBeGreaterThan(35);
    tf.dispose([f2.L, f2.out]);
  }, 300_000);
});
