import * as tf from '@tensorflow/tfjs';
import { BacklitError, asNodeError, cancelledError, isCancelled, isOutOfMemory, outOfMemoryError, type ErrorInfo } from '../errors/BacklitError';
import type { Graph, GraphNode } from '../graph/model';
import { topologicalOrder, upstreamClosure } from '../graph/topology';
import type { Host } from '../host';
import type { NodeContext, PortValues, ProgressInfo } from '../nodes/defineNode';
import { migrationCount } from '../nodes/defineNode';
import type { NodeRegistry } from '../registry/registry';
import { validateGraph } from '../schema/loadGraph';
import { collectHandles, collectTensors, tensorsOwnedBy, type Disposable } from '../ports/values';
import { canonicalJson, hashString } from './hash';
import { viewOf, type PortView } from './views';
import { expandSubgraphs, expandTargets } from '../subgraph/subgraph';

export type NodeStatus = 'queued' | 'running' | 'done' | 'cached' | 'error' | 'blocked' | 'cancelled' | 'bypassed';

export type ExecutorEvent =
  | { type: 'run-start'; nodeIds: string[] }
  | { type: 'status'; nodeId: string; status: NodeStatus; elapsedMs?: number; error?: ErrorInfo }
  | { type: 'progress'; nodeId: string; step: number; total: number; message?: string; metrics?: Record<string, number> }
  | { type: 'log'; nodeId: string; message: string }
  | { type: 'views'; nodeId: string; views: Record<string, PortView> }
  | { type: 'run-end'; summary: RunSummary };

export interface RunOptions {
  signal?: AbortSignal;
  onEvent?(event: ExecutorEvent): void;
  /** Run only these nodes and what they depend on ("run up to here"). */
  targets?: string[];
  /** Emit editor views (thumbnails, norms) of each node's outputs. */
  views?: boolean;
}

export interface NodeResult {
  status: NodeStatus;
  elapsedMs: number;
  error?: ErrorInfo;
}

export interface RunSummary {
  ok: boolean;
  cancelled: boolean;
  nodes: Record<string, NodeResult>;
  /** Graph-level problems that stopped the run before any node (e.g. a cycle). */
  errors: ErrorInfo[];
  elapsedMs: number;
}

interface CacheEntry {
  hash: string;
  outputs: PortValues;
}

/**
 * Runs graphs in topological order with content-hash caching, progress, cancellation and error
 * isolation. Knows nothing of React, the DOM or Node: hosts hand it a registry and a Host.
 */
export class Executor {
  private readonly cache = new Map<string, CacheEntry>();
  private running = false;

  constructor(
    private readonly registry: NodeRegistry,
    private readonly host: Host,
  ) {}

  /** Cached outputs of a node from the last run that computed them. */
  outputsOf(nodeId: string): PortValues | undefined {
    return this.cache.get(nodeId)?.outputs;
  }

  async run(graph: Graph, opts: RunOptions = {}): Promise<RunSummary> {
    if (this.running) throw new Error('A run is already in progress; cancel it or wait for it to finish.');
    this.running = true;
    try {
      return await this.runUnguarded(graph, opts);
    } finally {
      this.running = false;
    }
  }

  private async runUnguarded(input: Graph, opts: RunOptions): Promise<RunSummary> {
    const started = now();
    const emit = (e: ExecutorEvent) => opts.onEvent?.(e);
    const signal = opts.signal ?? new AbortController().signal;
    // Null prototype: a node id can never collide with Object.prototype ("__proto__", "constructor").
    const results: Record<string, NodeResult> = Object.create(null) as Record<string, NodeResult>;
    const graphErrors: ErrorInfo[] = [];

    // Validation first (it migrates params in place), then group nodes flatten into the nodes they
    // stand for: a grouped graph runs exactly as its expanded one, events name inner nodes ("g/x").
    const problems = validateGraph(input, this.registry);
    const graph = expandSubgraphs(input).graph;
    const problemsByNode = new Map<string, ErrorInfo>();
    const nodes = new Map(graph.nodes.map((n) => [n.id, n]));
    for (const p of problems) {
      if (p.nodeId && nodes.has(p.nodeId) && p.field !== 'edges') {
        if (!problemsByNode.has(p.nodeId)) problemsByNode.set(p.nodeId, p);
      } else graphErrors.push(p);
    }
    const { order, cycle } = topologicalOrder(graph);
    if (cycle || graphErrors.length) {
      const summary: RunSummary = { ok: false, cancelled: false, nodes: results, errors: graphErrors, elapsedMs: now() - started };
      emit({ type: 'run-end', summary });
      return summary;
    }

    const wanted = opts.targets?.length ? upstreamClosure(graph, expandTargets(graph, opts.targets)) : undefined;
    // The graph as JSON, for nodes that record how their results were made (Output's PNG text chunk); groups kept.
    const workflow = JSON.stringify(input);
    const runIds = order.filter((id) => !wanted || wanted.has(id));
    const incomingOf = new Map<string, Graph['edges']>();
    for (const e of graph.edges) {
      let list = incomingOf.get(e.to.node);
      if (!list) incomingOf.set(e.to.node, (list = []));
      list.push(e);
    }
    emit({ type: 'run-start', nodeIds: runIds });
    for (const id of runIds) emit({ type: 'status', nodeId: id, status: 'queued' });

    const hashes = new Map<string, string>();
    let cancelled = false;
    for (const id of runIds) {
      const node = nodes.get(id)!;
      const def = this.registry.get(node.type);
      const t0 = now();
      const finish = (status: NodeStatus, error?: ErrorInfo) => {
        results[id] = { status, elapsedMs: now() - t0, error };
        emit({ type: 'status', nodeId: id, status, elapsedMs: results[id].elapsedMs, error });
      };
      if (cancelled || signal.aborted) {
        cancelled = true;
        finish('cancelled');
        continue;
      }
      const problem = problemsByNode.get(id);
      if (problem || !def) {
        finish('error', problem);
        continue;
      }
      const incoming = incomingOf.get(id) ?? [];
      // A bypassed node upstream with nothing of this kind to pass on: this input gets no value.
      const emptyUpstream = incoming.find((e) => results[e.from.node]?.status === 'bypassed' && this.cache.get(e.from.node)?.outputs[e.from.port] === undefined);
      if (emptyUpstream) {
        const up = nodes.get(emptyUpstream.from.node)!;
        finish('blocked', {
          code: 'upstream-failed',
          nodeId: id,
          nodeType: def?.title,
          field: emptyUpstream.to.port,
          message: `Skipped: "${up.label ?? up.id}" is bypassed and has no input of this kind to pass on.`,
          fix: `un-bypass "${up.id}", or wire this input from elsewhere.`,
        });
        continue;
      }
      const failedUpstream = incoming.find((e) => results[e.from.node] && !isOk(results[e.from.node].status));
      if (failedUpstream) {
        const up = nodes.get(failedUpstream.from.node)!;
        finish('blocked', {
          code: 'upstream-failed',
          nodeId: id,
          nodeType: def.title,
          field: failedUpstream.to.port,
          message: `Not run because "${up.label ?? up.id}" upstream did not finish.`,
          fix: `fix "${up.id}" first.`,
        });
        continue;
      }
      if (node.bypass) {
        // Each output passes on the first wired input of the same kind (ComfyUI's bypass); outputs
        // with no such input stay empty and nodes reading them are skipped (see emptyUpstream).
        const outputs: PortValues = {};
        const passed: string[] = [];
        for (const [port, spec] of Object.entries(def.outputs)) {
          const source = incoming.find((e) => def.inputs[e.to.port]?.kind === spec.kind);
          if (source) {
            outputs[port] = this.cache.get(source.from.node)!.outputs[source.from.port];
            passed.push(`${source.to.port}→${port}`);
          }
        }
        const inputsKey = incoming.map((e) => `${e.to.port}<=${hashes.get(e.from.node)}:${e.from.port}`).sort().join('|');
        hashes.set(id, hashString(`bypass|${node.type}|${inputsKey}`));
        // The cache entry shares its tensors with the upstream entries; evict() frees a tensor only when no entry holds it.
        this.evict(id);
        this.cache.set(id, { hash: hashes.get(id)!, outputs });
        emit({ type: 'log', nodeId: id, message: passed.length ? `bypassed: ${passed.join(', ')}` : 'bypassed: nothing to pass on' });
        finish('bypassed');
        if (opts.views) {
          const passedOutputs = Object.fromEntries(Object.entries(def.outputs).filter(([port]) => outputs[port] !== undefined));
          await this.emitViews(id, passedOutputs, outputs, emit);
        }
        continue;
      }
      const missing = Object.entries(def.inputs).find(([port, spec]) => !spec.optional && !incoming.some((e) => e.to.port === port));
      if (missing) {
        finish('error', {
          code: 'input-missing',
          nodeId: id,
          nodeType: def.title,
          field: missing[0],
          message: `Input "${missing[1].label}" is not connected.`,
          fix: `wire a ${missing[1].kind} output into it.`,
        });
        continue;
      }

      const params = def.params.parse(node.params) as Record<string, unknown>;
      let hash: string;
      try {
        hash = await this.hashNode(node, params, incoming, hashes);
      } catch (err) {
        finish('error', asNodeError(err, id, def.title).info);
        continue;
      }
      hashes.set(id, hash);
      const inputs: PortValues = {};
      for (const e of incoming) inputs[e.to.port] = this.cache.get(e.from.node)!.outputs[e.from.port];

      const cached = this.cache.get(id);
      if (cached && cached.hash === hash) {
        finish('cached');
        if (opts.views) await this.emitViews(id, def.outputs, cached.outputs, emit);
        continue;
      }
      if (cached) this.evict(id);

      emit({ type: 'status', nodeId: id, status: 'running' });
      const ctx = this.context(id, def.title, signal, emit, workflow);
      const scopeDepth = scopeStackDepth();
      tf.engine().startScope();
      try {
        const outputs = await def.run({ inputs, params, ctx });
        ctx.throwIfCancelled();
        for (const port of Object.keys(def.outputs)) {
          if (!(port in outputs)) throw new Error(`produced no value for output "${port}" (a bug in this node type)`);
        }
        for (const t of collectTensors(outputs)) tf.keep(t);
        // Model handles (encoders, enhancers) own their weights: keep them past this scope too.
        for (const h of collectHandles(outputs)) for (const t of tensorsOwnedBy(h)) tf.keep(t);
        this.cache.set(id, { hash, outputs });
        finish('done');
      } catch (err) {
        if (isCancelled(err) || signal.aborted) {
          cancelled = true;
          finish('cancelled');
        } else {
          finish('error', (isOutOfMemory(err) ? outOfMemoryError(err, id, def) : asNodeError(err, id, def.title)).info);
        }
      } finally {
        // Frees every tensor the node made and did not return, also after errors and cancellation.
        // After a wasm out-of-memory the cleanup itself can throw; that must not take the run down.
        const cleanupError = closeScopes(scopeDepth);
        if (cleanupError !== undefined && results[id]?.status !== 'error') {
          this.cache.delete(id);
          finish('error', (isOutOfMemory(cleanupError) ? outOfMemoryError(cleanupError, id, def) : asNodeError(cleanupError, id, def.title)).info);
        }
      }
      if (results[id].status === 'done' && opts.views) await this.emitViews(id, def.outputs, this.cache.get(id)!.outputs, emit);
      await yieldToEventLoop(); // lets a cancel message reach us between nodes
    }
    const ok = Object.values(results).every((r) => isOk(r.status));
    const summary: RunSummary = { ok, cancelled, nodes: results, errors: [], elapsedMs: now() - started };
    emit({ type: 'run-end', summary });
    return summary;
  }

  private async hashNode(node: GraphNode, params: Record<string, unknown>, incoming: Graph['edges'], hashes: Map<string, string>): Promise<string> {
    const def = this.registry.get(node.type)!;
    const inputs = incoming
      .map((e) => `${e.to.port}<=${hashes.get(e.from.node)}:${e.from.port}`)
      .sort()
      .join('|');
    const external = def.externalKey ? await def.externalKey(params as never, this.host) : '';
    return hashString(`${node.type}@${migrationCount(def)}|${canonicalJson(params)}|${inputs}|${external}`);
  }

  private context(nodeId: string, title: string, signal: AbortSignal, emit: (e: ExecutorEvent) => void, workflow: string): NodeContext {
    return {
      nodeId,
      host: this.host,
      workflow,
      signal,
      progress(step: number, total: number, info?: ProgressInfo) {
        emit({ type: 'progress', nodeId, step, total, message: info?.message, metrics: info?.metrics });
      },
      log(message: string) {
        emit({ type: 'log', nodeId, message });
      },
      throwIfCancelled() {
        if (signal.aborted) throw cancelledError();
      },
      fail(field: string, message: string, fix: string): never {
        throw new BacklitError({ code: 'node-failed', nodeId, nodeType: title, field, message, fix });
      },
    };
  }

  private async emitViews(nodeId: string, outputs: Record<string, { kind: import('../ports/kinds').PortKind }>, values: PortValues, emit: (e: ExecutorEvent) => void) {
    const views: Record<string, PortView> = {};
    for (const [port, spec] of Object.entries(outputs)) views[port] = await viewOf(spec.kind, values[port]);
    emit({ type: 'views', nodeId, views });
  }

  /** Drops a node's cached outputs, disposing tensors and handles no other cached node still holds. */
  evict(nodeId: string): void {
    const entry = this.cache.get(nodeId);
    if (!entry) return;
    this.cache.delete(nodeId);
    const stillUsed = new Set<tf.Tensor>();
    const handlesUsed = new Set<Disposable>();
    for (const other of this.cache.values()) {
      collectTensors(other.outputs, stillUsed);
      collectHandles(other.outputs, handlesUsed);
    }
    for (const t of collectTensors(entry.outputs)) if (!stillUsed.has(t) && !t.isDisposed) t.dispose();
    for (const h of collectHandles(entry.outputs)) if (!handlesUsed.has(h)) h.dispose();
  }

  /** Drops cached nodes that are no longer in the graph (deleted in the editor). */
  prune(graph: Graph): void {
    const ids = new Set(expandSubgraphs(graph).graph.nodes.map((n) => n.id));
    // Grouping and ungrouping rename nodes ("train" ↔ "group-1/train"): their cached outputs move
    // with them, so a long training is not redone; the hash still decides at run time whether they are reused.
    const tail = (id: string) => id.slice(id.lastIndexOf('/') + 1);
    const byTail = new Map<string, string[]>();
    for (const id of ids) byTail.set(tail(id), [...(byTail.get(tail(id)) ?? []), id]);
    for (const id of [...this.cache.keys()]) {
      if (ids.has(id)) continue;
      const heir = byTail.get(tail(id))?.find((n) => !this.cache.has(n));
      if (heir) {
        this.cache.set(heir, this.cache.get(id)!);
        this.cache.delete(id);
      } else this.evict(id);
    }
  }

  /** Frees everything the executor holds. */
  dispose(): void {
    for (const id of [...this.cache.keys()]) this.evict(id);
  }
}

/** Depth of tfjs's scope stack (engine internals; 0 when unavailable). */
function scopeStackDepth(): number {
  return (tf.engine() as unknown as { state?: { scopeStack?: unknown[] } }).state?.scopeStack?.length ?? 0;
}

/**
 * Closes every tfjs scope opened since `depth`, disposing what they tracked. If disposing throws
 * (wasm heap already broken by an out-of-memory), the scopes are still popped so the engine stays
 * usable for the next node; their remaining tensors leak. Returns the first error.
 */
function closeScopes(depth: number): unknown {
  const engine = tf.engine() as unknown as { endScope(): void; state: { scopeStack: unknown[]; activeScope: unknown } };
  let first: unknown;
  for (let guard = 0; engine.state.scopeStack.length > depth && guard < 10_000; guard++) {
    const before = engine.state.scopeStack.length;
    try {
      engine.endScope();
    } catch (err) {
      first ??= err;
      const stack = engine.state.scopeStack;
      if (stack.length === before) {
        stack.pop();
        engine.state.activeScope = stack.length ? stack[stack.length - 1] : null;
      }
    }
  }
  return first;
}

function isOk(status: NodeStatus): boolean {
  return status === 'done' || status === 'cached' || status === 'bypassed';
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
