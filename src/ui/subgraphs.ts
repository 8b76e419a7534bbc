import type { Edge } from '@xyflow/react';
import {
  SUBGRAPH_INPUT,
  SUBGRAPH_OUTPUT,
  type Graph,
  type GraphMeta,
  type SubgraphDefinition,
} from '../engine';
import { edgeId, fromGraph, toGraph, type EditorNode } from './graphConvert';

/**
 * The editor shows one level at a time: the top graph, or the inside of an open group. Inside,
 * canvas ids are the expanded ids ("group-1/exposure-1"), so run status, previews and problems
 * (which the engine reports under expanded ids) land on the right node without translation; the
 * group's ports are two canvas nodes, "<prefix>@in" and "<prefix>@out".
 */
export interface OpenLevel {
  /** Canvas id of the group node at the level above (itself prefixed when nested). */
  groupId: string;
  subgraphId: string;
  /** The level above as it was when this one was opened (restored on the way back up). */
  parent: { nodes: EditorNode[]; edges: Edge[]; selectedId?: string };
}

export function prefixOf(path: OpenLevel[]): string {
  return path.length ? `${path[path.length - 1].groupId}/` : '';
}

const strip = (prefix: string) => (id: string) => (id.startsWith(prefix) ? id.slice(prefix.length) : id);
const add = (prefix: string) => (id: string) => prefix + id;

function renameCanvas(nodes: EditorNode[], edges: Edge[], rename: (id: string) => string): { nodes: EditorNode[]; edges: Edge[] } {
  return {
    nodes: nodes.map((n) => ({ ...n, id: rename(n.id) })),
    edges: edges.map((e) => {
      const moved = { ...e, source: rename(e.source), target: rename(e.target) };
      return { ...moved, id: edgeId({ from: { node: moved.source, port: moved.sourceHandle ?? '' }, to: { node: moved.target, port: moved.targetHandle ?? '' } }) };
    }),
  };
}

/** A level's canvas as engine data (ids without the prefix; wires to the port nodes as "@in"/"@out"). */
export function canvasToLevel(nodes: EditorNode[], edges: Edge[], prefix: string, meta: GraphMeta): Graph {
  const plain = renameCanvas(nodes.filter((n) => n.type !== 'group-io'), edges, strip(prefix));
  return toGraph(plain.nodes, plain.edges, meta);
}

/** The definition an open level's canvas describes; ports used by new wires are added, in order of appearance. */
export function canvasToDefinition(nodes: EditorNode[], edges: Edge[], prefix: string, old: SubgraphDefinition): SubgraphDefinition {
  const { meta: oldMeta } = old;
  const level = canvasToLevel(nodes, edges, prefix, oldMeta ?? {});
  const inputs = [...old.inputs];
  const outputs = [...old.outputs];
  for (const e of level.edges) {
    if (e.from.node === SUBGRAPH_INPUT && !inputs.some((p) => p.name === e.from.port)) inputs.push({ name: e.from.port });
    if (e.to.node === SUBGRAPH_OUTPUT && !outputs.some((p) => p.name === e.to.port)) outputs.push({ name: e.to.port });
  }
  const pos = (io: 'input' | 'output') => nodes.find((n) => n.id === `${prefix}${io === 'input' ? SUBGRAPH_INPUT : SUBGRAPH_OUTPUT}`)?.position;
  const inPos = pos('input');
  const outPos = pos('output');
  const io = inPos && outPos ? { input: { x: Math.round(inPos.x), y: Math.round(inPos.y) }, output: { x: Math.round(outPos.x), y: Math.round(outPos.y) } } : oldMeta?.io;
  const meta = { ...level.meta, ...(io ? { io } : {}) };
  return { ...old, inputs, outputs, nodes: level.nodes, edges: level.edges, ...(Object.keys(meta).length ? { meta } : {}) };
}

/** Canvas nodes and wires for a level given as engine data (adds the prefix; inside a group, the two port nodes). */
export function levelToCanvas(level: Pick<Graph, 'nodes' | 'edges' | 'meta'>, prefix: string, def?: SubgraphDefinition): { nodes: EditorNode[]; edges: Edge[] } {
  const g = fromGraph({ format: 'backlit-graph', version: 2, nodes: level.nodes, edges: level.edges, meta: level.meta ?? {} });
  const canvas = renameCanvas(g.nodes, g.edges, add(prefix));
  if (!def) return canvas;
  const xs = level.nodes.map((n) => n.position.x);
  const top = level.nodes.length ? Math.min(...level.nodes.map((n) => n.position.y)) : 0;
  const io = (def.meta?.io ?? {}) as { input?: { x: number; y: number }; output?: { x: number; y: number } };
  const portNode = (kind: 'input' | 'output'): EditorNode => ({
    id: `${prefix}${kind === 'input' ? SUBGRAPH_INPUT : SUBGRAPH_OUTPUT}`,
    type: 'group-io',
    position: io[kind] ?? { x: kind === 'input' ? (xs.length ? Math.min(...xs) : 0) - 320 : (xs.length ? Math.max(...xs) : 0) + 340, y: top },
    deletable: false,
    data: { type: 'group-io', params: {}, io: kind },
  });
  return { nodes: [portNode('input'), ...canvas.nodes, portNode('output')], edges: canvas.edges };
}

/** Definition ids renamed where they clash with different content already in the graph (pasting group nodes). */
export function mergeDefinitions(existing: SubgraphDefinition[], incoming: SubgraphDefinition[]): { merged: SubgraphDefinition[]; rename: Map<string, string> } {
  const rename = new Map<string, string>();
  const byId = new Map(existing.map((d) => [d.id, d]));
  const taken = new Set(byId.keys());
  const renameOne = (id: string) => {
    let i = 2;
    while (taken.has(`${id}-${i}`)) i++;
    rename.set(id, `${id}-${i}`);
    taken.add(`${id}-${i}`);
  };
  for (const d of incoming) {
    const same = byId.get(d.id);
    if (same && JSON.stringify(same) !== JSON.stringify(d)) renameOne(d.id);
  }
  // A definition holding a renamed one changes too, so it needs its own id (repeat for nesting).
  for (let changed = true; changed; ) {
    changed = false;
    for (const d of incoming) {
      if (rename.has(d.id) || !byId.has(d.id)) continue;
      if (d.nodes.some((n) => n.subgraph && rename.has(n.subgraph))) {
        renameOne(d.id);
        changed = true;
      }
    }
  }
  const fix = (d: SubgraphDefinition): SubgraphDefinition => ({
    ...d,
    id: rename.get(d.id) ?? d.id,
    nodes: d.nodes.map((n) => (n.subgraph && rename.has(n.subgraph) ? { ...n, subgraph: rename.get(n.subgraph) } : n)),
  });
  const added = incoming.filter((d) => rename.has(d.id) || !byId.has(d.id)).map(fix);
  return { merged: [...existing, ...added], rename };
}

/** "images", or "images_2" when taken (as the engine names ports when grouping). */
export function freePortName(base: string, taken: Iterable<string>): string {
  const set = new Set(taken);
  if (!set.has(base)) return base;
  let i = 2;
  while (set.has(`${base}_${i}`)) i++;
  return `${base}_${i}`;
}

/** The title of the node at `path` ("a" or "a/b") inside definition `defId` (nested groups followed). */
export function innerTitle(subgraphs: SubgraphDefinition[], defId: string | undefined, path: string, titleOf: (type: string) => string | undefined): string {
  const parts = path.split('/');
  let def = subgraphs.find((d) => d.id === defId);
  for (let i = 0; def && i < parts.length; i++) {
    const n = def.nodes.find((x) => x.id === parts[i]);
    if (!n) break;
    if (i === parts.length - 1) return n.label || (n.subgraph ? subgraphs.find((d) => d.id === n.subgraph)?.name : undefined) || titleOf(n.type) || n.id;
    def = subgraphs.find((d) => d.id === n.subgraph);
  }
  return parts[parts.length - 1];
}

export interface GroupRunSummary {
  status?: 'queued' | 'running' | 'done' | 'error' | 'blocked' | 'cancelled';
  finished: number;
  total: number;
  /** Expanded id of the inner node running now. */
  runningId?: string;
  /** 0..1 over all inner nodes: finished ones count 1, the running one its step/total. */
  fraction: number;
  message?: string;
}

/** What a collapsed group shows while its inner nodes run (statuses are reported under expanded ids). */
export function groupRunSummary(runState: Record<string, { status: string; progress?: { step: number; total: number; message?: string } }>, groupId: string): GroupRunSummary {
  const inner = Object.entries(runState).filter(([id]) => id.startsWith(`${groupId}/`));
  if (!inner.length) return { finished: 0, total: 0, fraction: 0 };
  const ok = new Set(['done', 'cached', 'bypassed']);
  const finished = inner.filter(([, r]) => ok.has(r.status)).length;
  const running = inner.find(([, r]) => r.status === 'running');
  const part = running?.[1].progress ? running[1].progress.step / Math.max(1, running[1].progress.total) : 0;
  const has = (st: string) => inner.some(([, r]) => r.status === st);
  const status: GroupRunSummary['status'] = running ? 'running' : has('error') ? 'error' : has('cancelled') ? 'cancelled' : has('queued') ? (finished ? 'running' : 'queued') : has('blocked') ? 'blocked' : 'done';
  return { status, finished, total: inner.length, runningId: running?.[0], fraction: (finished + part) / inner.length, message: running?.[1].progress?.message };
}
