import { describe, expect, it } from 'vitest';
import { contrastRadius, distribution, exposureStats, localContrast, luma, newlyClipped, percentileRank } from './noReference';

const rgb = (w: number, h: number, f: (x: number, y: number) => number[]) => ({
  width: w,
  height: h,
  data: Array.from({ length: w * h }, (_, i) => f(i % w, Math.floor(i / w))).flat(),
});

describe('no-reference exposure statistics (hand-computed)', () => {
  it('luma is BT.601 on the encoded values; thresholds are strict (> 0.98, < 0.1)', () => {
    expect(Array.from(luma(rgb(3, 1, (x) => [[1, 0, 0], [0, 1, 0], [0, 0, 1]][x])))).toEqual([0.299, 0.587, 0.114]);
    // Lumas 0.98 (not clipped), 0.99 (clipped), 0.1 (not dark), 0.05 (dark).
    const s = exposureStats(rgb(4, 1, (x) => { const v = [0.98, 0.99, 0.1, 0.05][x]; return [v, v, v]; }));
    expect(s.clipped).toBeCloseTo(0.25, 12);
    expect(s.dark).toBeCloseTo(0.25, 12);
    expect(s.meanLuma).toBeCloseTo((0.98 + 0.99 + 0.1 + 0.05) / 4, 12);
  });

  it('local contrast: mean std in a (2k+1)² box clipped at the borders', () => {
    // 3×1 row [0, 1, 0], k = 1: pixel 0 sees {0, 1}: std 0.5; pixel 1 sees {0, 1, 0}: std sqrt(2)/3;
    // pixel 2 sees {1, 0}: 0.5. Mean (1 + sqrt(2)/3)/3.
    expect(localContrast([0, 1, 0], 3, 1, 1)).toBeCloseTo((1 + Math.sqrt(2) / 3) / 3, 12);
    expect(localContrast([0.3, 0.3, 0.3, 0.3], 2, 2, 1)).toBeCloseTo(0, 12);
    expect(contrastRadius(512, 1024)).toBe(8);
    expect(contrastRadius(20, 20)).toBe(1);
    // Scaling all values scales it: a hazy curve that halves the spread halves the contrast.
    const y = Array.from({ length: 64 }, (_, i) => ((i * 37) % 11) / 11);
    expect(localContrast(y.map((v) => 0.25 + v / 2), 8, 8, 2)).toBeCloseTo(localContrast(y, 8, 8, 2) / 2, 12);
  });

  it('well-exposed contrast = local contrast · (1 − clipped − dark)', () => {
    // 4×1 lumas [0.5, 1, 0.5, 0]: one clipped, one dark; k = 1.
    const img = rgb(4, 1, (x) => { const v = [0.5, 1, 0.5, 0][x]; return [v, v, v]; });
    const s = exposureStats(img, 1);
    const std = (v: number[]) => { const m = v.reduce((a, b) => a + b) / v.length; return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length); };
    const lc = (std([0.5, 1]) + std([0.5, 1, 0.5]) + std([1, 0.5, 0]) + std([0.5, 0])) / 4;
    expect(s.localContrast).toBeCloseTo(lc, 12);
    expect(s.wellExposedContrast).toBeCloseTo(lc * 0.5, 12);
  });

  it('newly clipped counts pixels clipped after but not before', () => {
    const before = rgb(4, 1, (x) => (x === 0 ? [1, 1, 1] : [0.5, 0.5, 0.5]));
    const after = rgb(4, 1, (x) => (x < 3 ? [1, 1, 1] : [0.2, 0.2, 0.2]));
    expect(newlyClipped(before, after)).toBe(0.5);
    expect(() => newlyClipped(before, rgb(2, 1, () => [0, 0, 0]))).toThrow(/differ in size/);
  });

  it('distribution (numpy-style quantiles, population std) and percentile rank', () => {
    const d = distribution([4, 1, 3, 2]);
    expect(d).toEqual({ n: 4, mean: 2.5, std: Math.sqrt(1.25), min: 1, p25: 1.75, median: 2.5, p75: 3.25, max: 4 });
    expect(percentileRank(2.5, [1, 2, 3, 4])).toBe(0.5);
    expect(percentileRank(0, [1, 2])).toBe(0);
  });
});
