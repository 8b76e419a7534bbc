import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launch, screenshot, watchErrors, wire } from './browser';

let browser: Browser;
const baseUrl = inject('baseUrl');

beforeAll(async () => {
  browser = await launch();
});
afterAll(async () => {
  await browser?.close();
});

async function openEditor(query = '?backend=wasm'): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 820 } });
  const errors = watchErrors(page);
  await page.goto(`${baseUrl}${query}`);
  await page.getByTestId('backend').filter({ hasText: /backend: (wasm|webgl|webgpu|cpu)/ }).waitFor({ timeout: 60_000 });
  return { page, errors };
}

async function nodeIds(page: Page): Promise<string[]> {
  return page.locator('.react-flow__node').evaluateAll((els) => els.map((e) => e.getAttribute('data-id') ?? ''));
}

/** Mean brightness (0..1) of the thumbnails drawn inside a node: proves real pixels arrived. */
async function thumbBrightness(page: Page, nodeId: string): Promise<number[]> {
  return page.locator(`[data-testid="node-${nodeId}"] canvas.thumb`).evaluateAll((canvases) =>
    (canvases as HTMLCanvasElement[]).map((c) => {
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let sum = 0;
      for (let i = 0; i < d.length; i += 4) sum += d[i] + d[i + 1] + d[i + 2];
      return sum / ((d.length / 4) * 3 * 255);
    }),
  );
}

describe('editor', () => {
  it('opens the default example, runs it in the worker and previews the output', async () => {
    const { page, errors } = await openEditor();
    expect(await nodeIds(page)).toEqual(['load', 'brighten', 'save']);
    await page.getByTestId('run').click();
    await expect.poll(() => page.getByTestId('status-save').textContent(), { timeout: 60_000 }).toMatch(/^done/);
    await page.getByTestId('output-files').waitFor();
    const input = await thumbBrightness(page, 'load');
    const output = await thumbBrightness(page, 'brighten');
    expect(input).toHaveLength(1);
    // Exposure +1 stop and gamma 1.4 must brighten the dark bluebells.
    expect(output[0]).toBeGreaterThan(input[0] + 0.1);
    await screenshot(page, 'editor-default-run');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('builds a graph from the palette by mouse, refuses a wrong wire with its reason, runs, undoes and restores the autosave', async () => {
    const { page, errors } = await openEditor();
    await page.getByTestId('new').click();
    expect(await nodeIds(page)).toEqual([]);
    for (const type of ['image-loader', 'exposure', 'output']) await page.getByTestId(`palette-${type}`).click();
    await page.locator('.react-flow__controls-fitview').click();
    expect(await nodeIds(page)).toEqual(['image-loader-1', 'exposure-1', 'output-1']);

    await wire(page, { node: 'image-loader-1', port: 'images' }, { node: 'exposure-1', port: 'images' });
    await wire(page, { node: 'exposure-1', port: 'images' }, { node: 'output-1', port: 'images' });
    await expect.poll(() => page.locator('.react-flow__edge').count()).toBe(2);

    // A Report output cannot feed an ImageBatch input: the wire is refused and the reason shown.
    await wire(page, { node: 'output-1', port: 'files' }, { node: 'exposure-1', port: 'images' });
    await expect.poll(() => page.getByTestId('toast').allTextContents()).toContainEqual(expect.stringMatching(/Wire refused: .*Report.*ImageBatch/));
    expect(await page.locator('.react-flow__edge').count()).toBe(2);
    await screenshot(page, 'editor-refused-wire');

    await page.locator('[data-testid="node-image-loader-1"] .node-header').click();
    await page.getByTestId('param-source').fill('samples/well-lit/skimage_*');
    await page.getByTestId('param-maxCount').fill('2');
    await page.getByTestId('run').click();
    await expect.poll(() => page.getByTestId('status-output-1').textContent(), { timeout: 60_000 }).toMatch(/^done/);
    expect(await page.locator('[data-testid="node-output-1"] canvas.thumb').count()).toBe(2);
    await screenshot(page, 'editor-built-by-mouse');

    // Undo removes the node just added; redo brings it back.
    await page.getByTestId('palette-exposure').click();
    expect(await nodeIds(page)).toHaveLength(4);
    await page.locator('.react-flow__pane').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('Control+z');
    expect(await nodeIds(page)).toEqual(['image-loader-1', 'exposure-1', 'output-1']);
    await page.keyboard.press('Control+Shift+z');
    expect(await nodeIds(page)).toHaveLength(4);
    await page.keyboard.press('Control+z');

    // The autosave brings the graph back after a reload, params included.
    await page.reload();
    await page.locator('.react-flow__node').first().waitFor();
    expect(await nodeIds(page)).toEqual(['image-loader-1', 'exposure-1', 'output-1']);
    await page.locator('[data-testid="node-image-loader-1"] .node-header').click();
    expect(await page.getByTestId('param-source').inputValue()).toBe('samples/well-lit/skimage_*');
    expect(errors).toEqual([]);
    await page.close();
  });
});
