import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { BacklitError, type ErrorInfo } from '../errors/BacklitError';
import { Executor, type ExecutorEvent, type RunSummary } from '../executor/executor';
import { hashString } from '../executor/hash';
import type { Graph, GraphNode } from '../graph/model';
import { upstreamClosure } from '../graph/topology';
import type { DecodedImage, Host, ImageFile, WrittenFile } from '../host';
import { defineNode, type AnyNodeDefinition } from '../nodes/defineNode';
import type { EmbeddingValue, ReportValue } from '../ports/values';
import { NodeRegistry } from '../registry/registry';
import { mergePartialMaps, partialDigest, sha256Hex, type ReducerPartial } from './partials';
import type { BatchPlan } from './plan';

/** One image of a streamed folder. */
export interface BatchFile {
  /** Path relative to the source's root, '/'-separated; Output mirrors it (sub-folders included). */
  rel: string;
  /** Changes when the file changes (size + mtime on disk); part of the resume key. */
  fingerprint: string;
  file: ImageFile;
}

export interface WrittenOutput {
  /** Folder and name as handed to the host (relative to the output root). */
  folder: string;
  name: string;
  location: string;
  bytes: number;
  width?: number;
  height?: number;
  sha256: string;
  /** The Output node that wrote it. */
  nodeId?: string;
}

export interface ImageFailure {
  name: string;
  nodeId?: string;
  message: string;
}

/** What one chunk (or one distributed shard) produced; JSON-serialisable (it is a BullMQ job result). */
export interface ChunkResult {
  key: string;
  images: number;
  failures: ImageFailure[];
  outputs: WrittenOutput[];
  partials: Record<string, ReducerPartial>;
  /** True when a resume record with verified outputs made the work unnecessary. */
  resumed?: boolean;
}

export interface BatchProgress {
  chunks: number;
  images: number;
  failed: number;
  resumed: number;
  /** Total images when known (the CLI counts the listing first). */
  total?: number;
}

export interface BatchRunnerOptions {
  /** Reuse chunks whose resume record exists and whose outputs still hash the same (default true). */
  resume?: boolean;
  signal?: AbortSignal;
  onEvent?(event: ExecutorEvent): void;
}

/** The source token the chunk graph's loader reads: the runner's host answers it with the current chunk. */
export const CHUNK_SOURCE = 'batch:chunk';
/** Where resume records live under the output root. */
export const RECORD_FOLDER = '.backlit-batch';
const MERGED_MEAN_TYPE = 'batch-merged-mean';

/**
 * Runs the per-image part of a graph one chunk at a time with one Executor: static nodes (encoders,
 * trainers, loaded models) are computed on the first chunk and stay cached (warm) for the rest;
 * per-image outputs are evicted after each chunk, so peak memory follows the chunk size, not the
 * folder. Reducer partials come back per chunk and merge exactly (float64 sums, counts).
 * The same unit serves distributed runs: a BullMQ shard job is one `runChunk` call on a worker.
 */
export class BatchRunner {
  readonly registry: NodeRegistry;
  private readonly host: ChunkHost;
  private readonly executor: Executor;
  private readonly merged = new Map<string, ReducerPartial>();
  private readonly chunkGraph: Graph;

  constructor(
    baseRegistry: NodeRegistry,
    baseHost: Host,
    private readonly graph: Graph,
    readonly plan: BatchPlan,
    private readonly opts: BatchRunnerOptions = {},
  ) {
    this.registry = new NodeRegistry([...baseRegistry.all(), mergedMeanNode(this.merged) as AnyNodeDefinition]);
    this.host = new ChunkHost(baseHost);
    this.executor = new Executor(this.registry, this.host);
    this.chunkGraph = this.buildChunkGraph();
  }

  private buildChunkGraph(): Graph {
    const keep = new Set([this.plan.loaderId, ...this.plan.perImage, ...this.plan.reducers]);
    // Static nodes the streamed part needs.
    let grew = true;
    while (grew) {
      grew = false;
      for (const e of this.graph.edges) if (keep.has(e.to.node) && !keep.has(e.from.node)) {
        keep.add(e.from.node);
        grew = true;
      }
    }
    const nodes = this.graph.nodes.filter((n) => keep.has(n.id)).map((n) => (n.id === this.plan.loaderId ? { ...n, params: { ...n.params, source: CHUNK_SOURCE } } : n));
    return { ...this.graph, nodes, edges: this.graph.edges.filter((e) => keep.has(e.from.node) && keep.has(e.to.node)) };
  }

  /** Key of a chunk: the pipeline plus each file's path and fingerprint. */
  chunkKey(files: BatchFile[]): string {
    return hashString(`${this.plan.pipelineKey}|${files.map((f) => `${f.rel}:${f.fingerprint}`).join('\n')}`);
  }

  /** Runs one chunk; per-image failures are isolated (the chunk is retried image by image) and reported. */
  async runChunk(files: BatchFile[]): Promise<ChunkResult> {
    const key = this.chunkKey(files);
    if (this.opts.resume !== false) {
      const done = await this.readRecord(key);
      if (done) return { ...done, resumed: true };
    }
    let result = await this.runFiles(files);
    if ('fatal' in result) {
      if (files.length === 1) result = { failures: [{ name: files[0].rel, nodeId: result.fatal.nodeId, message: result.fatal.message }], outputs: [], partials: {} };
      else {
        // Isolate the image(s) that broke the chunk: run them one by one; the rest go on.
        const merged: Omit<ChunkResult, 'key' | 'images'> = { failures: [], outputs: [], partials: {} };
        for (const f of files) {
          const one = await this.runFiles([f]);
          if ('fatal' in one) merged.failures.push({ name: f.rel, nodeId: one.fatal.nodeId, message: one.fatal.message });
          else {
            merged.failures.push(...one.failures);
            merged.outputs.push(...one.outputs);
            mergePartialMaps(merged.partials, one.partials);
          }
        }
        result = merged;
      }
    }
    const chunk: ChunkResult = { key, images: files.length, ...result };
    await this.host.inner.writeFile(RECORD_FOLDER, `${key}.json`, new TextEncoder().encode(JSON.stringify(chunk)), { overwrite: true });
    return chunk;
  }

  private async runFiles(files: BatchFile[]): Promise<Omit<ChunkResult, 'key' | 'images'> | { fatal: ErrorInfo }> {
    this.host.begin(files);
    const failures: ImageFailure[] = [];
    const graph: Graph = {
      ...this.chunkGraph,
      nodes: this.chunkGraph.nodes.map((n) => (n.id === this.plan.loaderId ? { ...n, params: { ...n.params, maxCount: Math.max(1, files.length) } } : n)),
    };
    let summary: RunSummary;
    try {
      summary = await this.executor.run(graph, {
        signal: this.opts.signal,
        onEvent: (e) => {
          if (e.type === 'log' && e.nodeId === this.plan.loaderId) {
            const m = /^skipped (.*?): (.*)$/s.exec(e.message);
            if (m) failures.push({ name: m[1], nodeId: e.nodeId, message: m[2] });
          }
          this.opts.onEvent?.(e);
        },
      });
    } finally {
      this.host.end();
    }
    if (summary.cancelled) throw new BacklitError({ code: 'cancelled', message: 'The batch was cancelled.', fix: 'run it again; finished chunks are resumed.' });
    const failed = Object.entries(summary.nodes).find(([, r]) => r.status === 'error');
    if (!summary.ok) {
      const err = failed?.[1].error ?? summary.errors[0];
      const nodeId = failed?.[0];
      this.evictStreamed();
      // A static node (encoder, trainer, weights) failing is not an image's fault: stop the batch.
      if (!nodeId || this.plan.static.includes(nodeId)) throw new BacklitError(err ?? { code: 'node-failed', message: 'The batch failed.', fix: 'see the node errors.' });
      return { fatal: err ?? { code: 'node-failed', nodeId, message: 'failed', fix: '' } };
    }
    const outputs: WrittenOutput[] = [];
    const written = this.host.takeWritten();
    for (const id of this.plan.perImage) {
      const files = this.executor.outputsOf(id)?.files as ReportValue | undefined;
      if (files?.kind !== 'Report') continue;
      for (const row of files.rows) {
        const w = written.get(String(row.location));
        if (w) outputs.push({ ...w, width: Number(row.width), height: Number(row.height), nodeId: id });
      }
    }
    const partials: Record<string, ReducerPartial> = {};
    for (const id of this.plan.reducers) {
      const mean = this.executor.outputsOf(id)?.mean as EmbeddingValue | undefined;
      if (mean?.sum && mean.count !== undefined) partials[id] = { space: mean.space, count: mean.count, sum: Array.from(await mean.sum.data()) };
    }
    this.evictStreamed();
    return { failures, outputs, partials };
  }

  /** Frees the chunk's images and per-image results; static nodes (models) stay warm. */
  private evictStreamed(): void {
    for (const id of [this.plan.loaderId, ...this.plan.perImage, ...this.plan.reducers]) this.executor.evict(id);
  }

  /** A chunk already done under the same key, if every output it wrote still has the same content hash. */
  private async readRecord(key: string): Promise<ChunkResult | undefined> {
    const bytes = await this.host.inner.readFile(RECORD_FOLDER, `${key}.json`).catch(() => undefined);
    if (!bytes) return undefined;
    let record: ChunkResult;
    try {
      record = JSON.parse(new TextDecoder().decode(bytes)) as ChunkResult;
    } catch {
      return undefined; // a torn or foreign file: redo the chunk
    }
    // A chunk with failed images is redone on a re-run (the failure may have been transient).
    if (record.key !== key || record.failures.length) return undefined;
    for (const o of record.outputs) {
      const now = await this.host.inner.readFile(o.folder, o.name).catch(() => undefined);
      if (!now || (await sha256Hex(now)) !== o.sha256) return undefined;
    }
    return record;
  }

  /**
   * Runs the nodes after the reducers (e.g. Residual Vector) once, on the merged partials, plus any
   * static node not run yet. Returns the executor summary; outputs are read with `outputsOf`.
   */
  async finish(partials: Record<string, ReducerPartial>, opts: { staticRanElsewhere?: boolean } = {}): Promise<RunSummary | undefined> {
    let needed = new Set([...this.plan.post, ...this.plan.static]);
    if (opts.staticRanElsewhere) {
      // Distributed: workers ran the static nodes that feed the stream (a trainer, say); the caller
      // runs only the post nodes, what they need, and static nodes nothing streamed depends on.
      const streamed = new Set([this.plan.loaderId, ...this.plan.perImage, ...this.plan.reducers]);
      const feedsStream = upstreamClosure(this.graph, [...streamed]);
      const roots = [...this.plan.post, ...this.plan.static.filter((id) => !feedsStream.has(id))];
      const closure = upstreamClosure(this.graph, roots);
      needed = new Set([...closure].filter((id) => !streamed.has(id)));
    }
    this.merged.clear();
    for (const [id, p] of Object.entries(partials)) this.merged.set(id, p);
    // Every reducer with a result is stood in for (so its merged mean can be shown); one that
    // post nodes need but that has no result (no image encoded) is an error.
    const keepReducers = this.plan.reducers.filter((r) => partials[r]);
    if (!needed.size && !keepReducers.length) return undefined;
    for (const r of this.plan.reducers) {
      if (!partials[r] && this.graph.edges.some((e) => e.from.node === r && needed.has(e.to.node))) throw new BacklitError({ code: 'no-images', nodeId: r, field: 'embeddings', message: 'No image of the folder was encoded, so there is no mean.', fix: 'see the per-image failures above.' });
    }
    const nodes: GraphNode[] = [
      ...this.graph.nodes.filter((n) => needed.has(n.id)),
      ...keepReducers.map((r) => {
        const orig = this.graph.nodes.find((n) => n.id === r)!;
        return { ...orig, type: MERGED_MEAN_TYPE, version: undefined, params: { reducer: r, space: partials[r].space, digest: partialDigest(partials[r]) } } as GraphNode;
      }),
    ];
    const ids = new Set(nodes.map((n) => n.id));
    const graph: Graph = { ...this.graph, nodes, edges: this.graph.edges.filter((e) => ids.has(e.from.node) && ids.has(e.to.node)) };
    return this.executor.run(graph, { signal: this.opts.signal, onEvent: this.opts.onEvent });
  }

  outputsOf(nodeId: string) {
    return this.executor.outputsOf(nodeId);
  }

  dispose(): void {
    this.executor.dispose();
  }
}

export interface BatchSummary {
  chunks: number;
  images: number;
  failures: ImageFailure[];
  resumedChunks: number;
  resumedImages: number;
  /** Files written per Output node (counts; the rows themselves are not kept for big folders). */
  written: Record<string, number>;
  /** The first rows per Output node (at most `keepRows`). */
  rows: Record<string, WrittenOutput[]>;
  partials: Record<string, ReducerPartial>;
  elapsedMs: number;
}

/**
 * Streams `files` through the runner in chunks of `chunkSize`: at most one chunk of images is held
 * at a time (the listing itself is lazy), reducer partials accumulate, outputs are counted.
 */
export async function streamBatch(
  runner: BatchRunner,
  files: AsyncIterable<BatchFile>,
  opts: { chunkSize: number; total?: number; keepRows?: number; signal?: AbortSignal; onProgress?(p: BatchProgress): void },
): Promise<BatchSummary> {
  const t0 = Date.now();
  const summary: BatchSummary = { chunks: 0, images: 0, failures: [], resumedChunks: 0, resumedImages: 0, written: {}, rows: {}, partials: {}, elapsedMs: 0 };
  const keepRows = opts.keepRows ?? 100;
  const take = (r: ChunkResult) => {
    summary.chunks++;
    summary.images += r.images;
    summary.failures.push(...r.failures);
    if (r.resumed) {
      summary.resumedChunks++;
      summary.resumedImages += r.images;
    }
    for (const o of r.outputs) {
      const id = o.nodeId ?? '?';
      summary.written[id] = (summary.written[id] ?? 0) + 1;
      const rows = (summary.rows[id] ??= []);
      if (rows.length < keepRows) rows.push(o);
    }
    mergePartialMaps(summary.partials, r.partials);
    opts.onProgress?.({ chunks: summary.chunks, images: summary.images, failed: summary.failures.length, resumed: summary.resumedImages, total: opts.total });
  };
  let chunk: BatchFile[] = [];
  for await (const f of files) {
    if (opts.signal?.aborted) break;
    chunk.push(f);
    if (chunk.length >= opts.chunkSize) {
      take(await runner.runChunk(chunk));
      chunk = [];
    }
  }
  if (chunk.length && !opts.signal?.aborted) take(await runner.runChunk(chunk));
  if (opts.signal?.aborted) throw new BacklitError({ code: 'cancelled', message: 'The batch was cancelled.', fix: 'run it again; finished chunks are resumed.' });
  summary.elapsedMs = Date.now() - t0;
  return summary;
}

/** Splits a lazy listing into arrays of `size` (for shards). */
export async function* chunksOf<T>(items: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let buf: T[] = [];
  for await (const x of items) {
    buf.push(x);
    if (buf.length >= size) {
      yield buf;
      buf = [];
    }
  }
  if (buf.length) yield buf;
}

/**
 * The runner's host: answers the chunk loader with the current chunk, mirrors relative sub-folders
 * on write, and writes idempotently (atomic replace of a name derived from the input path), so a
 * chunk that runs twice (resume, at-least-once delivery) leaves one file with the same bytes.
 */
class ChunkHost implements Host {
  readonly kind: Host['kind'];
  private files: BatchFile[] | undefined;
  private written = new Map<string, Omit<WrittenOutput, 'width' | 'height' | 'nodeId'>>();
  private readonly modelFiles = new Map<string, Promise<Uint8Array | undefined>>();

  constructor(readonly inner: Host) {
    this.kind = inner.kind;
  }

  begin(files: BatchFile[]): void {
    this.files = files;
    this.written = new Map();
  }

  end(): void {
    this.files = undefined;
  }

  takeWritten() {
    const w = this.written;
    this.written = new Map();
    return w;
  }

  async listImageFiles(source: string): Promise<ImageFile[]> {
    if (source !== CHUNK_SOURCE) return this.inner.listImageFiles(source);
    return (this.files ?? []).map((f) => ({ name: f.rel, size: f.file.size, read: () => f.file.read() }));
  }

  async fingerprint(source: string): Promise<string> {
    if (source !== CHUNK_SOURCE) return this.inner.fingerprint(source);
    return hashString((this.files ?? []).map((f) => `${f.rel}:${f.fingerprint}`).join('\n'));
  }

  decodeImage(bytes: Uint8Array, name: string): Promise<DecodedImage> {
    return this.inner.decodeImage(bytes, name);
  }

  encodeImage(image: DecodedImage, format: 'png' | 'jpeg', quality: number): Promise<Uint8Array> {
    return this.inner.encodeImage(image, format, quality);
  }

  /**
   * Small model files (an enhancer's weights, which per-image Enhance re-reads every chunk) are read
   * once per runner; big ones (a CLIP checkpoint, read once by a static Encoder) are not kept.
   */
  readModelFile(source: string, file: string): Promise<Uint8Array | undefined> {
    const k = `${source}\n${file}`;
    let p = this.modelFiles.get(k);
    if (!p) {
      p = this.inner.readModelFile(source, file);
      this.modelFiles.set(k, p);
      p.then(
        (bytes) => {
          if (bytes && bytes.byteLength > 64 * 2 ** 20) this.modelFiles.delete(k);
        },
        () => this.modelFiles.delete(k),
      );
    }
    return p;
  }

  readFile(folder: string, name: string): Promise<Uint8Array | undefined> {
    return this.inner.readFile(folder, name);
  }

  async writeFile(folder: string, name: string, bytes: Uint8Array, opts: { overwrite: boolean }): Promise<WrittenFile> {
    if (!this.files) return this.inner.writeFile(folder, name, bytes, opts);
    const slash = name.lastIndexOf('/');
    const sub = slash >= 0 ? name.slice(0, slash) : '';
    const base = slash >= 0 ? name.slice(slash + 1) : name;
    const dir = [folder, sub].filter(Boolean).join('/');
    const w = await this.inner.writeFile(dir, base, bytes, { overwrite: true });
    this.written.set(w.location, { folder: dir, name: w.name, location: w.location, bytes: w.bytes, sha256: await sha256Hex(bytes) });
    return w;
  }
}

/** Stands in for a streamed Mean Embedding in the final run: returns the merged partial. */
function mergedMeanNode(merged: Map<string, ReducerPartial>) {
  return defineNode({
    type: MERGED_MEAN_TYPE,
    title: 'Mean Embedding (merged over the batch)',
    category: 'Embedding',
    description: 'Internal to batch runs: the exact merge of a streamed Mean Embedding’s chunk partials.',
    inputs: {},
    outputs: { mean: { kind: 'Embedding', label: 'Mean' } },
    params: z.object({ reducer: z.string(), space: z.string(), digest: z.string() }),
    spaceOf: (p) => p.space,
    async run({ params, ctx }) {
      const p = merged.get(params.reducer);
      if (!p) return ctx.fail('reducer', `No merged result for "${params.reducer}".`, 'this is a bug in the batch runner.');
      const sum = tf.tensor1d(p.sum, 'float32');
      const norm = Math.sqrt(p.sum.reduce((s, v) => s + v * v, 0));
      const tensor = tf.tensor1d(p.sum.map((v) => v / (norm + 1e-12)), 'float32');
      const mean: EmbeddingValue = { kind: 'Embedding', space: p.space, tensor, count: p.count, sum };
      return { mean };
    },
  });
}
