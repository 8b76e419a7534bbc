import { describe, expect, it } from 'vitest';
import { useTestBackend } from '../../ml/testing';
import { imageFromRgba, rgbaFromImage } from './images';

describe('imageFromRgba / rgbaFromImage', () => {
  it('round-trips RGBA bytes, drops alpha and makes the result opaque', async () => {
    await useTestBackend('wasm');
    const data = new Uint8ClampedArray([0, 128, 255, 7, 10, 20, 30, 255]);
    const t = imageFromRgba({ width: 2, height: 1, data });
    expect(t.shape).toEqual([1, 2, 3]);
    expect(t.dataSync()[1]).toBeCloseTo(128 / 255, 6);
    const back = await rgbaFromImage(t);
    expect(back).toMatchObject({ width: 2, height: 1 });
    expect(Array.from(back.data)).toEqual([0, 128, 255, 255, 10, 20, 30, 255]);
    t.dispose();
  });
});
