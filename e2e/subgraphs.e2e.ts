import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { useBrowser, screenshot, watchErrors, wire } from './browser';

/**
 * Subgraphs in the editor (issue 13): group nodes of the default graph with Ctrl+G, open the group,
 * edit a param inside, go back up with the breadcrumb, run, ungroup; undo/redo and copy/paste of a
 * group node. Viewport 1440×900, as the issue was filed.
 */
const { browser, baseUrl } = useBrowser();

interface Saved {
  version: number;
  nodes: Array<{ id: string; type: string; subgraph?: string; params: Record<string, unknown>; position: { x: number; y: number } }>;
  edges: Array<{ from: { node: string; port: string }; to: { node: string; port: string } }>;
  subgraphs?: Array<{ id: string; name: string; inputs: Array<{ name: string; label?: string }>; outputs: Array<{ name: string }>; nodes: Array<{ id: string; params: Record<string, unknown> }> }>;
}

async function saved(page: Page): Promise<Saved> {
  return page.evaluate(() => JSON.parse(localStorage.getItem('backlit-studio:autosave') ?? '{}'));
}

async function nodeIds(page: Page): Promise<string[]> {
  return page.locator('.react-flow__node').evaluateAll((els) => els.map((e) => e.getAttribute('data-id') ?? '').sort());
}

const edgeSet = (g: Saved) => g.edges.map((e) => `${e.from.node}.${e.from.port}->${e.to.node}.${e.to.port}`).sort();

/** Selects exactly these nodes (click the first, Ctrl+click the rest) on their headers. */
async function select(page: Page, ids: string[]) {
  for (const [i, id] of ids.entries()) {
    await page.locator(`[data-testid="node-${id}"] .node-header`).click({ modifiers: i ? ['Control'] : [] });
  }
}

const GROUPED = ['encode-well-lit', 'encode-backlit', 'v-pos', 'v-neg', 'residual'];

describe('subgraphs', () => {
  it('groups nodes of the default graph, opens the group, edits inside, goes back, runs, ungroups; undo/redo and copy/paste', async () => {
    const context = await browser().newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    const errors = watchErrors(page);
    await page.goto(`${baseUrl}?backend=wasm`);
    await page.locator('.react-flow__node').first().waitFor();
    await page.getByTestId('backend').filter({ hasText: /backend: (wasm|webgl|webgpu|cpu)/ }).waitFor({ timeout: 60_000 });
    await page.waitForTimeout(400);
    const before = await saved(page);
    expect(before.nodes.map((n) => n.id)).toEqual(expect.arrayContaining(GROUPED));

    // Zoomed in enough that headers can be clicked; then select five nodes and press Ctrl+G.
    await page.evaluate(() => (document.querySelector('.react-flow__controls-fitview') as HTMLButtonElement | null)?.click());
    await select(page, GROUPED);
    await page.keyboard.press('Control+g');
    await page.getByTestId('node-group-1').waitFor();
    const grouped = await saved(page);
    expect(grouped.version).toBe(2);
    expect(grouped.nodes.map((n) => n.id)).not.toContain('v-pos');
    const group = grouped.nodes.find((n) => n.id === 'group-1')!;
    expect(group).toMatchObject({ type: 'subgraph', subgraph: 'subgraph-1' });
    const def = grouped.subgraphs![0];
    expect(def.nodes.map((n) => n.id).sort()).toEqual([...GROUPED].sort());
    // Ports are the cut wires: two image inputs, the encoder; the residual and both embeddings leave.
    expect(def.inputs.map((p) => p.name)).toEqual(['images', 'images_2', 'encoder']);
    expect(def.outputs.map((p) => p.name)).toEqual(['residual']);
    await expect.poll(() => page.locator('[data-testid="node-group-1"] .port-in').allTextContents()).toEqual(['ImagesImageBatch', 'ImagesImageBatch', 'EncoderEncoder']);
    await screenshot(page, 'subgraphs-1-group-node');

    // Undo brings the five nodes back (one step), redo groups them again.
    await page.locator('.react-flow__pane').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('Control+z');
    await expect.poll(async () => (await saved(page)).nodes.map((n) => n.id).sort()).toEqual(before.nodes.map((n) => n.id).sort());
    expect(edgeSet(await saved(page))).toEqual(edgeSet(before));
    await page.keyboard.press('Control+Shift+z');
    await page.getByTestId('node-group-1').waitFor();

    // Rename an input port on the group's panel: the group node shows the new label.
    await page.locator('[data-testid="node-group-1"] .node-header').click();
    await page.getByTestId('port-label-inputs-images_2').fill('Backlit photos');
    await page.getByTestId('port-label-inputs-images_2').press('Enter');
    await expect.poll(() => page.locator('[data-testid="node-group-1"] .port-in').allTextContents()).toContain('Backlit photosImageBatch');

    // Zoomed in on the group node: readable ports, the Open button.
    const box = (await page.getByTestId('node-group-1').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    for (let i = 0; i < 6; i++) await page.mouse.wheel(0, -200);
    await page.waitForTimeout(400);
    await screenshot(page, 'subgraphs-1b-group-node-zoomed');

    // Open (double-click): the breadcrumb shows where we are; inner nodes carry the expanded ids.
    await page.locator('[data-testid="node-group-1"] .node-title').dblclick();
    await page.getByTestId('breadcrumbs').waitFor();
    await expect.poll(() => nodeIds(page)).toEqual(['group-1/@in', 'group-1/@out', ...GROUPED.map((id) => `group-1/${id}`)].sort());
    await page.waitForTimeout(400);
    await screenshot(page, 'subgraphs-2-inside-with-breadcrumb');

    // A new group output: drag an inner output onto "+ new output".
    await wire(page, { node: 'group-1/v-pos', port: 'mean' }, { node: 'group-1/@out', port: '+' });
    await expect.poll(async () => (await saved(page)).subgraphs![0].outputs.map((p) => p.name)).toEqual(['residual', 'mean']);
    await expect.poll(() => page.locator('[data-testid="node-group-1/@out"] .port-in').allTextContents()).toEqual(['ResidualResidual', 'MeanEmbedding', '+ new output']);

    // Edit a param inside.
    await page.locator('[data-testid="node-group-1/residual"] .node-header').click();
    await page.getByTestId('param-target').selectOption('paper');
    await expect.poll(async () => (await saved(page)).subgraphs![0].nodes.find((n) => n.id === 'residual')!.params.target).toBe('paper');

    // Back up with the breadcrumb; run up to the group: its inner nodes run under their expanded ids.
    await page.getByTestId('crumb-0').click();
    await page.getByTestId('breadcrumbs').waitFor({ state: 'detached' });
    await page.getByTestId('node-group-1').waitFor();
    await page.locator('[data-testid="node-group-1"] .node-header').click({ button: 'right' });
    await page.getByTestId('menu-run-to-here').click();
    await expect.poll(() => page.getByTestId('status-group-1').textContent(), { timeout: 120_000 }).toBe('done');
    expect(await page.getByTestId('status-train').count()).toBe(0);
    await screenshot(page, 'subgraphs-3-group-after-run');

    // Opened again, the inner nodes show their own results.
    await page.getByTestId('open-group-1').click();
    await expect.poll(() => page.getByTestId('status-group-1/residual').textContent()).toMatch(/^done/);
    await page.keyboard.press('Escape');
    await page.getByTestId('breadcrumbs').waitFor({ state: 'detached' });

    // Copy/paste a group node: a second instance of the same subgraph.
    await page.locator('[data-testid="node-group-1"] .node-header').click();
    await page.keyboard.press('Control+c');
    await page.keyboard.press('Control+v');
    await page.getByTestId('node-group-2').waitFor();
    const pasted = await saved(page);
    expect(pasted.nodes.find((n) => n.id === 'group-2')).toMatchObject({ type: 'subgraph', subgraph: 'subgraph-1' });
    expect(pasted.subgraphs).toHaveLength(1);
    await page.keyboard.press('Delete');
    await page.getByTestId('node-group-2').waitFor({ state: 'detached' });

    // Ungroup from the menu: the nodes come back in place with the edited param and the original wires.
    await page.locator('[data-testid="node-group-1"] .node-header').click({ button: 'right' });
    await page.getByTestId('menu-ungroup').click();
    await page.getByTestId('node-group-1').waitFor({ state: 'detached' });
    const after = await saved(page);
    expect(after.subgraphs).toBeUndefined();
    expect(after.nodes.map((n) => n.id).sort()).toEqual(before.nodes.map((n) => n.id).sort());
    expect(edgeSet(after)).toEqual(edgeSet(before));
    expect(after.nodes.find((n) => n.id === 'residual')!.params.target).toBe('paper');
    for (const id of GROUPED) expect(after.nodes.find((n) => n.id === id)!.position).toEqual(before.nodes.find((n) => n.id === id)!.position);
    // Results moved with the nodes, in the editor and in the worker's cache: running again recomputes nothing.
    expect(await page.getByTestId('status-residual').textContent()).toMatch(/^done/);
    await page.locator('[data-testid="node-residual"] .node-header').click({ button: 'right' });
    await page.getByTestId('menu-run-to-here').click();
    await expect.poll(() => page.getByTestId('status-residual').textContent(), { timeout: 60_000 }).toMatch(/^cached/);
    expect(await page.getByTestId('status-v-pos').textContent()).toMatch(/^cached/);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a running group shows which inner node runs and the progress over all of them; inside, the inner node shows its own; an inner error names the inner node and its toast opens the group', async () => {
    const context = await browser().newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    const errors = watchErrors(page);
    await page.goto(`${baseUrl}?backend=wasm`);
    await page.locator('.react-flow__node').first().waitFor();
    await page.getByTestId('backend').filter({ hasText: /backend: (wasm|webgl|webgpu|cpu)/ }).waitFor({ timeout: 60_000 });
    await page.waitForTimeout(400);
    await page.locator('[data-testid="node-train"] .node-header').click();
    await page.getByTestId('param-iterations').fill('400');
    await select(page, ['train', 'enhance', 'save']);
    await page.keyboard.press('Control+g');
    await page.getByTestId('node-group-1').waitFor();
    await page.getByTestId('run').click();
    const progress = page.getByTestId('progress-group-1');
    await expect.poll(() => page.getByTestId('group-running-group-1').textContent().catch(() => ''), { timeout: 120_000 }).toMatch(/^Enhancer Trainer · \d+%$/);
    await expect.poll(async () => Number(await progress.getAttribute('aria-valuenow')), { timeout: 60_000 }).toBeGreaterThan(0);
    const p1 = Number(await progress.getAttribute('aria-valuenow'));
    expect(await page.getByTestId('status-group-1').textContent()).toBe('0/3');
    await expect.poll(async () => Number(await progress.getAttribute('aria-valuenow')), { timeout: 30_000 }).toBeGreaterThan(p1);
    await screenshot(page, 'subgraphs-4-group-running');
    // Inside, the trainer itself shows its step counter.
    await page.getByTestId('open-group-1').click();
    await page.getByTestId('progress-group-1/train').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('progress-group-1/train').textContent()).toMatch(/^\d+\/400/);
    await page.getByTestId('cancel').click();
    await expect.poll(() => page.getByTestId('status-group-1/train').textContent(), { timeout: 60_000 }).toMatch(/^cancelled/);
    await page.getByTestId('crumb-0').click();
    await expect.poll(() => page.getByTestId('status-group-1').textContent()).toBe('cancelled');

    // An inner node fails: the group says which; the error toast opens the group at that node.
    await page.getByTestId('open-group-1').click();
    await page.locator('[data-testid="node-group-1/train"] .node-header').click();
    await page.getByTestId('param-imageSize').fill('3');
    await page.getByTestId('crumb-0').click();
    await expect.poll(() => page.getByTestId('error-group-1').textContent()).toMatch(/^train: field "imageSize": Bad value 3/);
    await page.getByTestId('run').click();
    const toast = page.getByTestId('toast').filter({ hasText: 'group-1/train' });
    await toast.waitFor({ timeout: 60_000 });
    await toast.click();
    await page.getByTestId('breadcrumbs').waitFor();
    await expect.poll(() => page.locator('.react-flow__node.selected').getAttribute('data-id')).toBe('group-1/train');
    expect(errors).toEqual([]);
    await context.close();
  });
});
