import * as net from 'node:net';
import { FlowProducer, Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { BacklitError, type ErrorInfo, type Graph, type NodeRegistry, type NodeResult } from '../engine';
import {
  BatchRunner,
  chunksOf,
  mergePartialMaps,
  type BatchPlan,
  type BatchSummary,
  type ChunkResult,
  type ImageFailure,
  type ReducerPartial,
  type WrittenOutput,
} from '../engine/batch';
import { batchReport, printReport } from './batch';
import { listBatchFiles, type BatchFileRef } from './batchFiles';
import { NodeHost } from './nodeHost';

/**
 * Distributed batch runs on BullMQ + Redis. A run is one BullMQ flow: a parent "reduce" job whose
 * children are shard jobs (one shard = one chunk of the streamed folder = one BatchRunner.runChunk on
 * a worker). BullMQ delivers at least once: a shard may run twice (a worker killed mid-shard is
 * detected as stalled and its job handed to another worker; failures retry with backoff). That is
 * safe because a shard's outputs are atomic replaces of names derived from the input paths (same
 * bytes each time) and its result is a pure function of its files. The parent runs when all
 * children are done and merges their partial means exactly (float64 sums and counts).
 */
export const SHARD_QUEUE = 'backlit-shards';
export const REDUCE_QUEUE = 'backlit-reduce';

/** What every shard of a run needs; stored once, in the parent job's data. */
export interface RunSpec {
  runId: string;
  graph: Graph;
  plan: BatchPlan;
  outDir: string;
  baseDirs: string[];
  resume: boolean;
}

export interface ShardData {
  runId: string;
  index: number;
  files: BatchFileRef[];
}

/** A shard's job result, kept small (it lives in Redis until the run is reduced). */
export interface ShardResult {
  index: number;
  key: string;
  images: number;
  resumed: boolean;
  failures: ImageFailure[];
  written: Record<string, number>;
  /** A few written files, for the caller's summary. */
  sample: WrittenOutput[];
  partials: Record<string, ReducerPartial>;
  /** Time inside runChunk on the worker (ms), for the per-job overhead measurement. */
  workMs: number;
}

export interface ReduceResult {
  images: number;
  shards: number;
  resumedImages: number;
  resumedShards: number;
  failures: ImageFailure[];
  failedCount: number;
  written: Record<string, number>;
  sample: Record<string, WrittenOutput[]>;
  partials: Record<string, ReducerPartial>;
  /** Shards that failed after all retries (their images are missing), by job key. */
  failedShards: Record<string, string>;
  workMs: number;
}

export function shardResultOf(index: number, r: ChunkResult, workMs: number): ShardResult {
  const written: Record<string, number> = {};
  for (const o of r.outputs) written[o.nodeId ?? '?'] = (written[o.nodeId ?? '?'] ?? 0) + 1;
  return { index, key: r.key, images: r.images, resumed: Boolean(r.resumed), failures: r.failures, written, sample: r.outputs.slice(0, 3), partials: r.partials, workMs };
}

/** Merges children results in shard order (so float64 sums add up in a fixed order). */
export function reduceShards(results: ShardResult[], failedShards: Record<string, string>): ReduceResult {
  const out: ReduceResult = { images: 0, shards: 0, resumedImages: 0, resumedShards: 0, failures: [], failedCount: 0, written: {}, sample: {}, partials: {}, failedShards, workMs: 0 };
  for (const r of [...results].sort((a, b) => a.index - b.index)) {
    out.shards++;
    out.images += r.images;
    if (r.resumed) {
      out.resumedShards++;
      out.resumedImages += r.images;
    }
    out.failedCount += r.failures.length;
    if (out.failures.length < 100) out.failures.push(...r.failures.slice(0, 100 - out.failures.length));
    for (const [id, n] of Object.entries(r.written)) out.written[id] = (out.written[id] ?? 0) + n;
    for (const o of r.sample) {
      const rows = (out.sample[o.nodeId ?? '?'] ??= []);
      if (rows.length < 20) rows.push(o);
    }
    mergePartialMaps(out.partials, r.partials);
    out.workMs += r.workMs;
  }
  return out;
}

/** redis://[user:pass@]host:port[/db] → BullMQ connection options. */
export function connectionOf(url: string): { host: string; port: number; username?: string; password?: string; db: number; tls?: object; maxRetriesPerRequest: null } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new BacklitError({ code: 'queue-unavailable', field: '--redis', message: `"${url}" is not a Redis URL.`, fix: 'write it as redis://host:port, e.g. redis://127.0.0.1:6379.' });
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new BacklitError({ code: 'queue-unavailable', field: '--redis', message: `"${url}" is not a redis:// URL.`, fix: 'write it as redis://host:port.' });
  return {
    host: u.hostname || '127.0.0.1',
    port: Number(u.port || 6379),
    username: u.username || undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
  };
}

/** An ioredis client for BullMQ (bullmq 6 under native ESM wants the client, not options). */
export function redisClient(url: string): Redis {
  return new Redis(connectionOf(url));
}

/**
 * Checks, before anything is queued, that Redis answers and keeps every key: BullMQ loses jobs
 * under any eviction policy other than noeviction. Speaks RESP directly (a few bytes), so the
 * error is immediate and says what to do instead of a reconnect loop.
 */
export async function checkRedis(url: string, timeoutMs = 3000): Promise<void> {
  const c = connectionOf(url);
  const cmd = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  const reply = await new Promise<string>((resolve, reject) => {
    const sock = net.connect({ host: c.host, port: c.port });
    let data = '';
    const done = (err?: Error) => {
      sock.destroy();
      if (err) reject(err);
      else resolve(data);
    };
    sock.setTimeout(timeoutMs, () => done(new Error(`no answer within ${timeoutMs} ms`)));
    sock.on('error', (e) => done(e));
    sock.on('connect', () => {
      const auth = c.password ? (c.username ? cmd('AUTH', c.username, c.password) : cmd('AUTH', c.password)) : '';
      sock.write(`${auth}${cmd('CONFIG', 'GET', 'maxmemory-policy')}`);
    });
    sock.on('data', (d) => {
      data += d.toString('utf8');
      if (/maxmemory-policy\r\n\$\d+\r\n[^\r]*\r\n/.test(data) || /^-|\r\n-/.test(data)) done();
    });
  }).catch((err: Error) => {
    throw new BacklitError({
      code: 'queue-unavailable',
      field: '--redis',
      message: `Redis at ${c.host}:${c.port} is unreachable (${(err as NodeJS.ErrnoException).code ?? err.message}).`,
      fix: 'start one (e.g. `redis-server --port 6379 --maxmemory-policy noeviction`) or pass the right --redis redis://host:port.',
    });
  });
  if (/-(NOAUTH|WRONGPASS)/.test(reply)) throw new BacklitError({ code: 'queue-unavailable', field: '--redis', message: `Redis at ${c.host}:${c.port} refused the credentials.`, fix: 'put the password in the URL: redis://:password@host:port.' });
  const m = /maxmemory-policy\r\n\$\d+\r\n([^\r]*)\r\n/.exec(reply);
  if (m && m[1] !== 'noeviction') {
    throw new BacklitError({
      code: 'queue-unavailable',
      field: '--redis',
      message: `Redis at ${c.host}:${c.port} has maxmemory-policy "${m[1]}"; it may evict queued jobs and lose images.`,
      fix: 'run `redis-cli -h host -p port CONFIG SET maxmemory-policy noeviction` (and set it in redis.conf).',
    });
  }
  // CONFIG disabled (some managed Redis): BullMQ itself warns if the policy is wrong.
}

export interface DistributedArgs {
  graphPath: string;
  graph: Graph;
  registry: NodeRegistry;
  plan: BatchPlan;
  outDir: string;
  baseDirs: string[];
  redis: string;
  shardSize: number;
  resume: boolean;
  setupBackend(): Promise<void>;
  json?: boolean;
  quiet?: boolean;
  /** Progress callback (tests, bench); the CLI prints "k of N images". */
  onProgress?(p: { shardsDone: number; shards: number; images: number; total: number }): void;
}

/** `backlit run graph.json --redis …`: queues a flow of shard jobs, follows it, runs the post nodes. */
export async function runDistributed(args: DistributedArgs): Promise<number> {
  const t0 = Date.now();
  await checkRedis(args.redis);
  const connection = connectionOf(args.redis);
  const client = redisClient(args.redis);
  const runId = `${args.plan.pipelineKey}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const spec: RunSpec = { runId, graph: args.graph, plan: args.plan, outDir: args.outDir, baseDirs: args.baseDirs, resume: args.resume };
  const children = [];
  let total = 0;
  for await (const files of chunksOf(listBatchFiles(args.plan.source, args.baseDirs), args.shardSize)) {
    const data: ShardData = { runId, index: children.length, files };
    total += files.length;
    children.push({
      name: 'shard',
      queueName: SHARD_QUEUE,
      data,
      opts: {
        jobId: `${runId}-${data.index}`,
        attempts: 3,
        backoff: { type: 'exponential', delay: 1000 },
        // A shard that fails after its retries does not block the run: the parent reduces the rest and reports it.
        ignoreDependencyOnFailure: true,
        removeOnComplete: true,
        removeOnFail: { age: 24 * 3600 },
      },
    });
  }
  if (!children.length) throw new BacklitError({ code: 'no-images', nodeId: args.plan.loaderId, nodeType: 'Image Loader', field: 'source', message: `No images found for "${args.plan.source}".`, fix: 'point it at a folder of images (relative to the graph file).' });

  const flow = new FlowProducer({ connection: client });
  const shardQueue = new Queue(SHARD_QUEUE, { connection: client });
  const reduceQueue = new Queue(REDUCE_QUEUE, { connection: client });
  const errors: ErrorInfo[] = [];
  let reduced: ReduceResult | undefined;
  const abort = new AbortController();
  const onSigint = () => {
    process.stderr.write(`\nstopped following run ${runId}; its jobs stay queued (workers finish them).\n`);
    abort.abort();
  };
  process.once('SIGINT', onSigint);
  try {
    await flow.add({ name: 'reduce', queueName: REDUCE_QUEUE, data: spec, opts: { jobId: runId, removeOnComplete: { age: 3600 }, removeOnFail: { age: 24 * 3600 } }, children });
    const say = (s: string) => {
      if (!args.quiet) process.stderr.write(s);
    };
    say(`queued run ${runId}: ${total} images in ${children.length} shard(s) of ≤${args.shardSize} on ${connection.host}:${connection.port}\n`);
    let lastLine = '';
    let warnedNoWorkers = false;
    for (;;) {
      if (abort.signal.aborted) throw new BacklitError({ code: 'cancelled', message: 'Stopped following the run.', fix: `its shards stay queued; run the same command again later to pick up the finished ones.` });
      const parent = await Job.fromId(reduceQueue, runId);
      if (!parent) throw new BacklitError({ code: 'queue-unavailable', message: `The run's parent job ${runId} disappeared from Redis.`, fix: 'check that Redis was not flushed or restarted without persistence, then run again (finished shards resume).' });
      const state = await parent.getState();
      if (state === 'completed') {
        reduced = parent.returnvalue as ReduceResult;
        break;
      }
      if (state === 'failed') throw new BacklitError({ code: 'node-failed', message: `The reduce job failed: ${parent.failedReason}.`, fix: 'see the worker logs.' });
      const counts = await parent.getDependenciesCount({ processed: true, ignored: true });
      const shardsDone = (counts.processed ?? 0) + (counts.ignored ?? 0);
      const images = Math.min(total, shardsDone * args.shardSize);
      args.onProgress?.({ shardsDone, shards: children.length, images, total });
      const line = `distributed: ${images} of ${total} images (${shardsDone} of ${children.length} shards)`;
      if (line !== lastLine) {
        say(process.stderr.isTTY ? `\r${line}` : `${line}\n`);
        lastLine = line;
      }
      if (!warnedNoWorkers && (await shardQueue.getWorkersCount()) === 0) {
        say(`\nno worker is connected yet: start some with \`backlit worker --redis ${args.redis}\`\n`);
        warnedNoWorkers = true;
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    if (process.stderr.isTTY && !args.quiet) process.stderr.write('\n');
  } catch (err) {
    if (!(err instanceof BacklitError)) throw err;
    errors.push(err.info);
  } finally {
    process.off('SIGINT', onSigint);
    await Promise.all([flow.close(), shardQueue.close(), reduceQueue.close()]);
    client.disconnect();
  }

  // Post nodes (e.g. Residual Vector on the merged means) run here, once.
  let finalNodes: Record<string, NodeResult> = {};
  await args.setupBackend();
  const runner = new BatchRunner(args.registry, new NodeHost({ baseDirs: args.baseDirs, outDir: args.outDir }), args.graph, args.plan);
  let summary: BatchSummary | undefined;
  if (reduced) {
    for (const [key, reason] of Object.entries(reduced.failedShards)) errors.push({ code: 'node-failed', nodeId: args.plan.loaderId, field: 'shard', message: `Shard ${key} failed after 3 attempts: ${reason}.`, fix: 'see the worker logs; run again to redo only the missing shards.' });
    summary = { chunks: reduced.shards, images: reduced.images, failures: reduced.failures, resumedChunks: reduced.resumedShards, resumedImages: reduced.resumedImages, written: reduced.written, rows: reduced.sample, partials: reduced.partials, elapsedMs: Date.now() - t0 };
    // Failed-image count beyond the 100 kept failures.
    for (let i = reduced.failures.length; i < reduced.failedCount; i++) summary.failures.push({ name: '…', message: 'see the worker logs' });
    try {
      const fin = await runner.finish(reduced.partials, { staticRanElsewhere: true });
      if (fin) {
        finalNodes = fin.nodes;
        errors.push(...fin.errors, ...Object.values(fin.nodes).flatMap((r) => (r.status === 'error' && r.error ? [r.error] : [])));
      }
    } catch (err) {
      if (!(err instanceof BacklitError)) throw err;
      errors.push(err.info);
    }
  }
  const report = await batchReport({ graph: args.graph, registry: args.registry, plan: args.plan, runner, summary, finalNodes, errors, outDir: args.outDir, graphPath: args.graphPath, elapsedMs: Date.now() - t0, mode: 'distributed', chunkSize: args.shardSize });
  if (reduced) report.batch.workerBusyMs = reduced.workMs;
  runner.dispose();
  return printReport(report, { json: args.json });
}

