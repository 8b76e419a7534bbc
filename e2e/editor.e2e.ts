import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { useBrowser, screenshot, watchErrors, wire } from './browser';

const { browser, baseUrl } = useBrowser();

async function openEditor(query = '?backend=wasm'): Promise<{ page: Page; errors: string[] }> {
  const page = await browser().newPage({ viewport: { width: 1400, height: 820 } });
  const errors = watchErrors(page);
  await page.goto(`${baseUrl}${query}`);
  await page.getByTestId('backend').filter({ hasText: /backend: (wasm|webgl|webgpu|cpu)/ }).waitFor({ timeout: 60_000 });
  return { page, errors };
}

async function nodeIds(page: Page): Promise<string[]> {
  return page.locator('.react-flow__node').evaluateAll((els) => els.map((e) => e.getAttribute('data-id') ?? ''));
}

/** The RGB pixels (0..1) of the thumbnails drawn inside a node, with their sizes. */
async function thumbPixels(page: Page, nodeId: string): Promise<{ w: number; h: number; rgb: number[] }[]> {
  return page.locator(`[data-testid="node-${nodeId}"] canvas.thumb`).evaluateAll((canvases) =>
    (canvases as HTMLCanvasElement[]).map((c) => {
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      const rgb: number[] = [];
      for (let i = 0; i < d.length; i += 4) rgb.push(d[i] / 255, d[i + 1] / 255, d[i + 2] / 255);
      return { w: c.width, h: c.height, rgb };
    }),
  );
}

/** Mean brightness (0..1) of each thumbnail drawn inside a node: proves real pixels arrived. */
async function thumbBrightness(page: Page, nodeId: string): Promise<number[]> {
  return (await thumbPixels(page, nodeId)).map((t) => t.rgb.reduce((a, b) => a + b, 0) / t.rgb.length);
}

/** Mean absolute difference between two thumbnail sets drawn at the same sizes. */
function meanAbsDiff(a: { w: number; h: number; rgb: number[] }[], b: { w: number; h: number; rgb: number[] }[]): number {
  expect(a.map((t) => [t.w, t.h])).toEqual(b.map((t) => [t.w, t.h]));
  let sum = 0;
  let n = 0;
  a.forEach((t, i) => t.rgb.forEach((v, j) => { sum += Math.abs(v - b[i].rgb[j]); n++; }));
  return sum / n;
}

describe('editor', () => {
  it('opens the default example, trains in the worker with a live loss curve, and previews results brighter and closer to the originals', async () => {
    const { page, errors } = await openEditor();
    expect(await nodeIds(page)).toEqual(expect.arrayContaining(['train', 'bundled', 'compare']));
    const t0 = Date.now();
    await page.getByTestId('run').click();
    // ① The bundled enhancer's results arrive before training has finished (the executor runs that
    // short branch first), so a first run shows enhanced photos within seconds.
    await expect.poll(() => page.getByTestId('status-bundled').textContent(), { timeout: 120_000 }).toMatch(/^done/);
    const bundledAfter = (Date.now() - t0) / 1000;
    expect(await page.getByTestId('status-train').textContent()).not.toMatch(/^done/);
    const bundledThumbs = await thumbPixels(page, 'bundled');
    // While training runs, the UI stays responsive and the trainer shows progress and a loss curve.
    await page.locator('[data-testid="node-train"] [data-testid="loss-chart"]').waitFor({ timeout: 120_000 });
    await expect.poll(() => page.getByTestId('status-save').textContent(), { timeout: 360_000 }).toMatch(/^done/);
    await page.getByTestId('output-files').first().waitFor();
    const originals = await thumbPixels(page, 'to-backlight');
    const backlit = await thumbPixels(page, 'backlit');
    const enhanced = await thumbPixels(page, 'enhance');
    expect(enhanced).toHaveLength(backlit.length);
    const mean = (ts: { rgb: number[] }[]) => ts.flatMap((t) => t.rgb).reduce((a, b) => a + b, 0) / ts.reduce((n, t) => n + t.rgb.length, 0);
    const before = meanAbsDiff(backlit, originals);
    const after = meanAbsDiff(enhanced, originals);
    console.log(`default graph: brightness original ${mean(originals).toFixed(4)} backlit ${mean(backlit).toFixed(4)} enhanced ${mean(enhanced).toFixed(4)}; |x - original| backlit ${before.toFixed(4)} enhanced ${after.toFixed(4)}`);
    // The default graph trains on synthetic pairs: the enhancer must lift them and bring them closer to their
    // originals. Measured in Chromium (wasm): brightness 0.339 → 0.444 (originals 0.505), mean |x − original|
    // 0.178 → 0.105 (with identity weight 22.5, the previous recipe: 0.367 and 0.156).
    expect(mean(enhanced)).toBeGreaterThan(mean(backlit) + 0.05);
    expect(after).toBeLessThan(0.8 * before);
    // ① The bundled enhancer, as it showed a few seconds after Run (24 s here on a loaded 2-core box, wasm
    // start-up included), also lifts the renderings toward their originals: measured 0.449 and 0.099.
    const bundledDiff = meanAbsDiff(bundledThumbs, originals);
    console.log(`bundled enhancer: done ${bundledAfter.toFixed(1)} s after Run; brightness ${mean(bundledThumbs).toFixed(4)}; |x - original| ${bundledDiff.toFixed(4)}`);
    expect(mean(bundledThumbs)).toBeGreaterThan(mean(backlit) + 0.05);
    expect(bundledDiff).toBeLessThan(0.8 * before);
    // ③ The Compare node's table on the held-out renderings, as the user reads it: the mean rows come first.
    const means = await page.locator('[data-testid="node-compare"] [data-testid="report"] tbody tr').evaluateAll((trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '')).filter((c) => c[0] === 'mean').map((c) => ({ column: c[1], psnr: Number(c[2]), ssim: Number(c[3]) })),
    );
    console.log(`held-out comparison in the editor: ${JSON.stringify(means)}`);
    const byColumn = Object.fromEntries(means.map((m) => [m.column, m]));
    expect(Object.keys(byColumn).sort()).toEqual(['CLAHE', 'Exposure/Gamma', 'backlit', 'trained here']);
    // As measured from the CLI on the same graph (test/integration/measured-gain.test.ts): input 14.5 dB,
    // trained 19.5, CLAHE 17.3, Exposure/Gamma 22.0 — the enhancer trained in this browser beats the input
    // and CLAHE on photos it never saw, not the best global curve.
    expect(byColumn['trained here'].psnr).toBeGreaterThan(byColumn.backlit.psnr + 3);
    expect(byColumn['trained here'].psnr).toBeGreaterThan(byColumn.CLAHE.psnr + 1);
    expect(byColumn['trained here'].ssim).toBeGreaterThan(byColumn.CLAHE.ssim);
    await page.locator('.react-flow__controls-fitview').click();
    await screenshot(page, 'editor-default-run');
    // The Compare node up close: figure and table (gray PSNR/SSIM and RGB PSNR) must stay readable.
    // Double-clicking a title zooms to the node (dispatched: the minimap may sit over it at this zoom).
    await page.locator('[data-testid="node-compare"]').locator('.node-header:visible, .node-lod:visible').first().dispatchEvent('dblclick');
    await page.waitForTimeout(600);
    await screenshot(page, 'editor-compare-node');
    expect(errors).toEqual([]);
    await page.close();
    // The default graph trains 100 steps: about 90 s on an idle 2-core machine, more when it is shared.
  }, 400_000);

  it('runs the brighten example and the exposure node brightens', async () => {
    const { page, errors } = await openEditor();
    await page.getByTestId('examples').selectOption('brighten.json');
    expect(await nodeIds(page)).toEqual(['load', 'brighten', 'save']);
    await page.getByTestId('run').click();
    await expect.poll(() => page.getByTestId('status-save').textContent(), { timeout: 60_000 }).toMatch(/^done/);
    const input = await thumbBrightness(page, 'load');
    const output = await thumbBrightness(page, 'brighten');
    expect(input).toHaveLength(1);
    // Exposure +1 stop and gamma 1.4 must brighten the dark bluebells.
    expect(output[0]).toBeGreaterThan(input[0] + 0.1);
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

  it('round-trips a graph through a share link, lights up compatible ports while dragging, and opens the before/after viewer', async () => {
    const { page, errors } = await openEditor();
    await page.getByTestId('examples').selectOption('brighten.json');
    await page.locator('[data-testid="node-brighten"] .node-header').click();
    await page.getByTestId('param-stops').fill('2.5');
    await page.getByTestId('share').click();
    const url = page.url();
    expect(url).toContain('#graph=');

    // A fresh browser context (no autosave) opening the link gets the same graph, edited param included.
    const other = await browser().newContext({ viewport: { width: 1400, height: 820 } });
    const page2 = await other.newPage();
    await page2.goto(url);
    await page2.locator('.react-flow__node').first().waitFor();
    expect(await nodeIds(page2)).toEqual(['load', 'brighten', 'save']);
    await page2.locator('[data-testid="node-brighten"] .node-header').click();
    expect(await page2.getByTestId('param-stops').inputValue()).toBe('2.5');
    await other.close();

    // While dragging from an ImageBatch output, ImageBatch inputs light up and nothing else does.
    const src = (await page.locator('.react-flow__handle.source[data-nodeid="load"][data-handleid="images"]').boundingBox())!;
    await page.mouse.move(src.x + src.width / 2, src.y + src.height / 2);
    await page.mouse.down();
    await page.mouse.move(src.x + 120, src.y + 90, { steps: 4 });
    const lit = await page.locator('.react-flow__handle.compatible').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-nodeid')}.${e.getAttribute('data-handleid')}`));
    expect(lit.sort()).toEqual(['brighten.images', 'save.images']);
    await screenshot(page, 'editor-dragging-wire');
    await page.mouse.up();

    await page.getByTestId('run').click();
    await expect.poll(() => page.getByTestId('status-brighten').textContent(), { timeout: 60_000 }).toMatch(/^done/);
    await page.locator('[data-testid="node-brighten"] canvas.thumb').first().click();
    await page.getByTestId('viewer').locator('canvas').nth(1).waitFor();
    await screenshot(page, 'editor-before-after');
    // A note and a frame are saved with the graph (meta.annotations) and survive a share link.
    await page.getByTestId('viewer').getByRole('button', { name: 'Close' }).click();
    await page.getByTestId('palette-note').click();
    await page.locator('[data-testid="note-note-1"] textarea').fill('exposure baseline');
    await page.getByTestId('palette-frame').click();
    const graph = await page.evaluate(() => JSON.parse(localStorage.getItem('backlit-studio:autosave') ?? '{}'));
    expect(graph.meta.annotations.map((a: { kind: string; text: string }) => `${a.kind}:${a.text}`).sort()).toEqual(['frame:', 'note:exposure baseline']);
    expect(graph.nodes.map((n: { id: string }) => n.id)).toEqual(['load', 'brighten', 'save']);
    await screenshot(page, 'editor-annotations');
    await page.keyboard.press('?');
    await page.getByTestId('help').waitFor();
    expect(await page.getByTestId('help').textContent()).toContain('Duplicate selected nodes');
    await page.keyboard.press('Escape');
    // "/" jumps to the palette search; Enter adds the best match.
    await page.locator('.react-flow__pane').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('/');
    await page.keyboard.type('resid vec');
    await page.keyboard.press('Enter');
    expect(await nodeIds(page)).toContain('residual-vector-1');
    expect(errors).toEqual([]);
    await page.close();
  });
});
