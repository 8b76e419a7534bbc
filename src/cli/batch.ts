import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  BacklitError,
  formatError,
  viewOf,
  type ErrorInfo,
  type Graph,
  type NodeRegistry,
  type NodeResult,
  type PortKind,
  type PortView,
} from '../engine';
import { BatchRunner, batchMetaOf, planBatch, streamBatch, type BatchPlan, type BatchProgress, type BatchSummary } from '../engine/batch';
import { asBatchFiles, countBatchFiles, listBatchFiles } from './batchFiles';
import { NodeHost } from './nodeHost';

export interface BatchCliOptions {
  out: string;
  /** Sets up the tfjs backend (the CLI's choice); called before anything runs locally. */
  setupBackend(): Promise<void>;
  json?: boolean;
  quiet?: boolean;
  chunkSize?: string;
  batchLoader?: string;
  redis?: string;
  shardSize?: string;
  /** false (--no-resume): redo chunks even when a resume record says they are done. */
  resume?: boolean;
}

/** A batch run when the graph says so (`meta.batch`) or the command line asks for one. */
export function batchRequested(graph: Graph, cliOpts: object): boolean {
  const opts = cliOpts as Partial<BatchCliOptions>;
  return Boolean(batchMetaOf(graph) || opts.chunkSize || opts.redis || opts.shardSize || opts.batchLoader);
}

export const DEFAULT_CHUNK = 16;

export function positiveInt(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 10000) throw new BacklitError({ code: 'bad-set-option', field: flag, message: `${flag} must be a whole number from 1 to 10000, not "${value}".`, fix: `e.g. ${flag} 32.` });
  return n;
}

/** `backlit run` on a folder of any size: streams chunks locally, or shards through Redis with --redis. */
export async function runBatchCommand(graphPath: string, graph: Graph, registry: NodeRegistry, opts: BatchCliOptions): Promise<number> {
  const meta = batchMetaOf(graph) ?? {};
  const plan = planBatch(graph, registry, { loader: opts.batchLoader ?? meta.loader });
  const outDir = path.resolve(opts.out || path.join('out', path.basename(graphPath, '.json')));
  const baseDirs = [path.dirname(path.resolve(graphPath)), process.cwd()];
  if (opts.redis) {
    const { runDistributed } = await import('./distributed');
    return runDistributed({ graphPath, graph, registry, plan, outDir, baseDirs, redis: opts.redis, shardSize: positiveInt(opts.shardSize ?? opts.chunkSize, '--shard-size', meta.chunkSize ?? DEFAULT_CHUNK), resume: opts.resume !== false, setupBackend: opts.setupBackend, json: opts.json, quiet: opts.quiet });
  }
  const chunkSize = positiveInt(opts.chunkSize, '--chunk-size', meta.chunkSize ?? DEFAULT_CHUNK);
  await opts.setupBackend();
  const host = new NodeHost({ baseDirs, outDir });
  const abort = new AbortController();
  process.once('SIGINT', () => {
    process.stderr.write('\ncancelling… (finished chunks are kept; run again to resume)\n');
    abort.abort();
  });
  const runner = new BatchRunner(registry, host, graph, plan, { resume: opts.resume !== false, signal: abort.signal });
  const t0 = Date.now();
  const errors: ErrorInfo[] = [];
  let summary: BatchSummary | undefined;
  let finalNodes: Record<string, NodeResult> = {};
  try {
    const total = await countBatchFiles(plan.source, baseDirs);
    if (total === 0) throw new BacklitError({ code: 'no-images', nodeId: plan.loaderId, nodeType: 'Image Loader', field: 'source', message: `No images found for "${plan.source}".`, fix: 'point it at a folder of images or a glob such as photos/**/*.jpg (relative to the graph file).' });
    const progress = opts.quiet ? undefined : progressPrinter(total);
    summary = await streamBatch(runner, asBatchFiles(listBatchFiles(plan.source, baseDirs)), { chunkSize, total, signal: abort.signal, onProgress: progress });
    const fin = await runner.finish(summary.partials);
    if (fin) {
      finalNodes = fin.nodes;
      errors.push(...fin.errors, ...Object.values(fin.nodes).flatMap((r) => (r.status === 'error' && r.error ? [r.error] : [])));
    }
  } catch (err) {
    if (!(err instanceof BacklitError)) throw err;
    errors.push(err.info);
  }
  const result = await batchReport({ graph, registry, plan, runner, summary, finalNodes, errors, outDir, graphPath, elapsedMs: Date.now() - t0, mode: 'local', chunkSize });
  runner.dispose();
  return printReport(result, opts);
}

export interface BatchReport {
  ok: boolean;
  graph: string;
  backend: string;
  outDir: string;
  elapsedMs: number;
  nodes: Record<string, NodeResult>;
  written: Record<string, Array<Record<string, string | number>>>;
  values: Record<string, Record<string, PortView>>;
  errors: ErrorInfo[];
  batch: {
    mode: 'local' | 'distributed';
    loader: string;
    chunkSize: number;
    images: number;
    chunks: number;
    processed: number;
    resumedImages: number;
    failed: number;
    failures: BatchSummary['failures'];
    writtenCounts: Record<string, number>;
    imagesPerSecond: number;
    /** Distributed: total time workers spent inside shards (the rest of the wall time is queue, reduce and start-up overhead). */
    workerBusyMs?: number;
  };
}

const SUMMARISED = new Set<PortKind>(['Embedding', 'Residual', 'Scalar', 'Text', 'Report', 'PromptPair']);

/** The CLI's run summary shape (same fields as a plain run, plus `batch`). */
export async function batchReport(args: {
  graph: Graph;
  registry: NodeRegistry;
  plan: BatchPlan;
  runner: BatchRunner;
  summary?: BatchSummary;
  finalNodes: Record<string, NodeResult>;
  errors: ErrorInfo[];
  outDir: string;
  graphPath: string;
  elapsedMs: number;
  mode: 'local' | 'distributed';
  chunkSize: number;
}): Promise<BatchReport> {
  const { graph, registry, plan, runner, summary, finalNodes, errors } = args;
  const streamedOk = summary !== undefined && !errors.some((e) => e.nodeId && [plan.loaderId, ...plan.perImage, ...plan.reducers, ...plan.static].includes(e.nodeId));
  const nodes: Record<string, NodeResult> = {};
  for (const n of graph.nodes) {
    const fin = finalNodes[n.id];
    if (fin) nodes[n.id] = { ...fin, status: fin.status === 'cached' ? 'done' : fin.status };
    else {
      const err = errors.find((e) => e.nodeId === n.id);
      nodes[n.id] = { status: err ? 'error' : streamedOk && !plan.post.includes(n.id) ? 'done' : summary ? 'blocked' : 'error', elapsedMs: 0, error: err };
    }
  }
  const written: BatchReport['written'] = {};
  for (const [id, rows] of Object.entries(summary?.rows ?? {})) written[id] = rows.map((r) => ({ name: r.name, location: r.location, bytes: r.bytes, width: r.width ?? 0, height: r.height ?? 0 }));
  const values: BatchReport['values'] = {};
  for (const n of graph.nodes) {
    const def = registry.get(n.type);
    const outputs = runner.outputsOf(n.id);
    if (!def || !outputs || plan.perImage.includes(n.id)) continue;
    for (const [port, spec] of Object.entries(def.outputs)) {
      if (!SUMMARISED.has(spec.kind) || port === 'files' || outputs[port] === undefined) continue;
      (values[n.id] ??= {})[port] = await viewOf(spec.kind, outputs[port]);
    }
  }
  const images = summary?.images ?? 0;
  const failed = summary?.failures.length ?? 0;
  return {
    ok: errors.length === 0 && summary !== undefined && Object.values(nodes).every((r) => r.status === 'done'),
    graph: path.resolve(args.graphPath),
    backend: tf.getBackend() ?? 'none',
    outDir: args.outDir,
    elapsedMs: Math.round(args.elapsedMs),
    nodes,
    written,
    values,
    errors,
    batch: {
      mode: args.mode,
      loader: plan.loaderId,
      chunkSize: args.chunkSize,
      images,
      chunks: summary?.chunks ?? 0,
      processed: images - (summary?.resumedImages ?? 0),
      resumedImages: summary?.resumedImages ?? 0,
      failed,
      failures: (summary?.failures ?? []).slice(0, 100),
      writtenCounts: summary?.written ?? {},
      imagesPerSecond: images / Math.max(1e-3, args.elapsedMs / 1000),
    },
  };
}

export function printReport(r: BatchReport, opts: { json?: boolean }): number {
  if (opts.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  else {
    const b = r.batch;
    process.stdout.write(`batch (${b.mode}): ${b.images} image(s) in ${b.chunks} chunk(s) of ≤${b.chunkSize}; ${b.processed} processed, ${b.resumedImages} resumed, ${b.failed} failed; ${b.imagesPerSecond.toFixed(1)} images/s\n`);
    for (const [id, n] of Object.entries(b.writtenCounts)) process.stdout.write(`${id}: wrote ${n} file(s) under ${r.outDir}\n`);
    for (const [id, ports] of Object.entries(r.values)) for (const [port, v] of Object.entries(ports)) process.stdout.write(`${id}.${port}: ${JSON.stringify(v)}\n`);
  }
  for (const f of r.batch.failures) process.stderr.write(`skipped ${f.name}${f.nodeId ? ` (${f.nodeId})` : ''}: ${f.message}\n`);
  if (r.batch.failed > r.batch.failures.length) process.stderr.write(`… and ${r.batch.failed - r.batch.failures.length} more skipped image(s)\n`);
  for (const e of r.errors) process.stderr.write(`error: ${formatError(e)}\n`);
  return r.ok ? 0 : 1;
}

/** "k of N images" on stderr: a line per chunk when not a TTY, one updating line on a TTY. */
export function progressPrinter(total?: number): (p: BatchProgress) => void {
  let last = 0;
  return (p) => {
    const now = Date.now();
    const final = total !== undefined && p.images >= total;
    if (!final && now - last < 250) return;
    last = now;
    const line = `batch: ${p.images}${total !== undefined ? ` of ${total}` : ''} images (${p.failed} failed, ${p.resumed} resumed)`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}${final ? '\n' : ''}`);
    else process.stderr.write(`${line}\n`);
  };
}
