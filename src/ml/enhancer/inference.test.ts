import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPth } from '../pth';
import { sharedDataDir, useTestBackend } from '../testing';
import { enhanceFast, enhanceTiled, enhanceTiledAsync, fullPassBytes, fullPassFits, tileCount, type TileProgress } from './inference';
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

describe('tiled inference: progress, cancel, memory estimate (small random enhancer)', () => {
  let small: EnhancerNet;
  let x: tf.Tensor4D;
  beforeAll(async () => {
    await useTestBackend('wasm');
    small = EnhancerNet.create(3);
    x = tf.randomUniform([1, 150, 140, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
  });
  afterAll(() => {
    x.dispose();
    small.dispose();
  });

  it('reports k/N per tile over both passes with a time-left estimate, and equals the full pass', async () => {
    const full = small.forward(x, { padMode: 'reflect' });
    const events: TileProgress[] = [];
    const before = tf.memory().numTensors;
    const t = await enhanceTiledAsync(small, x, { tile: 64, onProgress: (p) => events.push(p) });
    const tiles = tileCount(150, 140, 64);
    expect(tiles).toBe(9);
    expect(events.map((e) => e.done)).toEqual(Array.from({ length: 2 * tiles }, (_, i) => i + 1));
    expect(events.every((e) => e.total === 2 * tiles && e.tiles === tiles)).toBe(true);
    expect(events.slice(0, tiles).every((e) => e.phase === 'context')).toBe(true);
    expect(events.slice(tiles).map((e) => e.tile)).toEqual(Array.from({ length: tiles }, (_, i) => i + 1));
    expect(events.every((e) => Number.isFinite(e.etaMs) && e.etaMs >= 0)).toBe(true);
    expect(events[events.length - 1].etaMs).toBe(0);
    expect(maxAbsDiff(t.out, full.out)).toBeLessThan(1e-4);
    tf.dispose([t.L, t.out]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([full.L, full.out]);
  }, 120_000);

  it('stops between tiles when the signal aborts, frees its tensors and rejects with the reason', async () => {
    const abort = new AbortController();
    const before = tf.memory().numTensors;
    const seen: number[] = [];
    const run = enhanceTiledAsync(small, x, {
      tile: 64,
      signal: abort.signal,
      onProgress: (p) => {
        seen.push(p.done);
        if (p.done === 12) abort.abort(new Error('user cancelled'));
      },
    });
    await expect(run).rejects.toThrow('user cancelled');
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(tf.memory().numTensors).toBe(before);
    // Already aborted: nothing runs.
    await expect(enhanceTiledAsync(small, x, { signal: abort.signal })).rejects.toThrow('user cancelled');
  }, 120_000);

  it('full-pass memory estimate is an upper bound within 1.5× of the measured peak (tf.profile)', async () => {
    for (const [h, w] of [[96, 96], [160, 120]]) {
      const img = tf.randomUniform([1, h, w, 3]) as tf.Tensor4D;
      const base = tf.memory().numBytes;
      const p = await tf.profile(() => {
        const r = small.forward(img, { padMode: 'reflect' });
        return [r.L, r.out];
      });
      const peak = p.peakBytes - base;
      expect(fullPassBytes(h, w)).toBeGreaterThanOrEqual(peak);
      expect(fullPassBytes(h, w)).toBeLessThan(1.5 * peak);
      tf.dispose(p.result as tf.Tensor[]);
      img.dispose();
    }
    expect(fullPassFits(4000, 3000, 'wasm')).toBe(false); // 12 MP
    expect(fullPassFits(800, 600, 'wasm')).toBe(true);
    expect(fullPassFits(4000, 3000, 'cpu')).toBe(true);
  }, 120_000);
});
