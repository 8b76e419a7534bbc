import { describe, expect, it } from 'vitest';
import { useBrowser, screenshot, watchErrors } from './browser';

const { browser, baseUrl } = useBrowser();

/**
 * Issue 12's "train an enhancer in the browser that beats the baselines on held-out photos":
 * graphs/train-full.json trained in full in the editor (1200 steps at 64 px, wasm in the worker),
 * then the Compare table read from the node as a user reads it. About 12–20 minutes on 2 CPU cores,
 * so it runs only with E2E_FULL_TRAINING=1 (CI runs the same graph shortened in examples.e2e.ts and
 * from the CLI); the numbers it printed are in docs/trained-vs-gamma.md.
 */
describe.runIf(process.env.E2E_FULL_TRAINING === '1')('full training in the browser (E2E_FULL_TRAINING=1)', () => {
  it('train-full.json: the enhancer trained in the editor beats the best Exposure/Gamma and CLAHE on held-out renderings', async () => {
    const context = await browser().newContext({ viewport: { width: 1400, height: 820 } });
    const page = await context.newPage();
    const errors = watchErrors(page);
    await page.goto(`${baseUrl}?backend=wasm`);
    await page.getByTestId('backend').filter({ hasText: 'backend: wasm' }).waitFor({ timeout: 60_000 });
    await page.getByTestId('examples').selectOption('train-full.json');
    const t0 = Date.now();
    await page.getByTestId('run').click();
    await expect.poll(() => page.getByTestId('status-save-compare').textContent(), { timeout: 2_700_000, interval: 5000 }).toMatch(/^done/);
    const minutes = (Date.now() - t0) / 60_000;
    const means = await page.locator('[data-testid="node-compare"] [data-testid="report"] tbody tr').evaluateAll((trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '')).filter((c) => c[0] === 'mean').map((c) => ({ column: c[1], psnr: Number(c[2]), ssim: Number(c[3]), rgb: Number(c[4]) })),
    );
    console.log(`train-full.json in the editor: ${minutes.toFixed(1)} min; ${JSON.stringify(means)}`);
    const by = Object.fromEntries(means.map((m) => [m.column, m]));
    expect(Object.keys(by).sort()).toEqual(['CLAHE', 'Exposure/Gamma', 'backlit', 'trained here']);
    // From the CLI on the same graph (wasm, native size): trained 24.11 / 0.935 (seed 2: 22.82 / 0.924),
    // Exposure/Gamma at its best setting 22.02 / 0.904, CLAHE 17.26 / 0.799. A clear win, not a tie: at
    // least half a dB and 0.01 SSIM, which the worse seed also clears.
    expect(by['trained here'].psnr).toBeGreaterThan(by['Exposure/Gamma'].psnr + 0.5);
    expect(by['trained here'].ssim).toBeGreaterThan(by['Exposure/Gamma'].ssim + 0.01);
    expect(by['trained here'].psnr).toBeGreaterThan(by.CLAHE.psnr + 3);
    await page.locator('[data-testid="node-compare"]').locator('.node-header:visible, .node-lod:visible').first().dispatchEvent('dblclick');
    await page.waitForTimeout(600);
    await screenshot(page, 'train-full-compare-node');
    expect(errors).toEqual([]);
    await context.close();
  }, 3_000_000);
});
