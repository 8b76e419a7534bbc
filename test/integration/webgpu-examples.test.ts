import { existsSync, promises as fs, readdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBacklit } from '../../src/cli/testing';

/**
 * Every example graph in graphs/ runs from the CLI with `--backend webgpu` (Dawn in Node; without
 * a GPU, on SwiftShader) and agrees with `--backend wasm`: images within 2/255, every number the
 * CLI summarises (embeddings, residuals, scalars, report cells: losses, metrics) within float
 * tolerance.
 *
 * SwiftShader runs WGSL on the CPU with a large cost per dispatch (an enhancer training step at
 * 16² costs ~5 s of CPU there, vs ~0.05 s on wasm), so the examples run with images, training
 * sizes and step counts shrunk through --set (SHRINK below: 48 px images, 16² training, batch 1,
 * one warm-up + one guided step) — the same nodes, wires and code paths, fewer pixels and steps.
 * Skipped (with the reason) only when Dawn finds no adapter.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const GRAPHS_DIR = path.join(ROOT, 'graphs');

/** Per graph: --set overrides that keep every node but cut steps and pixels. */
const LOADERS = (...ids: string[]) => ids.map((id) => `${id}.maxSide=48`);
const TRAIN = (...ids: string[]) => ids.flatMap((id) => [`${id}.iterations=2`, `${id}.warmupIterations=1`, `${id}.imageSize=16`, `${id}.batchSize=1`]);
const SHRINK: Record<string, string[]> = {
  'batch-encode.json': LOADERS('well-lit', 'to-backlight'),
  'batch-enhance.json': [...LOADERS('well-lit', 'to-backlight', 'photos'), ...TRAIN('train')],
  'brighten.json': ['load.maxCount=2'],
  'residual-vector.json': LOADERS('well-lit', 'to-backlight'),
  'quick-start.json': [...LOADERS('well-lit', 'to-backlight', 'held-out'), 'held-out.maxCount=2', ...TRAIN('train'), 'train.checkpointEvery=1', 'compare.cellSize=48'],
  'rave-unpaired.json': [...LOADERS('well-lit', 'to-backlight'), ...TRAIN('train'), 'train.checkpointEvery=1'],
  'train-full.json': [...LOADERS('well-lit', 'to-backlight', 'held-out'), 'held-out.maxCount=2', ...TRAIN('train'), 'train.checkpointEvery=1', 'compare.cellSize=48'],
  'rave-paired.json': [...LOADERS('well-lit'), ...TRAIN('train')],
  'latent-prompts.json': [...LOADERS('well-lit', 'to-backlight'), 'prompts-1.iterations=3', 'prompts-2.iterations=2', ...TRAIN('train-1'), 'train-2.iterations=1', 'train-2.imageSize=16', 'train-2.batchSize=1'],
  'clip-lit.json': [...LOADERS('well-lit', 'to-backlight'), 'prompts-1.iterations=3', 'prompts-2.iterations=2', ...TRAIN('train-1'), 'train-2.iterations=1', 'train-2.imageSize=16', 'train-2.batchSize=1'],
  'bias-report.json': [...LOADERS('well-lit', 'originals'), ...TRAIN('train-r', 'train-corrected'), 'compare.cellSize=48'],
};

/** Images: max |Δ| over all pixels and channels, in 8-bit steps. */
const IMAGE_TOL = 2;
/** Numbers: |a − b| ≤ ABS + REL·max(|a|, |b|) (float32 on different kernels, a few Adam steps). */
const ABS = 2e-3;
const REL = 1e-2;

interface RunJson {
  ok: boolean;
  backend: string;
  elapsedMs: number;
  nodes: Record<string, { status: string }>;
  written: Record<string, Array<{ location: string }>>;
  values: Record<string, Record<string, unknown>>;
  errors: unknown[];
}

const cli = runBacklit;

async function run(graph: string, backend: string, out: string): Promise<RunJson & { ms: number }> {
  const sets = (SHRINK[graph] ?? []).flatMap((s) => ['--set', s]);
  const r = await cli(['run', path.join(GRAPHS_DIR, graph), '--backend', backend, '--out', out, '--json', '--quiet', ...sets]);
  let json: RunJson;
  try {
    json = JSON.parse(r.stdout) as RunJson;
  } catch {
    throw new Error(`${graph} on ${backend}: no JSON (exit ${r.code}).\nstderr:\n${r.stderr.slice(-3000)}`);
  }
  if (!json.ok) throw new Error(`${graph} on ${backend} failed: ${JSON.stringify(json.errors).slice(0, 2000)}\nstderr:\n${r.stderr.slice(-2000)}`);
  return { ...json, ms: r.ms };
}

/** Every number in a JSON value, keyed by its path. */
function numbers(v: unknown, at = '', out = new Map<string, number>()): Map<string, number> {
  if (typeof v === 'number') out.set(at, v);
  else if (Array.isArray(v)) v.forEach((x, i) => numbers(x, `${at}[${i}]`, out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) numbers(x, at ? `${at}.${k}` : k, out);
  return out;
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  if (existsSync(dir)) await walk(dir);
  return out.sort();
}

async function maxPixelDiff(a: string, b: string): Promise<number> {
  const [x, y] = await Promise.all([a, b].map((f) => sharp(f).raw().toBuffer({ resolveWithObject: true })));
  expect(`${y.info.width}x${y.info.height}x${y.info.channels}`, path.basename(a)).toBe(`${x.info.width}x${x.info.height}x${x.info.channels}`);
  let m = 0;
  for (let i = 0; i < x.data.length; i++) m = Math.max(m, Math.abs(x.data[i] - y.data[i]));
  return m;
}

let tmp: string;
let adapter: string | undefined;
let noAdapter: string | undefined;
const timings: string[] = [];

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'backlit-webgpu-'));
  const r = await cli(['backends', '--json']);
  const report = JSON.parse(r.stdout) as { adapters: Array<{ vendor: string; architecture: string }>; webgpuError?: string };
  if (report.adapters.length) adapter = `${report.adapters[0].vendor} ${report.adapters[0].architecture}`;
  else noAdapter = report.webgpuError ?? 'no adapter';
});

afterAll(async () => {
  if (timings.length) console.log(`webgpu (${adapter}) vs wasm, per example graph (shrunk with --set):\n${timings.join('\n')}`);
  await fs.rm(tmp, { recursive: true, force: true });
});

const allGraphs = readdirSync(GRAPHS_DIR).filter((f) => f.endsWith('.json')).sort();
/**
 * `npm test` (and so CI) compares this core set: the plain pipeline, the residual vector and the
 * default RAVE training (trainer + Enhance + Bias Correct), about 5 min on SwiftShader with 2 cores.
 * rave-paired.json and rave-unpaired.json are left to `WEBGPU_EXAMPLES=all`: their node types are a
 * subset of the default graph's (rave-paired cost CI ~4 min of SwiftShader for no new kernel).
 * `WEBGPU_EXAMPLES=all` runs every example (25+ min on SwiftShader). latent-prompts.json once
 * "disagreed" (cos(p₋, p₊) 0.045 vs 0.195): its prompt learner's seed 0 meant Math.random() in
 * tfjs's randomNormal, so any two runs differed, on any backend (fixed in randomLatentInit).
 */
const CORE = ['brighten.json', 'residual-vector.json', 'quick-start.json'];
const graphs = process.env.WEBGPU_EXAMPLES === 'all' ? allGraphs : allGraphs.filter((g) => CORE.includes(g));

describe('every example graph on webgpu agrees with wasm', () => {
  it('knows how to shrink every example graph', () => {
    expect(allGraphs.filter((g) => !(g in SHRINK))).toEqual([]);
    expect(CORE.filter((g) => !allGraphs.includes(g))).toEqual([]);
  });

  it.each(graphs)('%s', async (graph) => {
    if (noAdapter) {
      console.warn(`skipped ${graph}: ${noAdapter}`);
      return;
    }
    // Unshrunk, a graph can take many minutes on SwiftShader: a new example needs its SHRINK entry first.
    if (!(graph in SHRINK)) throw new Error(`${graph} has no SHRINK entry in this test; add --set overrides that keep its nodes but cut sizes and steps.`);
    const wasm = await run(graph, 'wasm', path.join(tmp, graph, 'wasm'));
    const gpu = await run(graph, 'webgpu', path.join(tmp, graph, 'webgpu'));
    expect(wasm.backend).toBe('wasm');
    expect(gpu.backend).toBe('webgpu');
    for (const [id, n] of Object.entries(wasm.nodes)) expect(gpu.nodes[id]?.status, id).toBe(n.status);

    const files = await listFiles(path.join(tmp, graph, 'wasm'));
    expect(await listFiles(path.join(tmp, graph, 'webgpu'))).toEqual(files);
    let worstPx = 0;
    for (const f of files.filter((x) => /\.(png|jpe?g)$/i.test(x))) {
      const d = await maxPixelDiff(path.join(tmp, graph, 'wasm', f), path.join(tmp, graph, 'webgpu', f));
      worstPx = Math.max(worstPx, d);
      expect(d, `${f}: max pixel difference (of 255)`).toBeLessThanOrEqual(IMAGE_TOL);
    }

    const a = numbers(wasm.values);
    const b = numbers(gpu.values);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    let worstAbs = 0;
    let worstKey = '';
    for (const [k, x] of a) {
      if (/(^|\.)(ms\w*|\w*Ms|elapsed\w*|bytes)$/.test(k)) continue; // timings and file sizes are not results
      const y = b.get(k)!;
      const d = Math.abs(x - y);
      if (d > worstAbs) [worstAbs, worstKey] = [d, k];
      expect(d, `${k}: wasm ${x} vs webgpu ${y}`).toBeLessThanOrEqual(ABS + REL * Math.max(Math.abs(x), Math.abs(y)));
    }
    const line = `  ${graph.padEnd(22)} wasm ${(wasm.ms / 1000).toFixed(1)} s, webgpu ${(gpu.ms / 1000).toFixed(1)} s; max pixel Δ ${worstPx}/255 over ${files.length} file(s); max number Δ ${worstAbs.toExponential(2)}${worstKey ? ` (${worstKey})` : ''} over ${a.size}`;
    timings.push(line);
    console.log(`webgpu vs wasm:${line}`);
  }, 1_200_000);
});
