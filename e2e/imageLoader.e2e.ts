import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import LZString from 'lz-string';
import { describe, expect, it } from 'vitest';
import { useBrowser, watchErrors } from './browser';

/** Issue 12: the editor's Image Loader reads BMP (createImageBitmap) and names the dropped files it skips. */
const { browser, baseUrl } = useBrowser();
const DIR = path.resolve('test-results/image-loader-e2e');

/** A 24-bit bottom-up BMP (BITMAPINFOHEADER), rows padded to 4 bytes, BGR. */
function bmp24(width: number, height: number, pixel: (x: number, y: number) => [number, number, number]): Uint8Array {
  const stride = Math.ceil((width * 3) / 4) * 4;
  const b = new Uint8Array(54 + stride * height);
  const v = new DataView(b.buffer);
  b[0] = 0x42;
  b[1] = 0x4d;
  v.setUint32(2, b.length, true);
  v.setUint32(10, 54, true);
  v.setUint32(14, 40, true);
  v.setInt32(18, width, true);
  v.setInt32(22, height, true);
  v.setUint16(26, 1, true);
  v.setUint16(28, 24, true);
  v.setUint32(34, stride * height, true);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, bl] = pixel(x, y);
      const at = 54 + (height - 1 - y) * stride + 3 * x;
      b[at] = bl;
      b[at + 1] = g;
      b[at + 2] = r;
    }
  }
  return b;
}

describe('image loader in the editor', () => {
  it('reads a dropped BMP pixel-exactly and names the non-image file it skipped', async () => {
    mkdirSync(DIR, { recursive: true });
    const bmp = path.join(DIR, 'gradient.bmp');
    writeFileSync(bmp, bmp24(7, 5, (x, y) => [x * 30, y * 50, 90]));
    const txt = path.join(DIR, 'notes.txt');
    writeFileSync(txt, 'not an image');
    const graph = {
      format: 'backlit-graph',
      version: 1,
      nodes: [{ id: 'load', type: 'image-loader', params: { source: 'samples/well-lit/*' }, position: { x: 0, y: 0 } }],
      edges: [],
    };
    const context = await browser().newContext({ viewport: { width: 1400, height: 860 } });
    const page = await context.newPage();
    const errors = watchErrors(page);
    await page.goto(`${baseUrl}?backend=wasm#graph=${LZString.compressToEncodedURIComponent(JSON.stringify(graph))}`);
    await page.getByTestId('backend').filter({ hasText: 'backend: wasm' }).waitFor({ timeout: 60_000 });
    await page.locator('[data-testid="node-load"] input[type=file]').first().setInputFiles([bmp, txt]);
    await expect.poll(async () => (await page.getByTestId('toast').allTextContents()).join('\n')).toMatch(/skipped 1 file\(s\) that are not images: notes\.txt/);
    await page.getByTestId('run').click();
    await expect.poll(async () => (await page.getByTestId('status-load').textContent()) ?? '', { timeout: 60_000 }).toMatch(/^done/);
    const px = await page.evaluate(async () => {
      const w = (globalThis as unknown as { __backlitWorker: { image(n: string, p: string, i: number, m: number): Promise<{ width: number; height: number; rgba: Uint8ClampedArray }> } }).__backlitWorker;
      const t = await w.image('load', 'images', 0, 64);
      const at = (x: number, y: number) => Array.from(t.rgba.slice((y * t.width + x) * 4, (y * t.width + x) * 4 + 3));
      return { size: [t.width, t.height], a: at(6, 4), b: at(1, 2) };
    });
    expect(px).toEqual({ size: [7, 5], a: [180, 200, 90], b: [30, 100, 90] });
    expect(errors).toEqual([]);
    await context.close();
  });
});
