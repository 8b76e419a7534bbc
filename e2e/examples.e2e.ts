import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { useBrowser, screenshot, watchErrors } from './browser';
import { DEFAULT_EXAMPLE } from '../src/ui/examples';

const { browser, baseUrl } = useBrowser();
/**
 * Every example graph, as the CLI suite runs them: the same JSON must also run in the editor. The
 * default example is left to editor.e2e.ts, which trains it in full and checks its pixels (running it
 * here again cost CI about 3 minutes for nothing new).
 */
const examples = readdirSync('graphs').filter((f) => f.endsWith('.json') && f !== DEFAULT_EXAMPLE).sort();
/**
 * Examples whose full run takes too long for CI: a parameter is set in the Params panel first, as a
 * user would. train-full.json trains 1200 steps (about 12 minutes); trainFull.e2e.ts runs it in full
 * when E2E_FULL_TRAINING=1.
 */
const SHORTENED: Record<string, Array<{ node: string; param: string; value: string }>> = {
  'train-full.json': [{ node: 'train', param: 'iterations', value: '12' }],
};

describe('every example graph runs in the editor', () => {
  for (const file of examples) {
    it(file, async () => {
      const context = await browser().newContext({ viewport: { width: 1400, height: 820 } });
      const page = await context.newPage();
      const errors = watchErrors(page);
      await page.goto(`${baseUrl}?backend=wasm`);
      await page.getByTestId('backend').filter({ hasText: 'backend: wasm' }).waitFor({ timeout: 60_000 });
      await page.getByTestId('examples').selectOption(file);
      for (const { node, param, value } of SHORTENED[file] ?? []) {
        await page.locator(`[data-testid="node-${node}"] .node-header`).click();
        await page.getByTestId(`param-${param}`).fill(value);
        await page.getByTestId(`param-${param}`).blur();
      }
      await page.getByTestId('run').click();
      // The run is over when no node is queued or running any more (a fast graph like brighten can
      // finish before a Cancel button would ever be seen); then every node must have finished.
      const readStatuses = () => page.locator('[data-testid^="status-"]').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-testid')}: ${e.textContent}`));
      const finished = async () => {
        const all = await readStatuses();
        return all.length > 0 && !all.some((s) => /: (queued|running)/.test(s));
      };
      await expect.poll(finished, { timeout: 400_000, interval: 500 }).toBe(true);
      await page.getByTestId('run').waitFor({ timeout: 30_000 });
      const statuses = await readStatuses();
      expect(statuses.length).toBeGreaterThan(0);
      expect(statuses.filter((s) => !/: (done|cached)/.test(s))).toEqual([]);
      await page.locator('.react-flow__controls-fitview').click();
      await screenshot(page, `example-${file.replace(/\.json$/, '')}`);
      expect(errors).toEqual([]);
      await context.close();
    }, 480_000); // rave-unpaired.json trains 100 steps at 64 px: about 3 minutes of a loaded 2-core CI box
  }
});
