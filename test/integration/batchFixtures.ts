/** Shared by the streaming and distributed batch tests and bench/scale.ts: generated images, a CLI runner, a private redis-server. */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'bin/backlit.js');

/** Deterministic small test photos (smooth gradients + a seeded speckle), split over two sub-folders. */
export async function makeImages(dir: string, n: number, side = 32, sub = ['a', 'b/c']): Promise<string[]> {
  const rels: string[] = [];
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < n; i++) {
    const rel = `${sub[i % sub.length]}/img-${String(i).padStart(5, '0')}.png`;
    const data = Buffer.alloc(side * side * 3);
    const a = rand(), b = rand(), c = rand();
    for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) {
      const o = (y * side + x) * 3;
      data[o] = Math.min(255, Math.round(255 * (0.2 * a + (0.5 * x) / side) + 20 * rand()));
      data[o + 1] = Math.min(255, Math.round(255 * (0.2 * b + (0.4 * y) / side) + 20 * rand()));
      data[o + 2] = Math.min(255, Math.round(255 * 0.3 * c + 20 * rand()));
    }
    await fs.mkdir(path.join(dir, path.dirname(rel)), { recursive: true });
    await sharp(data, { raw: { width: side, height: side, channels: 3 } }).png().toFile(path.join(dir, rel));
    rels.push(rel);
  }
  return rels;
}

/** A random-init enhancer as .safetensors (identity-start: output ≈ input, deterministic). */
export async function writeEnhancer(file: string, seed = 7): Promise<void> {
  const { EnhancerNet } = await import('../../src/ml/enhancer/network');
  const { encodeEnhancer } = await import('../../src/ml/training/enhancerFiles');
  const net = EnhancerNet.create(seed);
  await fs.writeFile(file, encodeEnhancer(net));
  net.dispose();
}

export interface BatchGraphOptions {
  source: string;
  weights?: string;
  chunkSize?: number;
  /** Per-image node: enhance (needs weights) or exposure. */
  op?: 'enhance' | 'exposure';
  /** Add Encode Images → Mean Embedding (streamed reducer) and a residual.json from it. */
  encode?: boolean;
  /** A small second set for v_neg (static). */
  negSource?: string;
}

/** A batch graph: loader (streamed) → Enhance/Exposure → Output, and optionally → Encode → Mean → Residual Vector. */
export function batchGraph(o: BatchGraphOptions): object {
  const nodes: object[] = [
    { id: 'load', type: 'image-loader', params: { source: o.source }, position: { x: 0, y: 0 } },
    o.op === 'exposure'
      ? { id: 'op', type: 'exposure', params: { stops: 1, gamma: 1.2 }, position: { x: 300, y: 0 } }
      : { id: 'op', type: 'enhance', params: { weights: o.weights, mode: 'full' }, position: { x: 300, y: 0 } },
    { id: 'save', type: 'output', params: { folder: 'out' }, position: { x: 600, y: 0 } },
  ];
  const edges: object[] = [
    { from: { node: 'load', port: 'images' }, to: { node: 'op', port: 'images' } },
    { from: { node: 'op', port: 'images' }, to: { node: 'save', port: 'images' } },
  ];
  if (o.encode) {
    nodes.push(
      { id: 'encoder', type: 'encoder', params: { model: 'stats' }, position: { x: 0, y: 300 } },
      { id: 'encode', type: 'encode-images', params: {}, position: { x: 300, y: 300 } },
      { id: 'v-pos', type: 'mean-embedding', params: {}, position: { x: 600, y: 300 } },
      { id: 'neg', type: 'image-loader', params: { source: o.negSource ?? 'samples/well-lit/opencv_*', maxSide: 64 }, position: { x: 0, y: 600 } },
      { id: 'encode-neg', type: 'encode-images', params: {}, position: { x: 300, y: 600 } },
      { id: 'v-neg', type: 'mean-embedding', params: {}, position: { x: 600, y: 600 } },
      { id: 'residual', type: 'residual-vector', params: { saveAs: 'residual.json' }, position: { x: 900, y: 450 } },
    );
    edges.push(
      { from: { node: 'load', port: 'images' }, to: { node: 'encode', port: 'images' } },
      { from: { node: 'encoder', port: 'encoder' }, to: { node: 'encode', port: 'encoder' } },
      { from: { node: 'encode', port: 'embeddings' }, to: { node: 'v-pos', port: 'embeddings' } },
      { from: { node: 'neg', port: 'images' }, to: { node: 'encode-neg', port: 'images' } },
      { from: { node: 'encoder', port: 'encoder' }, to: { node: 'encode-neg', port: 'encoder' } },
      { from: { node: 'encode-neg', port: 'embeddings' }, to: { node: 'v-neg', port: 'embeddings' } },
      { from: { node: 'v-pos', port: 'mean' }, to: { node: 'residual', port: 'wellLit' } },
      { from: { node: 'v-neg', port: 'mean' }, to: { node: 'residual', port: 'backlit' } },
    );
  }
  return { format: 'backlit-graph', version: 1, meta: { name: 'batch test', batch: { loader: 'load', chunkSize: o.chunkSize ?? 8 } }, nodes, edges };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Peak resident set size of the CLI process (VmHWM from /proc), in MiB; 0 if unreadable. */
  peakRssMiB: number;
  ms: number;
}

/** Runs `node bin/backlit.js …`, sampling its peak RSS (VmHWM) while it runs. */
export function cli(args: string[], opts: { onStderr?(chunk: string): void } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
    let stdout = '';
    let stderr = '';
    let peak = 0;
    const sample = setInterval(() => {
      void fs.readFile(`/proc/${child.pid}/status`, 'utf8').then((s) => {
        const m = /VmHWM:\s+(\d+) kB/.exec(s);
        if (m) peak = Math.max(peak, Number(m[1]) / 1024);
      }, () => undefined);
    }, 50);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      opts.onStderr?.(String(d));
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(sample);
      resolve({ code, stdout, stderr, peakRssMiB: peak, ms: Date.now() - t0 });
    });
  });
}

export function startWorker(redisUrl: string, extra: string[] = []): { child: ChildProcess; log: () => string } {
  const child = spawn(process.execPath, [BIN, 'worker', '--redis', redisUrl, ...extra], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  return { child, log: () => log };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** A private redis-server on a free loopback port (no persistence); stop() ends it. */
export async function startRedis(): Promise<{ url: string; port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.end();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error('redis-server did not start (is it installed? apt-get install redis-server)');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Every file under dir (relative paths), skipping the resume records and temp files. */
export async function listOutputs(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== '.backlit-batch') await walk(p);
      } else out.push(path.relative(dir, p));
    }
  };
  await walk(dir);
  return out.sort();
}
