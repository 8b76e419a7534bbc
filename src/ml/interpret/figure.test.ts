import { describe, expect, it } from 'vitest';
import { BACKGROUND, drawGrid, fitSize, gridLayout } from './figure';
import { ADVANCE, drawText, fitText, FONT_CHARACTERS, glyph, GLYPH_HEIGHT, GLYPH_WIDTH, textWidth } from './font5x7';

describe('5×7 bitmap font', () => {
  it('has upper case, digits and the punctuation file names and numbers need; lower case draws as upper case', () => {
    for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._-/:()%+=<>\'') expect(FONT_CHARACTERS).toContain(ch);
    expect(glyph('a')).toBe(glyph('A'));
    expect(glyph('é')).toBe(glyph('?'));
    // Every glyph has ink except the space, and distinct characters look distinct.
    const seen = new Set<string>();
    for (const ch of FONT_CHARACTERS) {
      const bits = glyph(ch);
      expect(bits.length).toBe(GLYPH_WIDTH * GLYPH_HEIGHT);
      if (ch !== ' ') expect(bits.some((b) => b === 1)).toBe(true);
      const key = bits.join('');
      expect(seen.has(key), `glyph "${ch}" duplicates another`).toBe(false);
      seen.add(key);
    }
  });

  it('measures, cuts and draws text (the "I" of row 0 is .###.)', () => {
    expect(textWidth('AB', 2)).toBe((2 * ADVANCE - 1) * 2);
    expect(fitText('short', 100)).toBe('short');
    expect(fitText('a_very_long_file_name.jpg', 60)).toBe('a_very_l..');
    expect(textWidth(fitText('a_very_long_file_name.jpg', 60))).toBeLessThanOrEqual(60);
    const img = { width: 8, height: 9, data: new Float32Array(8 * 9 * 3) };
    drawText(img, 'I', 1, 1, [1, 0.5, 0]);
    const ink = (x: number, y: number) => img.data[(y * 8 + x) * 3];
    expect([1, 2, 3, 4, 5].map((x) => ink(x, 1))).toEqual([0, 1, 1, 1, 0]);
    expect([1, 2, 3, 4, 5].map((x) => ink(x, 2))).toEqual([0, 0, 1, 0, 0]);
    expect(img.data[(1 * 8 + 3) * 3 + 1]).toBe(0.5);
    drawText(img, 'WWWW', 5, 6, [1, 1, 1]); // clipped at the edges, no throw
  });
});

describe('grid figure', () => {
  it('fits images into a square cell keeping the aspect ratio', () => {
    expect(fitSize(256, 192, 160)).toEqual({ width: 160, height: 120 });
    expect(fitSize(100, 300, 90)).toEqual({ width: 30, height: 90 });
  });

  it('layout: width = pad + cols·(cell + pad); rows as high as their tallest image plus a caption line', () => {
    const l = gridLayout([120, 160], 4, 160);
    expect(l.pad).toBe(4);
    expect(l.headerScale).toBe(2);
    expect(l.width).toBe(4 + 4 * 164);
    expect(l.headerHeight).toBe(7 * 2 + 8 + 2);
    expect(l.captionHeight).toBe(7 + 8);
    expect(l.height).toBe(l.headerHeight + 120 + 15 + 4 + 160 + 15 + 4);
    expect(l.cellOrigin(1, 2)).toEqual({ x: 4 + 2 * 164, y: l.headerHeight + 120 + 15 + 4 });
  });

  it('draws cells where the layout says, on the background colour', () => {
    const red = { width: 2, height: 1, data: [1, 0, 0, 1, 0, 0] };
    const canvas = drawGrid(['a', 'b'], [[{ image: red, caption: 'x' }, { image: red }]], 48);
    const l = gridLayout([1], 2, 48);
    expect([canvas.width, canvas.height]).toEqual([l.width, l.height]);
    const at = (x: number, y: number) => Array.from(canvas.data.subarray((y * canvas.width + x) * 3, (y * canvas.width + x) * 3 + 3));
    const o = l.cellOrigin(0, 1);
    expect(at(o.x + 23, o.y)).toEqual([1, 0, 0]); // centred: (48 − 2)/2 = 23
    expect(at(0, canvas.height - 1).map((v) => +v.toFixed(2))).toEqual([...BACKGROUND]);
  });
});
