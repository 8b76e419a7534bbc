/**
 * Image-encode throughput in the browser: the StatsEncoder and the tiny CLIP on tfjs's wasm, webgl
 * and webgpu backends in Debian's Chromium (headless, playwright-core), batch 8 of 224×224.
 * Reports images/s forward and forward + backward to the pixels, the first call's time, and
 * tf.memory().numTensors before/after 100 encodes (batch 1). Prints a markdown table.
 *
 * Run: npx tsx bench/browser-encode.ts        (about 1–3 minutes; each (encoder, backend) has its own
 * time limit, so a slow software WebGPU shows "timed out" instead of hanging the bench)
 *
 * It builds bench/browser/ with Vite (not minified: tfjs-backend-wasm's threaded build breaks under
 * minification) into a temporary folder and serves it with COOP/COEP headers (wasm threads), and
 * serves the tiny CLIP's weights from ../shared/data/tiny-clip at /tiny-clip/ (never copied into the repo).
 * Env: CHROMIUM_PATH (default /usr/bin/chromium), BENCH_SECONDS (per timed loop, default 2),
 * BENCH_BACKENDS (default wasm,webgl,webgpu).
 */
import { createServer, type Server } from 'node:http';
import { existsSync, promises as fs } from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { build } from 'vite';
import type { BenchEncoder, BenchOptions, BenchResult } from './browser/protocol';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PAGE_DIR = path.join(ROOT, 'bench/browser');
const TINY_CLIP = path.resolve(ROOT, '../shared/data/tiny-clip');
const BATCH = 8;
const SIZE = 224;
const LEAK_ENCODES = 100;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const BACKENDS = (process.env.BENCH_BACKENDS ?? 'wasm,webgl,webgpu').split(',').map((s) => s.trim()) as BenchOptions['backend'][];
const ENCODERS: BenchEncoder[] = ['stats', 'clip'];
/** Wall-clock limit per (encoder, backend), page load included; software WebGL/WebGPU are slow. */
const LIMIT_S: Record<BenchOptions['backend'], number> = { wasm: 25, webgl: 50, webgpu: 70 };
/** The whole bench stays under 4 minutes: later jobs get what is left. */
const TOTAL_BUDGET_S = 210;
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--enable-unsafe-webgpu'];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.safetensors': 'application/octet-stream',
};

/** Static files from `dist`, and the tiny CLIP folder at /tiny-clip/; COOP/COEP for wasm threads. */
async function serve(dist: string): Promise<{ server: Server; url: string }> {
  const server = createServer(async (req, res) => {
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const [base, rel] = pathname.startsWith('/tiny-clip/') ? [TINY_CLIP, pathname.slice('/tiny-clip/'.length)] : [dist, pathname === '/' ? 'index.html' : pathname.slice(1)];
    const file = path.resolve(base, rel);
    const inside = path.relative(base, file);
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    if (inside.startsWith('..') || path.isAbsolute(inside)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const bytes = await fs.readFile(file);
      res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'Content-Length': bytes.byteLength });
      res.end(bytes);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([p, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)))]).finally(() => clearTimeout(timer));
}

interface Row {
  result?: BenchResult;
  encoder: BenchEncoder;
  backend: string;
  /** Set when the job hit its wall-clock limit. */
  timedOutAfterS?: number;
  wallS: number;
}

function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true, args: ARGS });
}

/**
 * One fresh browser per job: software WebGL/WebGPU run in Chromium's shared GPU process, so a job
 * that timed out would keep it busy and starve the next job if only its page or context were closed.
 */
async function runJob(url: string, options: BenchOptions, limitS: number, pageErrors: string[]): Promise<Row> {
  const started = performance.now();
  const row: Row = { encoder: options.encoder, backend: options.backend, wallS: 0 };
  let browser: Browser | undefined;
  try {
    browser = await launch();
    const page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${options.encoder}/${options.backend}: ${e.message}`));
    const work = (async () => {
      await page.goto(url);
      await page.waitForFunction(() => typeof window.runBench === 'function', undefined, { timeout: limitS * 1000 });
      return page.evaluate((o) => window.runBench!(o), options);
    })();
    work.catch(() => {}); // a late rejection after a timeout (context closed) is expected
    const outcome = await withTimeout(work, limitS * 1000);
    if (outcome === 'timeout') {
      row.timedOutAfterS = limitS;
      // The page awaits between iterations, so what it measured so far can usually still be read.
      const partial = await withTimeout(page.evaluate(() => window.benchResult), 3000).catch(() => undefined);
      if (partial && partial !== 'timeout') row.result = partial;
    } else {
      row.result = outcome;
    }
  } catch (err) {
    row.result = { encoder: options.encoder, backend: options.backend, phase: 'init', error: (err as Error).message.split('\n')[0] };
  } finally {
    await withTimeout(browser?.close() ?? Promise.resolve(), 10_000).catch(() => undefined);
  }
  row.wallS = (performance.now() - started) / 1000;
  return row;
}

const fmt = (v: number | undefined, digits = 1) => (v === undefined ? '—' : v >= 100 ? v.toFixed(0) : v.toFixed(digits));

function tableRow(row: Row): string {
  const r = row.result;
  const timedOut = row.timedOutAfterS !== undefined;
  const missing = (has: boolean) => (has ? undefined : timedOut ? 'timed out' : r?.error ? 'failed' : '—');
  const fwd = missing(r?.forwardPerSecond !== undefined) ?? fmt(r!.forwardPerSecond);
  const grad = missing(r?.gradPerSecond !== undefined) ?? fmt(r!.gradPerSecond);
  const warm = missing(r?.warmupMs !== undefined) ?? fmt(r!.warmupMs, 0);
  let leak = missing(r?.tensorsAfter !== undefined) ?? `${r!.tensorsBefore} → ${r!.tensorsAfter}`;
  if (r?.tensorsAfter !== undefined) {
    leak += r.tensorsAfter === r.tensorsBefore ? ' (flat)' : ' (LEAK)';
    if (r.leakEncodesDone !== LEAK_ENCODES) leak += ` after only ${r.leakEncodesDone} encodes (budget)`;
  }
  const notes: string[] = [];
  if (timedOut) notes.push(`timed out after ${row.timedOutAfterS} s in ${r?.phase ?? 'page load'}`);
  if (r?.error) notes.push(`error: ${r.error.slice(0, 160)}`);
  if (r?.forwardIterations !== undefined) notes.push(`${r.forwardIterations}+${r.gradIterations ?? 0} timed batches`);
  const encoder = r?.space ? `${r.space} (D=${r.dim})` : { stats: 'stats:v1', clip: 'clip:tiny-clip' }[row.encoder];
  return `| ${encoder} | ${row.backend} | ${fwd} | ${grad} | ${warm} | ${leak} | ${notes.join('; ') || ''} |`;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Error(`Chromium not found at ${executablePath}; install it with: apt-get install -y chromium`);
  if (!existsSync(path.join(TINY_CLIP, 'model.safetensors'))) throw new Error(`The tiny CLIP is missing at ${TINY_CLIP} (config.json + model.safetensors).`);

  const dist = await fs.mkdtemp(path.join(os.tmpdir(), 'backlit-bench-browser-'));
  let server: Server | undefined;
  try {
    process.stderr.write('building bench/browser with Vite …\n');
    await build({
      configFile: false,
      root: PAGE_DIR,
      base: '/',
      logLevel: 'warn',
      worker: { format: 'es' },
      // Not minified: minifying breaks the pthread worker source of tfjs-backend-wasm's threaded build.
      build: { outDir: dist, emptyOutDir: true, target: 'es2022', minify: false, chunkSizeWarningLimit: 8192, reportCompressedSize: false },
    });
    const served = await serve(dist);
    server = served.server;
    const probe = await launch();
    const version = probe.version();
    await probe.close();
    process.stderr.write(`serving ${served.url}, Chromium ${version}; build took ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

    const rows: Row[] = [];
    const pageErrors: string[] = [];
    for (const backend of BACKENDS) {
      for (const encoder of ENCODERS) {
        const leftS = TOTAL_BUDGET_S - (performance.now() - t0) / 1000;
        const limitS = Math.max(5, Math.min(LIMIT_S[backend] ?? 30, Math.floor(leftS)));
        if (leftS < 5) {
          rows.push({ encoder, backend, timedOutAfterS: 0, wallS: 0 });
          continue;
        }
        const options: BenchOptions = { backend, encoder, batch: BATCH, size: SIZE, seconds: SECONDS, leakEncodes: LEAK_ENCODES, clipUrl: '/tiny-clip/', budgetMs: (limitS - 4) * 1000 };
        process.stderr.write(`${encoder} on ${backend} (limit ${limitS} s) … `);
        const row = await runJob(served.url, options, limitS, pageErrors);
        process.stderr.write(`${row.timedOutAfterS !== undefined ? 'timed out' : row.result?.error ? 'failed' : 'done'} in ${row.wallS.toFixed(1)} s\n`);
        rows.push(row);
      }
    }

    const infos = new Map<string, string>();
    for (const r of rows) if (r.result?.backendInfo) infos.set(r.backend, r.result.backendInfo);
    const out: string[] = [];
    out.push(`## Browser image-encode throughput (Chromium ${version}, headless, ${os.cpus().length} CPU cores, no GPU: --disable-gpu)`);
    out.push('');
    out.push(`Batch ${BATCH} × ${SIZE}×${SIZE} RGB, \`encodeImages(images, 'loss')\`; images/s over ~${SECONDS} s per loop after one warm-up call (first call = kernel/shader compile + upload);`);
    out.push(`fwd+bwd = \`tf.grad(x => sum(encodeImages(x)))\` w.r.t. the pixels; numTensors around ${LEAK_ENCODES} encodes of one image.`);
    out.push('');
    out.push('| encoder | backend | forward img/s | fwd+bwd img/s | first call ms | numTensors before → after 100 encodes | notes |');
    out.push('|---|---|---:|---:|---:|---|---|');
    for (const r of rows) out.push(tableRow(r));
    out.push('');
    for (const [backend, info] of infos) out.push(`- ${backend}: ${info}`);
    if ([...infos.values()].some((i) => /swiftshader/i.test(i))) {
      out.push('- WebGL/WebGPU ran on SwiftShader (software) here: their numbers say the backends work, not how fast a GPU is.');
    }
    if (pageErrors.length) out.push(`- page errors: ${[...new Set(pageErrors)].slice(0, 5).join(' | ')}`);
    out.push(`- total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    console.log(out.join('\n'));
  } finally {
    server?.close();
    await fs.rm(dist, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
