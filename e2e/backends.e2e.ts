import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import LZString from 'lz-string';
import { describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { DEFAULT_EXAMPLE as DEFAULT_GRAPH } from '../src/ui/examples';
import { useBrowser, screenshot, watchErrors } from './browser';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const { browser, baseUrl } = useBrowser();

interface BackendRun {
  backend: string;
  /** RGBA of the Exposure node's first thumbnail. */
  pixels: number[];
  /** thr and cos(v+, v−) of the residual vector, as shown on the node. */
  residualText: string;
}

/** Runs two example pipelines in a fresh profile with the backend forced, and reads the results off the page. */
async function runOn(backend: string): Promise<BackendRun> {
  const context = await browser().newContext({ viewport: { width: 1400, height: 820 } });
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

// ---- Training the default graph on each backend ------------------------------------------------

/**
 * The editor's default graph (quick-start.json), shrunk like the CLI's webgpu-examples test
 * (SwiftShader is software: a 16² step costs seconds there). One backlit image, so every step sees
 * the same picture and a falling loss means learning, not an easier draw. No reconstruction
 * warm-up: from the identity start its loss is ~1e-7 and its gradients are float rounding noise,
 * which Adam's first step (≈ lr·sign(g)) turns into full-size, backend-dependent updates.
 */
const ITERATIONS = 6;
const WARMUP = 0;
function shrunkDefaultGraph(): unknown {
  const g = JSON.parse(readFileSync(path.join(ROOT, 'graphs', DEFAULT_GRAPH), 'utf8')) as { nodes: Array<{ id: string; type: string; params: Record<string, unknown> }> };
  for (const n of g.nodes) {
    if (n.type === 'image-loader') n.params.maxSide = 48;
    if (n.id === 'to-backlight') n.params.maxCount = 1;
    if (n.id === 'held-out') n.params.maxCount = 2;
    if (n.type === 'compare') n.params.cellSize = 48;
    if (n.type === 'enhancer-trainer') Object.assign(n.params, { iterations: ITERATIONS, warmupIterations: WARMUP, imageSize: 16, batchSize: 1, checkpoint: '' });
  }
  return g;
}

/**
 * Records the executor's events as they reach the page: Comlink delivers the worker's `onEvent`
 * calls on a MessagePort, so a listener wrapper sees every batch (per-step losses are not in the
 * DOM: the loss chart is a canvas).
 */
function recordRunEvents() {
  const seen: unknown[] = [];
  (globalThis as unknown as { __runEvents: unknown[] }).__runEvents = seen;
  const add = MessagePort.prototype.addEventListener;
  MessagePort.prototype.addEventListener = function (this: MessagePort, type: string, listener: EventListenerOrEventListenerObject, opts?: boolean | AddEventListenerOptions) {
    if (type === 'message' && typeof listener === 'function') {
      const inner = listener;
      listener = function (this: MessagePort, ev: Event) {
        const args = (ev as MessageEvent).data?.argumentList as Array<{ value?: unknown }> | undefined;
        const batch = args?.[0]?.value;
        if (Array.isArray(batch)) for (const e of batch) if (e && typeof e === 'object' && 'type' in e) seen.push(e);
        return inner.call(this, ev);
      };
    }
    return add.call(this, type, listener, opts);
  } as typeof MessagePort.prototype.addEventListener;
}

interface TrainRun {
  backend: string;
  /** Per-step total loss as reported (the worker coalesces fast steps, so some may be missing). */
  losses: Array<{ step: number; loss: number; stage: string }>;
  /** The trainer's final report row. */
  report: Record<string, string | number>;
  /** RGBA thumbnails of the enhanced images. */
  thumbs: number[][];
  ms: number;
}

type RunEvent =
  | { type: 'progress'; nodeId: string; step: number; message?: string; metrics?: Record<string, number> }
  | { type: 'views'; nodeId: string; views: Record<string, { kind: string; rows?: Array<Record<string, string | number>>; thumbs?: Array<{ rgba: Uint8ClampedArray }> }> }
  | { type: 'status'; nodeId: string; status: string; error?: { message: string } };

async function openOn(backend: string, graph: unknown): Promise<{ page: Page; context: BrowserContext; errors: string[] }> {
  const context = await browser().newContext({ viewport: { width: 1400, height: 820 } });
  const page = await context.newPage();
  await page.addInitScript(recordRunEvents);
  const errors = watchErrors(page);
  await page.goto(`${baseUrl}?backend=${backend}#graph=${LZString.compressToEncodedURIComponent(JSON.stringify(graph))}`);
  await page.getByTestId('backend').filter({ hasText: `backend: ${backend}` }).waitFor({ timeout: 120_000 });
  return { page, context, errors };
}

const events = (page: Page) => page.evaluate(() => (globalThis as unknown as { __runEvents: unknown[] }).__runEvents.map((e) => {
  // Typed arrays do not survive page.evaluate's JSON: turn thumbnails into plain arrays.
  const ev = e as { type: string; views?: Record<string, { thumbs?: Array<{ rgba: Uint8ClampedArray }> }> };
  if (ev.type !== 'views' || !ev.views) return e;
  const views = Object.fromEntries(Object.entries(ev.views).map(([k, v]) => [k, v.thumbs ? { ...v, thumbs: v.thumbs.map((t) => ({ rgba: Array.from(t.rgba) })) } : v]));
  return { ...ev, views };
})) as Promise<RunEvent[]>;

async function trainOn(backend: string): Promise<TrainRun> {
  const { page, context, errors } = await openOn(backend, shrunkDefaultGraph());
  const t0 = Date.now();
  await page.getByTestId('run').click();
  await expect.poll(() => page.getByTestId('status-save').textContent(), { timeout: 900_000, interval: 1000 }).toMatch(/^(done|error|blocked|cancelled)/);
  const ms = Date.now() - t0;
  const evs = await events(page);
  const failed = evs.filter((e): e is Extract<RunEvent, { type: 'status' }> => e.type === 'status' && e.status === 'error');
  expect(failed.map((e) => `${e.nodeId}: ${e.error?.message}`), `${backend}: failed nodes`).toEqual([]);
  const losses = evs
    .filter((e): e is Extract<RunEvent, { type: 'progress' }> => e.type === 'progress' && e.nodeId === 'train' && typeof e.metrics?.loss === 'number')
    .map((e) => ({ step: e.step, loss: e.metrics!.loss, stage: e.message ?? '' }));
  const views = (id: string) => evs.filter((e): e is Extract<RunEvent, { type: 'views' }> => e.type === 'views' && e.nodeId === id).pop()?.views;
  const report = views('train')?.report?.rows?.[0] ?? {};
  const thumbs = (views('enhance')?.images?.thumbs ?? []).map((t) => Array.from(t.rgba));
  await screenshot(page, `backend-${backend}-train`);
  expect(errors).toEqual([]);
  await context.close();
  return { backend, losses, report, thumbs, ms };
}

describe('training the default graph', () => {
  it('trains on wasm, webgpu and webgl (software adapters here): finite, falling losses that agree with wasm', async () => {
    const runs: TrainRun[] = [];
    for (const backend of ['wasm', 'webgpu', 'webgl']) runs.push(await trainOn(backend));
    console.log(runs.map((r) => `${r.backend}: ${(r.ms / 1000).toFixed(1)} s; losses ${r.losses.map((l) => `${l.step}:${l.loss.toPrecision(4)}`).join(' ')}; final ${JSON.stringify(r.report)}`).join('\n'));
    const [ref, ...others] = runs;
    for (const r of runs) {
      expect(r.losses.length, `${r.backend}: losses seen`).toBeGreaterThanOrEqual(2);
      for (const l of r.losses) expect(Number.isFinite(l.loss), `${r.backend} step ${l.step}`).toBe(true);
      const guided = r.losses.filter((l) => l.step > WARMUP);
      expect(guided.length, `${r.backend}: guided steps seen`).toBeGreaterThanOrEqual(1);
      // Decreasing-ish: the last guided loss is below the first one seen (Adam, cosine lr, few steps).
      expect(guided[guided.length - 1].loss, `${r.backend}: guided loss falls`).toBeLessThan(guided[0].loss);
      expect(r.report.steps).toBe(ITERATIONS);
      expect(r.thumbs.length).toBeGreaterThan(0);
    }
    for (const r of others) {
      // Every step both saw: float32 on other kernels, a few Adam steps (as the CLI's webgpu-examples test).
      for (const l of r.losses) {
        const w = ref.losses.find((x) => x.step === l.step);
        if (w) expect(Math.abs(l.loss - w.loss), `${r.backend} step ${l.step}: ${l.loss} vs wasm ${w.loss}`).toBeLessThanOrEqual(2e-3 + 1e-2 * Math.abs(w.loss));
      }
      for (const key of ['loss', 'guidance', 'identity', 'highlight']) {
        const a = Number(ref.report[key]);
        const b = Number(r.report[key]);
        expect(Math.abs(a - b), `${r.backend} final ${key}: ${b} vs wasm ${a}`).toBeLessThanOrEqual(2e-3 + 1e-2 * Math.abs(a));
      }
      expect(r.thumbs.length).toBe(ref.thumbs.length);
      r.thumbs.forEach((t, i) => {
        expect(t.length).toBe(ref.thumbs[i].length);
        const d = Math.max(...t.map((v, j) => Math.abs(v - ref.thumbs[i][j])));
        expect(d, `${r.backend} enhanced thumbnail ${i} vs wasm (of 255)`).toBeLessThanOrEqual(2);
      });
    }
  }, 2_400_000);

  it('a WebGPU device lost mid-training is reported plainly: the node names it, the editor switches to wasm and a new run works', async () => {
    const { page, context, errors } = await openOn('webgpu', shrunkDefaultGraph());
    await page.getByTestId('run').click();
    // Lose the device once training is under way (a driver reset in the middle of a long run).
    await expect.poll(async () => (await events(page)).some((e) => e.type === 'progress' && e.nodeId === 'train'), { timeout: 600_000, interval: 1000 }).toBe(true);
    expect(await page.evaluate(() => (globalThis as unknown as { __backlitWorker: { loseDeviceForTest(): Promise<boolean> } }).__backlitWorker.loseDeviceForTest())).toBe(true);
    await expect.poll(() => page.getByTestId('toast').allTextContents(), { timeout: 120_000 }).toContainEqual(expect.stringMatching(/WebGPU device was lost.*wasm/));
    await expect.poll(() => page.getByTestId('backend').textContent(), { timeout: 120_000 }).toBe('backend: wasm');
    await expect.poll(() => page.getByTestId('status-train').textContent(), { timeout: 600_000, interval: 1000 }).toMatch(/^(done|error|cancelled)/);
    const trainStatus = (await page.getByTestId('status-train').textContent()) ?? '';
    if (trainStatus.startsWith('error')) {
      // The failure the user reads names the lost device, not a WebGPU internals message.
      const msg = (await page.getByTestId('error-train').textContent()) ?? '';
      console.log(`train after device loss: ${msg}`);
      expect(msg).toMatch(/WebGPU device was lost/);
      expect(msg).not.toMatch(/mapAsync|GPUBuffer|Instance reference/);
    }
    // The next run recomputes on wasm and finishes (a generous click timeout: software WebGPU loads the machine).
    await page.getByTestId('run').click({ timeout: 180_000 });
    await expect.poll(() => page.getByTestId('status-save').textContent(), { timeout: 600_000, interval: 1000 }).toMatch(/^done/);
    expect(await page.getByTestId('backend').textContent()).toBe('backend: wasm');
    expect(errors).toEqual([]);
    await context.close();
  }, 1_800_000);
});
