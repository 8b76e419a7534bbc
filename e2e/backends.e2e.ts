import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launch, screenshot, watchErrors } from './browser';

let browser: Browser;
const baseUrl = inject('baseUrl');

beforeAll(async () => {
  browser = await launch();
});
afterAll(async () => {
  await browser?.close();
});

interface BackendRun {
  backend: string;
  /** RGBA of the Exposure node's first thumbnail. */
  pixels: number[];
  /** thr and cos(v+, v−) of the residual vector, as shown on the node. */
  residualText: string;
}

/** Runs two example pipelines in a fresh profile with the backend forced, and reads the results off the page. */
async function runOn(backend: string): Promise<BackendRun> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 820 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${baseUrl}?backend=${backend}`);
  await page.getByTestId('backend').filter({ hasText: `backend: ${backend}` }).waitFor({ timeout: 60_000 });

  await page.getByTestId('examples').selectOption('brighten.json');
  await page.getByTestId('run').click();
  await expect.poll(() => page.getByTestId('status-save').textContent(), { timeout: 120_000 }).toMatch(/^done/);
  const pixels = await page.locator('[data-testid="node-brighten"] canvas.thumb').first().evaluate((c: HTMLCanvasElement) => Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data));

  await page.getByTestId('examples').selectOption('residual-vector.json');
  await page.getByTestId('run').click();
  await expect.poll(() => page.getByTestId('status-residual').textContent(), { timeout: 180_000 }).toMatch(/^done/);
  const residualText = (await page.locator('[data-testid="node-residual"] .kv').first().textContent()) ?? '';
  await screenshot(page, `backend-${backend}-residual`);
  expect(errors).toEqual([]);
  await context.close();
  return { backend, pixels, residualText };
}

function numbersIn(text: string): number[] {
  return (text.match(/-?\d+\.\d+/g) ?? []).map(Number);
}

describe('backends', () => {
  it('runs the same pipelines on wasm, webgl and webgpu (software adapter) with agreeing numbers', async () => {
    const runs: BackendRun[] = [];
    for (const backend of ['wasm', 'webgl', 'webgpu']) runs.push(await runOn(backend));
    const [ref, ...others] = runs;
    expect(ref.pixels.length).toBeGreaterThan(1000);
    for (const r of others) {
      expect(r.pixels.length).toBe(ref.pixels.length);
      const maxDiff = Math.max(...r.pixels.map((v, i) => Math.abs(v - ref.pixels[i])));
      // 8-bit thumbnails: float32 differences between backends may flip a rounding, never more.
      expect(maxDiff, `${r.backend} vs wasm thumbnail`).toBeLessThanOrEqual(2);
      const a = numbersIn(ref.residualText);
      const b = numbersIn(r.residualText);
      expect(b.length).toBe(a.length);
      // thr, cos and gap are printed with 4 decimals; the stats encoder differs by float rounding only.
      b.forEach((v, i) => expect(Math.abs(v - a[i]), `${r.backend} residual ${i}`).toBeLessThanOrEqual(2e-3));
    }
    console.log(runs.map((r) => `${r.backend}: ${r.residualText}`).join('\n'));
  });
});
