import { BacklitError } from '../errors/BacklitError';
import type { Graph } from '../graph/model';
import { topologicalOrder, upstreamClosure } from '../graph/topology';
import type { NodeRegistry } from '../registry/registry';
import { canonicalJson, hashString } from '../executor/hash';

/**
 * Node types that work image by image: output i depends on input i only (and on static inputs
 * such as an encoder or a trained enhancer), so a folder can stream through them chunk by chunk and
 * the result does not depend on where the chunks are cut.
 */
export const PER_IMAGE_TYPES: ReadonlySet<string> = new Set(['exposure', 'enhance', 'encode-images', 'output']);

/**
 * Reducers: nodes that fold per-image values into one value that merges exactly across chunks.
 * Mean Embedding carries sum and count, so partial means from chunks (or shards on other machines)
 * merge to the same result as one pass.
 */
export const REDUCER_TYPES: ReadonlySet<string> = new Set(['mean-embedding']);

/** Settings a graph can carry for batch runs (`meta.batch`); the CLI's options override them. */
export interface BatchMeta {
  /** Id of the Image Loader that streams (default: the only loader with per-image nodes downstream). */
  loader?: string;
  /** Images per chunk (peak memory is proportional to it). */
  chunkSize?: number;
}

export interface BatchPlan {
  /** The streamed Image Loader. */
  loaderId: string;
  /** Its source, resolved lazily by the host (folder, glob, …). */
  source: string;
  /** Nodes downstream of the loader that run per chunk (per-image nodes). */
  perImage: string[];
  /** Reducers fed by the per-image part; their partial results merge across chunks. */
  reducers: string[];
  /** Nodes that need the reducers' merged results; they run once at the end. */
  post: string[];
  /** Nodes that neither depend on the streamed loader nor on reducers (encoders, trainers): run once, kept warm. */
  static: string[];
  /**
   * Key of everything that decides a chunk's results (types, params and wiring of the streamed part and
   * what feeds it). Resume records and distributed shards are valid only under the same key.
   */
  pipelineKey: string;
}

/** Finds the per-image part of a graph: streamed loader → per-image nodes → Output / reducers → post nodes. */
export function planBatch(graph: Graph, registry: NodeRegistry, meta: BatchMeta = {}): BatchPlan {
  const fail = (nodeId: string | undefined, field: string, message: string, fix: string): never => {
    const node = nodeId ? graph.nodes.find((n) => n.id === nodeId) : undefined;
    throw new BacklitError({ code: 'batch-unsupported', nodeId, nodeType: node ? registry.get(node.type)?.title : undefined, field, message, fix });
  };
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const loaders = graph.nodes.filter((n) => n.type === 'image-loader');
  const downstreamOf = (id: string): Set<string> => {
    const seen = new Set<string>();
    const stack = [id];
    while (stack.length) {
      const cur = stack.pop()!;
      for (const e of graph.edges) if (e.from.node === cur && !seen.has(e.to.node)) {
        seen.add(e.to.node);
        stack.push(e.to.node);
      }
    }
    return seen;
  };
  let loaderId = meta.loader;
  if (loaderId) {
    if (!byId.has(loaderId) || byId.get(loaderId)!.type !== 'image-loader') {
      fail(undefined, 'meta.batch.loader', `"${loaderId}" is not an Image Loader of this graph.`, `name one of: ${loaders.map((l) => l.id).join(', ') || '(none)'}.`);
    }
  } else {
    const candidates = loaders.filter((l) => [...downstreamOf(l.id)].some((d) => PER_IMAGE_TYPES.has(byId.get(d)!.type)));
    if (candidates.length !== 1) {
      fail(undefined, 'meta.batch.loader', candidates.length ? `Several Image Loaders could stream (${candidates.map((c) => c.id).join(', ')}).` : 'No Image Loader feeds per-image nodes.', 'set meta.batch.loader (or --batch-loader) to the loader whose folder should stream.');
    }
    loaderId = candidates[0].id;
  }
  const loader = byId.get(loaderId)!;
  const source = String((loader.params as Record<string, unknown>).source ?? '');

  // Everything downstream of the loader is either per-image, a reducer, or after a reducer.
  const order = topologicalOrder(graph).order;
  const down = downstreamOf(loaderId);
  const perImage: string[] = [];
  const reducers: string[] = [];
  const post: string[] = [];
  const kindOf = new Map<string, 'loader' | 'per-image' | 'reducer' | 'post' | 'static'>([[loaderId, 'loader']]);
  for (const id of order) {
    if (id === loaderId) continue;
    const node = byId.get(id)!;
    const ins = graph.edges.filter((e) => e.to.node === id).map((e) => kindOf.get(e.from.node) ?? 'static');
    const streamedIn = ins.some((k) => k === 'loader' || k === 'per-image');
    const afterReduce = ins.some((k) => k === 'reducer' || k === 'post');
    if (!down.has(id)) {
      kindOf.set(id, 'static');
      continue;
    }
    if (streamedIn && afterReduce) {
      fail(id, 'inputs', 'It mixes streamed images with results that exist only after the whole folder was read.', 'feed it either the per-image part or the reduced results, not both.');
    }
    if (streamedIn) {
      if (PER_IMAGE_TYPES.has(node.type)) {
        kindOf.set(id, 'per-image');
        perImage.push(id);
      } else if (REDUCER_TYPES.has(node.type)) {
        if (graph.edges.some((e) => e.to.node === id && e.to.port === 'merge')) {
          fail(id, 'merge', 'A streamed Mean Embedding merges its chunks itself; its merge input must stay unwired.', 'remove the wire into "merge".');
        }
        kindOf.set(id, 'reducer');
        reducers.push(id);
      } else {
        fail(
          id,
          'images',
          `${registry.get(node.type)?.title ?? node.type} needs the whole image set at once, so it cannot take a streamed folder.`,
          `stream only through per-image nodes (${[...PER_IMAGE_TYPES].join(', ')}) and reducers (${[...REDUCER_TYPES].join(', ')}); give it a separate, small Image Loader instead.`,
        );
      }
    } else {
      kindOf.set(id, 'post');
      post.push(id);
    }
  }
  if (!perImage.length) fail(loaderId, 'images', 'Nothing per-image is wired to the streamed loader.', 'wire it into Enhance, Exposure, Encode Images or Output.');

  const streamed = new Set([loaderId, ...perImage, ...reducers]);
  const closure = upstreamClosure(graph, [...streamed]);
  const keyNodes = graph.nodes
    .filter((n) => closure.has(n.id))
    .map((n) => ({ id: n.id, type: n.type, params: n.id === loaderId ? { ...n.params, source: '', maxCount: 0 } : n.params }));
  const keyEdges = graph.edges.filter((e) => closure.has(e.to.node)).map((e) => `${e.from.node}.${e.from.port}>${e.to.node}.${e.to.port}`).sort();
  const pipelineKey = hashString(canonicalJson({ nodes: keyNodes.sort((a, b) => a.id.localeCompare(b.id)), edges: keyEdges }));
  const staticIds = order.filter((id) => kindOf.get(id) === 'static');
  return { loaderId, source, perImage, reducers, post, static: staticIds, pipelineKey };
}

/** `meta.batch` of a graph, when it asks for a batch run. */
export function batchMetaOf(graph: Graph): BatchMeta | undefined {
  const b = (graph.meta as Record<string, unknown>).batch;
  if (!b || typeof b !== 'object') return undefined;
  const { loader, chunkSize } = b as Record<string, unknown>;
  return { loader: typeof loader === 'string' ? loader : undefined, chunkSize: typeof chunkSize === 'number' ? chunkSize : undefined };
}
