import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { Job, Queue, Worker } from 'bullmq';
import { Option, type Command } from 'commander';
import { BacklitError, formatError, type NodeRegistry } from '../engine';
import { BatchRunner } from '../engine/batch';
import { useBackend, type BackendName } from '../ml/backend';
import { batchFileOf } from './batchFiles';
import { checkRedis, connectionOf, redisClient, REDUCE_QUEUE, reduceShards, SHARD_QUEUE, shardResultOf, type RunSpec, type ShardData, type ShardResult } from './distributed';
import { loadNodeRegistry } from './loadNodes';
import { NodeHost, REPO_ROOT } from './nodeHost';
import { configureEnhanceEngine, ENHANCE_ENGINES, type EnhanceEngineChoice } from './onnxEngine';
import { availableCores, wasmThreadCount } from './wasmThreads';

interface WorkerOptions {
  redis: string;
  concurrency: string;
  backend: BackendName;
  engine: EnhanceEngineChoice;
  lockMs: string;
  quiet?: boolean;
}

/** `backlit worker --redis redis://host:port [--concurrency N]` */
export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('Process shards of distributed batch runs (`backlit run … --redis`) from a Redis queue until stopped (Ctrl-C / SIGTERM).')
    .requiredOption('--redis <url>', 'Redis URL, e.g. redis://127.0.0.1:6379 (maxmemory-policy must be noeviction)')
    .option('--concurrency <n>', 'shards processed at once: N worker processes (tfjs runs one graph at a time per process)', '1')
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(['wasm', 'cpu']).default('wasm'))
    .addOption(new Option('--engine <name>', 'Enhance inference, as in `backlit run`: onnx = onnxruntime-node; auto = onnx when it loads, else tfjs').choices([...ENHANCE_ENGINES]).default('auto'))
    .option('--lock-ms <ms>', 'job lock; a worker silent this long is presumed dead and its shard goes to another worker', '30000')
    .option('--quiet', 'no per-shard log lines')
    .action(async (opts: WorkerOptions) => {
      const n = Number(opts.concurrency);
      const lockMs = Number(opts.lockMs);
      if (!Number.isInteger(n) || n < 1 || n > 256) throw new BacklitError({ code: 'bad-set-option', field: '--concurrency', message: `--concurrency must be a whole number from 1 to 256, not "${opts.concurrency}".`, fix: 'e.g. --concurrency 2 (one per core or GPU).' });
      if (!Number.isFinite(lockMs) || lockMs < 1000) throw new BacklitError({ code: 'bad-set-option', field: '--lock-ms', message: `--lock-ms must be at least 1000, not "${opts.lockMs}".`, fix: 'e.g. --lock-ms 30000.' });
      await checkRedis(opts.redis);
      if (n > 1) await runChildren(n, opts, program.opts<{ threads?: number }>().threads ?? availableCores());
      else await runWorker(opts.redis, { backend: opts.backend, engine: opts.engine, lockMs, quiet: opts.quiet });
    });
}

/** N single-shard processes: real parallelism, since tfjs (wasm/cpu) runs one graph at a time per process. */
async function runChildren(n: number, opts: WorkerOptions, cores: number): Promise<void> {
  const bin = path.join(REPO_ROOT, 'bin/backlit.js');
  // The cores are shared between the N processes (wasm and onnxruntime threads each), not oversubscribed N-fold.
  const threads = String(Math.max(1, Math.floor(cores / n)));
  const kids: ChildProcess[] = [];
  for (let i = 0; i < n; i++) {
    kids.push(spawn(process.execPath, [bin, '--threads', threads, 'worker', '--redis', opts.redis, '--concurrency', '1', '--backend', opts.backend, '--engine', opts.engine, '--lock-ms', opts.lockMs, ...(opts.quiet ? ['--quiet'] : [])], { stdio: 'inherit' }));
  }
  const stop = () => {
    for (const k of kids) k.kill('SIGTERM');
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const codes = await Promise.all(kids.map((k) => new Promise<number>((resolve) => k.on('exit', (code) => resolve(code ?? 1)))));
  process.exitCode = codes.every((c) => c === 0) ? 0 : 1;
}

/**
 * One worker process: models are loaded once per run and stay warm across its shards (the
 * BatchRunner's executor keeps static nodes cached); shards run one at a time.
 */
export async function runWorker(redis: string, opts: { backend: BackendName; engine?: EnhanceEngineChoice; lockMs: number; quiet?: boolean; registry?: NodeRegistry }): Promise<void> {
  await useBackend(opts.backend, { wasmDir: path.join(REPO_ROOT, 'node_modules/@tensorflow/tfjs-backend-wasm/dist/') });
  const engine = await configureEnhanceEngine(opts.engine ?? 'auto', wasmThreadCount() ?? availableCores());
  const registry = opts.registry ?? (await loadNodeRegistry());
  const connection = connectionOf(redis);
  const client = redisClient(redis);
  const reduceQueue = new Queue(REDUCE_QUEUE, { connection: client });
  const runners = new Map<string, { runner: BatchRunner; spec: RunSpec }>();
  const log = (s: string) => {
    if (!opts.quiet) process.stderr.write(`[worker ${process.pid}] ${s}\n`);
  };

  const runnerFor = async (runId: string): Promise<{ runner: BatchRunner; spec: RunSpec }> => {
    const hit = runners.get(runId);
    if (hit) return hit;
    const parent = await Job.fromId(reduceQueue, runId); // the parent's job id is the run id
    if (!parent) throw new Error(`run ${runId} has no parent job in Redis (flushed?)`);
    const spec = parent.data as RunSpec;
    const runner = new BatchRunner(registry, new NodeHost({ baseDirs: spec.baseDirs, outDir: spec.outDir }), spec.graph, spec.plan, { resume: spec.resume });
    // Keep the two most recent runs warm; older ones free their models.
    for (const [id, old] of runners) if (runners.size >= 2) {
      old.runner.dispose();
      runners.delete(id);
    }
    const entry = { runner, spec };
    runners.set(runId, entry);
    return entry;
  };

  // One shard at a time per process: Executor runs are not re-entrant and tfjs scopes are global.
  const shards = new Worker<ShardData, ShardResult>(
    SHARD_QUEUE,
    async (job) => {
      const t0 = Date.now();
      log(`shard ${job.data.index} of ${job.data.runId}: started (attempt ${job.attemptsMade + 1})`);
      const { runner } = await runnerFor(job.data.runId);
      const r = await runner.runChunk(job.data.files.map(batchFileOf));
      const workMs = Date.now() - t0;
      log(`shard ${job.data.index} of ${job.data.runId}: ${r.images} image(s)${r.resumed ? ' (resumed)' : ''}, ${r.failures.length} failed, ${workMs} ms (attempt ${job.attemptsMade + 1})`);
      return shardResultOf(job.data.index, r, workMs);
    },
    { connection: client, concurrency: 1, lockDuration: opts.lockMs, stalledInterval: Math.max(1000, Math.round(opts.lockMs / 2)), maxStalledCount: 3 },
  );
  const reducer = new Worker<RunSpec>(
    REDUCE_QUEUE,
    async (job) => {
      const values = Object.values(await job.getChildrenValues<ShardResult>());
      const ignored = await job.getIgnoredChildrenFailures();
      const result = reduceShards(values, ignored);
      log(`reduced run ${job.data.runId}: ${result.images} image(s) from ${result.shards} shard(s)`);
      runners.get(job.data.runId)?.runner.dispose();
      runners.delete(job.data.runId);
      return result;
    },
    { connection: client, concurrency: 1 },
  );
  let lastError = '';
  for (const w of [shards, reducer]) {
    w.on('failed', (job, err) => log(`job ${job?.id} failed (attempt ${job?.attemptsMade}): ${err instanceof BacklitError ? formatError(err.info) : err.message}`));
    w.on('error', (err) => {
      if (err.message !== lastError) log(`queue error: ${err.message}`);
      lastError = err.message;
    });
  }
  log(`ready on ${connection.host}:${connection.port} (${opts.backend}; ${engine})`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      log('stopping after the current shard…');
      // If Redis is gone, close() waits forever on reconnects: give up after the lock time (the shard, if any, is re-queued as stalled).
      setTimeout(() => {
        log('Redis did not answer while stopping; exiting anyway.');
        process.exit(1);
      }, Math.max(10_000, opts.lockMs)).unref();
      void Promise.all([shards.close(), reducer.close(), reduceQueue.close()]).then(() => {
        client.disconnect();
        resolve();
      });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  for (const { runner } of runners.values()) runner.dispose();
}
