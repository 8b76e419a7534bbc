import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { sharedDataDir } from '../testing';
import { colorMetrics, colorPsnr, psnr, raveGray, raveMetrics, ssim, type RgbImage } from './index';

const fx = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
interface Ref { gt: string; enhanced: string; rave_psnr: number; rave_ssim: number; color_psnr: number; color_ssim: number; gray_checksum: number; gray_first: number[] }
const refs = JSON.parse(readFileSync(path.join(fx, 'metrics_reference.json'), 'utf8')) as Record<string, Ref>;

async function rgb(rel: string): Promise<RgbImage> {
  const file = rel.includes('/') ? path.join(sharedDataDir, rel) : path.join(fx, rel);
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

describe('metrics agree with cv2 + skimage as RAVE runs them (≤1e-3)', () => {
  for (const [name, r] of Object.entries(refs)) {
    it(`${name}: ${r.gt} vs ${r.enhanced}`, async () => {
      const gt = await rgb(r.gt);
      const enh = await rgb(r.enhanced);
      const g = raveGray(gt);
      expect(Array.from(g.data as Uint8Array).reduce((a, b) => a + b, 0)).toBe(r.gray_checksum);
      expect(Array.from((g.data as Uint8Array).slice(0, 8))).toEqual(r.gray_first);
      const m = raveMetrics(gt, enh);
      expect(Math.abs(m.psnr - r.rave_psnr)).toBeLessThan(1e-3);
      expect(Math.abs(m.ssim - r.rave_ssim)).toBeLessThan(1e-3);
      const c = colorMetrics(gt, enh);
      expect(Math.abs(c.psnr - r.color_psnr)).toBeLessThan(1e-3);
      expect(Math.abs(c.ssim - r.color_ssim)).toBeLessThan(1e-3);
      expect(colorPsnr(gt, enh)).toBe(c.psnr);
    });
  }
});

describe('metrics: hand-computed values', () => {
  const img = (w: number, h: number, f: (i: number) => number) => ({ width: w, height: h, data: Float64Array.from({ length: w * h }, (_, i) => f(i)) });

  it('PSNR of a constant error of 5 gray levels is 20·log10(255/5)', () => {
    const a = img(8, 8, (i) => i % 200);
    const b = img(8, 8, (i) => (i % 200) + 5);
    expect(psnr(a, b)).toBeCloseTo(20 * Math.log10(51), 9);
    expect(psnr(a, a)).toBeCloseTo(20 * Math.log10(255 / 2.220446049250313e-16), 6); // cv2: ~361 dB
  });

  it('SSIM of identical images is 1; of two constants (c1 vs c2) is (2c1c2+C1)/(c1²+c2²+C1)', () => {
    const a = img(9, 9, (i) => (i * 37) % 256);
    expect(ssim(a, a)).toBeCloseTo(1, 12);
    const c1 = img(9, 9, () => 100);
    const c2 = img(9, 9, () => 50);
    const C1 = (0.01 * 255) ** 2;
    expect(ssim(c1, c2, { dataRange: 255 })).toBeCloseTo((2 * 100 * 50 + C1) / (100 ** 2 + 50 ** 2 + C1), 12);
  });

  it('RAVE gray weighs blue 0.299 and red 0.114 (BGR read, RGB2GRAY)', () => {
    const red = raveGray({ width: 1, height: 1, data: [255, 0, 0] }).data[0];
    const blue = raveGray({ width: 1, height: 1, data: [0, 0, 255] }).data[0];
    expect(red).toBe(29); // round(0.114·255)
    expect(blue).toBe(76); // round(0.299·255)
  });

  it('size mismatches are refused with a clear message', () => {
    expect(() => psnr(img(4, 4, () => 0), img(4, 5, () => 0))).toThrow(/differ in size \(4×4 vs 4×5\)/);
  });
});
