import { describe, expect, it } from 'vitest';
import LZString from 'lz-string';
import type { Page } from 'playwright-core';
import { useBrowser, screenshot, watchErrors } from './browser';

const { browser, baseUrl } = useBrowser();

async function autosaved(page: Page): Promise<{ nodes: Array<{ id: string; position: { x: number; y: number }; params: Record<string, unknown> }> }> {
  return page.evaluate(() => JSON.parse(localStorage.getItem('backlit-studio:autosave') ?? '{}'));
}

describe('keeping work', () => {
  it('keeps dropped images in IndexedDB: after a reload the loader still runs on them', async () => {
    const context = await browser().newContext({ viewport: { width: 1400, height: 820 } });
    const page = await context.newPage();
    const errors = watchErrors(page);
    await page.goto(`${baseUrl}?backend=wasm`);
    await page.getByTestId('examples').selectOption('brighten.json');
    await page.locator('[data-testid="node-load"] input[type=file]').setInputFiles(['public/samples/well-lit/skimage_chelsea.jpg', 'public/samples/well-lit/skimage_coffee.jpg']);
    await expect.poll(async () => String((await autosaved(page)).nodes?.find((n) => n.id === 'load')?.params.source)).toMatch(/^upload:/);
    await page.reload();
    await page.getByTestId('backend').filter({ hasText: 'backend: wasm' }).waitFor({ timeout: 60_000 });
    await page.getByTestId('run').click();
    await expect.poll(() => page.getByTestId('status-save').textContent(), { timeout: 60_000 }).toMatch(/^done/);
    expect(await page.locator('[data-testid="node-load"] canvas.thumb').count()).toBe(2);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a frame dragged on the canvas carries the nodes inside it', async () => {
    const graph = {
      format: 'backlit-graph',
      version: 1,
      meta: { name: 'frame test', annotations: [{ id: 'frame-1', kind: 'frame', text: 'inputs', position: { x: -40, y: 0 }, width: 420, height: 360 }] },
      nodes: [
        { id: 'load', type: 'image-loader', params: { source: 'samples/pairs/imagemagick_bluebells_darker.jpg' }, position: { x: 0, y: 80 } },
        { id: 'brighten', type: 'exposure', params: {}, position: { x: 600, y: 80 } },
      ],
      edges: [{ from: { node: 'load', port: 'images' }, to: { node: 'brighten', port: 'images' } }],
    };
    const context = await browser().newContext({ viewport: { width: 1400, height: 820 } });
    const page = await context.newPage();
    const errors = watchErrors(page);
    await page.goto(`${baseUrl}?backend=wasm#graph=${LZString.compressToEncodedURIComponent(JSON.stringify(graph))}`);
    const frame = page.getByTestId('frame-frame-1');
    await frame.waitFor();
    await page.waitForTimeout(300); // fit view
    const before = await autosaved(page);
    const box = (await frame.boundingBox())!;
    // Grab the frame near its bottom-left corner, away from the node and the title.
    await page.mouse.move(box.x + 12, box.y + box.height - 12);
    await page.mouse.down();
    await page.mouse.move(box.x + 60, box.y + box.height + 30, { steps: 6 });
    await page.mouse.up();
    await expect.poll(async () => (await autosaved(page)).nodes.find((n) => n.id === 'load')!.position.x).not.toBe(before.nodes.find((n) => n.id === 'load')!.position.x);
    const after = await autosaved(page);
    const moved = (id: string) => {
      const a = after.nodes.find((n) => n.id === id)!.position;
      const b = before.nodes.find((n) => n.id === id)!.position;
      return { dx: a.x - b.x, dy: a.y - b.y };
    };
    expect(moved('load').dx).toBeGreaterThan(10);
    expect(moved('load').dy).toBeGreaterThan(10);
    expect(moved('brighten')).toEqual({ dx: 0, dy: 0 });
    await screenshot(page, 'editor-frame');
    expect(errors).toEqual([]);
    await context.close();
  });
});
