/**
 * Scaling bench for batch runs: images/s for Encode (stats encoder → Mean Embedding) and Enhance
 * (a random-init enhancer, full resolution → Output) on generated 32×32 images, with
 *   - 1 process  (`backlit run` streaming locally, chunk = shard size),
 *   - 1 worker   (`backlit run --redis` + one `backlit worker`),
 *   - 2 workers  (two `backlit worker` processes),
 * through a private redis-server on a free loopback port. Per-job overhead = (1-worker wall time −
 * worker busy time inside shards) / shards; scaling efficiency = rate(2 workers) / (2 × rate(1 worker)).
 * Times are the CLI's own elapsedMs (listing, static nodes such as model loading, all chunks, the
 * reduce); workers are started and ready before the clock starts, and load their models on their
 * first shard (inside the measured time, as in a real run).
 *
 *   npx tsx bench/scale.ts                      # ~3-5 min on 2 busy cores
 *   SCALE_ENCODE=320 SCALE_ENHANCE=96 npx tsx bench/scale.ts
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { batchGraph, cli, makeImages, startRedis, startWorker, writeEnhancer } from '../test/integration/batchFixtures';

const ENCODE_N = Number(process.env.SCALE_ENCODE ?? 160);
const ENHANCE_N = Number(process.env.SCALE_ENHANCE ?? 48);
const SHARD = Number(process.env.SCALE_SHARD ?? 8);

interface Row {
  workload: string;
  mode: string;
  images: number;
  ms: number;
  rate: number;
  peakRssMiB: number;
  busyMs?: number;
}

async function main() {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'backlit-scale-'));
  const redis = await startRedis();
  const rows: Row[] = [];
  try {
    await makeImages(path.join(tmp, 'encode'), ENCODE_N);
    await makeImages(path.join(tmp, 'enhance'), ENHANCE_N);
    await writeEnhancer(path.join(tmp, 'enh.safetensors'));
    const encodeGraph = {
      format: 'backlit-graph',
      version: 1,
      meta: { name: 'encode', batch: { loader: 'load', chunkSize: SHARD } },
      nodes: [
        { id: 'load', type: 'image-loader', params: { source: path.join(tmp, 'encode') }, position: { x: 0, y: 0 } },
        { id: 'encoder', type: 'encoder', params: { model: 'stats' }, position: { x: 0, y: 200 } },
        { id: 'encode', type: 'encode-images', params: {}, position: { x: 300, y: 0 } },
        { id: 'mean', type: 'mean-embedding', params: {}, position: { x: 600, y: 0 } },
      ],
      edges: [
        { from: { node: 'load', port: 'images' }, to: { node: 'encode', port: 'images' } },
        { from: { node: 'encoder', port: 'encoder' }, to: { node: 'encode', port: 'encoder' } },
        { from: { node: 'encode', port: 'embeddings' }, to: { node: 'mean', port: 'embeddings' } },
      ],
    };
    await fs.writeFile(path.join(tmp, 'encode.json'), JSON.stringify(encodeGraph));
    await fs.writeFile(path.join(tmp, 'enhance.json'), JSON.stringify(batchGraph({ source: path.join(tmp, 'enhance'), weights: path.join(tmp, 'enh.safetensors'), op: 'enhance', chunkSize: SHARD })));

    for (const [workload, n] of [['Encode', ENCODE_N], ['Enhance', ENHANCE_N]] as const) {
      const graph = path.join(tmp, `${workload.toLowerCase()}.json`);
      const run = async (mode: string, extra: string[]) => {
        const out = path.join(tmp, `out-${workload}-${mode.replace(/\W+/g, '')}`);
        const r = await cli(['run', graph, '--out', out, '--json', '--quiet', '--shard-size', String(SHARD), ...extra]);
        if (r.code !== 0) throw new Error(`${workload} ${mode} failed: ${r.stderr}`);
        const json = JSON.parse(r.stdout) as { elapsedMs: number; batch: { workerBusyMs?: number } };
        const ms = json.elapsedMs;
        rows.push({ workload, mode, images: n, ms, rate: n / (ms / 1000), peakRssMiB: r.peakRssMiB, busyMs: json.batch.workerBusyMs });
        process.stderr.write(`${workload} ${mode}: ${n} images in ${ms} ms\n`);
      };
      await run('1 process', ['--chunk-size', String(SHARD)]);
      for (const workers of [1, 2]) {
        const ws = Array.from({ length: workers }, () => startWorker(redis.url));
        await waitReady(ws.map((w) => w.log));
        try {
          await run(`${workers} worker${workers > 1 ? 's' : ''} (Redis)`, ['--redis', redis.url]);
        } finally {
          for (const w of ws) w.child.kill('SIGTERM');
          await Promise.all(ws.map((w) => new Promise((r) => (w.child.exitCode !== null ? r(null) : w.child.once('exit', r)))));
        }
      }
    }
  } finally {
    await redis.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  }

  const lines = [
    `Batch scaling on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), wasm backend, 32×32 images, shard = chunk = ${SHARD} images.`,
    '',
    '| workload | mode | images | time (s) | images/s | per-job overhead (ms) | scaling efficiency | caller peak RSS (MiB) |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const one = rows.find((x) => x.workload === r.workload && x.mode.startsWith('1 worker'));
    const shards = Math.ceil(r.images / SHARD);
    // Per job: the caller's wall time not spent inside a shard on the (single) worker — queueing,
    // Redis round trips, the parent's reduce, polling and the final post-node run — per shard.
    const overhead = r.mode.startsWith('1 worker') && r.busyMs !== undefined ? ((r.ms - r.busyMs) / shards).toFixed(0) : '';
    const eff = r.mode.startsWith('2 workers') && one ? `${((r.rate / (2 * one.rate)) * 100).toFixed(0)} %` : '';
    lines.push(`| ${r.workload} | ${r.mode} | ${r.images} | ${(r.ms / 1000).toFixed(1)} | ${r.rate.toFixed(1)} | ${overhead} | ${eff} | ${r.peakRssMiB.toFixed(0)} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Waits until every worker has logged "ready" (tfjs, node registry and queue connections up). */
async function waitReady(logs: Array<() => string>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!logs.every((l) => /ready on/.test(l()))) {
    if (Date.now() > deadline) throw new Error(`workers did not start:\n${logs.map((l) => l()).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

await main();
