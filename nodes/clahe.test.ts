import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import clahe, { claheRgb, claheU8Rounded } from './clahe';
import type { ImageBatchValue } from '../src/engine';
import { MemoryHost } from '../src/engine/testing/memoryHost';
import { fakeContext } from '../src/engine/testing/build';
import { useTestBackend } from '../src/ml/testing';

beforeAll(async () => {
  await useTestBackend('wasm');
});

/** OpenCV 4.6 outputs written by tools/reference/clahe_reference.py. */
const FX = path.join(import.meta.dirname, 'fixtures/clahe');
interface Case { name: string; kind: 'gray' | 'ycrcb'; input: string; output: string; clipLimit: number; tilesX: number; tilesY: number }
const ref = JSON.parse(readFileSync(path.join(FX, 'clahe_reference.json'), 'utf8')) as { cases: Case[] };

async function raw(file: string, channels: 1 | 3) {
  const img = sharp(path.join(FX, file));
  const { data, info } = await (channels === 1 ? img.grayscale() : img.removeAlpha()).raw().toBuffer({ resolveWithObject: true });
  expect(info.channels).toBe(channels);
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

describe('CLAHE core, hand-computed', () => {
  it('one tile, no clip limit: plain histogram equalisation, LUT = round-half-even(cumsum · 255/area)', () => {
    // cumsum 2, 3, 4 of 4 → 127.5 → 128 (lrint: half to even), 191.25 → 191, 255.
    expect(Array.from(claheU8Rounded(new Uint8Array([0, 0, 100, 200]), 2, 2, 0, 1, 1))).toEqual([128, 128, 191, 255]);
  });

  it('the clip limit keeps a flat image flat (uniform 50 → 53, not 255)', () => {
    // 16×16 of value 50, one tile: limit = int(2·256/256) = 2; 254 counts clipped; 0 per bin plus a
    // residual of 254 handed out one per bin from bin 0 (step int(256/254) = 1), so bins 0..49 hold 1 and
    // bin 50 holds 3: cumsum 53 → 53 · 255/256 = 52.8 → 53. Without a limit the image would go to 255.
    const flat = new Uint8Array(256).fill(50);
    expect(new Set(claheU8Rounded(flat, 16, 16, 2, 1, 1))).toEqual(new Set([53]));
    expect(new Set(claheU8Rounded(flat, 16, 16, 0, 1, 1))).toEqual(new Set([255]));
  });

  it('interpolates bilinearly between tile LUTs (4×1 image, 2×1 tiles of 2 px, hand-computed)', () => {
    // [10, 200, 10, 200]: each tile holds one 10 and one 200, so both LUTs send 10 → 128 (cumsum 1 of 2:
    // 127.5, half to even) and 200 → 255; interpolating equal LUTs changes nothing.
    expect(Array.from(claheU8Rounded(new Uint8Array([10, 200, 10, 200]), 4, 1, 0, 2, 1))).toEqual([128, 255, 128, 255]);
    // [50, 60, 40, 60]: left LUT {40 → 0, 50 → 128, 60 → 255}, right LUT {40 → 128, 50 → 128, 60 → 255}.
    // Tile centres at x = 0.5 and 2.5; txf = x·(1/2) − 0.5. x = 0: txf −0.5, both indices clamp to the
    // left tile → 128. x = 2 (v 40): txf 0.5 → ½·left(40) + ½·right(40) = ½·0 + ½·128 = 64.
    // x = 3: txf 1 → right tile only → 255.
    expect(Array.from(claheU8Rounded(new Uint8Array([50, 60, 40, 60]), 4, 1, 0, 2, 1))).toEqual([128, 255, 64, 255]);
  });
});

describe('CLAHE against OpenCV 4.6 (tools/reference/clahe_reference.py)', () => {
  for (const c of ref.cases.filter((k) => k.kind === 'gray')) {
    it(`${c.name}: clip ${c.clipLimit}, ${c.tilesX}×${c.tilesY} tiles, equal to cv2 on every pixel`, async () => {
      const src = await raw(c.input, 1);
      const want = await raw(c.output, 1);
      const got = claheU8Rounded(src.data, src.width, src.height, c.clipLimit, c.tilesX, c.tilesY);
      let diff = 0;
      let max = 0;
      for (let i = 0; i < got.length; i++) {
        const d = Math.abs(got[i] - want.data[i]);
        if (d) diff++;
        max = Math.max(max, d);
      }
      // Same algorithm in float32 step by step: a rounding tie may flip a level at most.
      expect(max).toBeLessThanOrEqual(1);
      expect(diff / got.length).toBeLessThan(0.002);
    });
  }

  const photo = ref.cases.find((k) => k.kind === 'ycrcb')!;
  it(`${photo.name}: colour via YCrCb within 4 levels of cv2 (cv2 rounds Y, Cr, Cb to uint8 and back; we keep float)`, async () => {
    const src = await raw(photo.input, 3);
    const want = await raw(photo.output, 3);
    const got = claheRgb(Array.from(src.data, (v) => v / 255), src.width, src.height, photo.clipLimit, photo.tilesX, photo.tilesY);
    let max = 0;
    let sum = 0;
    for (let i = 0; i < got.length; i++) {
      const d = Math.abs(got[i] * 255 - want.data[i]);
      max = Math.max(max, d);
      sum += d;
    }
    // cv2 stores Cr/Cb as uint8 (±0.5) and R = Y + 1.403·(Cr − 128), B = Y + 1.773·(Cb − 128): ±0.9 from
    // that alone, plus its fixed-point Y and the final rounding; measured max 3.4, mean 0.5 levels.
    expect(max).toBeLessThanOrEqual(4);
    expect(sum / got.length).toBeLessThan(0.75);
  });
});

describe('clahe node', () => {
  it('enhances each image of a batch like claheRgb, keeps names and shapes, leaves inputs alone', async () => {
    const src = await raw(photo().input, 3);
    const values = Array.from(src.data, (v) => v / 255);
    const input = tf.tensor3d(values, [src.height, src.width, 3]);
    const batch: ImageBatchValue = { kind: 'ImageBatch', images: [{ name: 'p.png', tensor: input }] };
    const out = await clahe.run({ inputs: { images: batch }, params: clahe.params.parse({ clipLimit: 2, tileGrid: 8 }), ctx: fakeContext(new MemoryHost()) });
    const img = (out.images as ImageBatchValue).images[0];
    expect(img.name).toBe('p.png');
    expect(img.tensor.shape).toEqual([src.height, src.width, 3]);
    const want = claheRgb(await input.data(), src.width, src.height, 2, 8, 8);
    expect(Array.from(await img.tensor.data())).toEqual(Array.from(want));
    expect(Array.from(await input.data())).toEqual(Array.from(new Float32Array(values)));
    // A dark photo gets brighter on average and its darkest decile lifts.
    const meanOf = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
    expect(meanOf(want)).toBeGreaterThan(meanOf(values) + 0.03);
    tf.dispose([input, img.tensor]);
  });

  it('shrinks the grid for tiny images with a log', async () => {
    const input = tf.fill([3, 5, 3], 0.3) as tf.Tensor3D;
    const ctx = fakeContext(new MemoryHost());
    const out = await clahe.run({ inputs: { images: { kind: 'ImageBatch', images: [{ name: 't', tensor: input }] } }, params: clahe.params.parse({}), ctx });
    expect((out.images as ImageBatchValue).images[0].tensor.shape).toEqual([3, 5, 3]);
    expect(ctx.logs.join('\n')).toContain('using a 3×3 grid instead of 8×8');
    tf.dispose([input, (out.images as ImageBatchValue).images[0].tensor]);
  });
});

function photo(): Case {
  return ref.cases.find((k) => k.kind === 'ycrcb')!;
}
