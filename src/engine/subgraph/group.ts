import {
  SUBGRAPH_INPUT,
  SUBGRAPH_NODE_TYPE,
  SUBGRAPH_OUTPUT,
  type Graph,
  type GraphEdge,
  type GraphNode,
  type SubgraphDefinition,
  type SubgraphPort,
} from '../graph/model';
import { isGroupNode, subgraphOf } from './subgraph';

/**
 * Editing operations on one level of a graph (the top, or the inside of a definition, where wires
 * to "@in"/"@out" are the definition's ports). Pure: they return new graphs. The editor runs them
 * on the level it shows; tests run them on whole graphs.
 */

export interface GroupOptions {
  /** Id for the new group node (default: the first free "group-N"). */
  groupId?: string;
  /** Id for the new definition (default: the first free "subgraph-N"). */
  subgraphId?: string;
  name?: string;
}

export interface GroupResult {
  graph: Graph;
  groupId: string;
  subgraphId: string;
}

function freeId(base: string, taken: Set<string>): string {
  let i = 1;
  while (taken.has(`${base}-${i}`)) i++;
  return `${base}-${i}`;
}

function freeName(base: string, taken: Set<string>): string {
  if (!taken.has(base)) return base;
  let i = 2;
  while (taken.has(`${base}_${i}`)) i++;
  return `${base}_${i}`;
}

/** Middle of the nodes' positions (rounded), the group node's place. */
function centreOf(nodes: GraphNode[]): { x: number; y: number } {
  if (!nodes.length) return { x: 0, y: 0 };
  const xs = nodes.map((n) => n.position.x);
  const ys = nodes.map((n) => n.position.y);
  return { x: Math.round((Math.min(...xs) + Math.max(...xs)) / 2), y: Math.round((Math.min(...ys) + Math.max(...ys)) / 2) };
}

const edgeKey = (e: GraphEdge) => `${e.from.node}\u0000${e.from.port}\u0000${e.to.node}\u0000${e.to.port}`;

/**
 * Collapses `ids` into one group node whose ports are the cut wires: one input per outside source
 * (fanning out inside to every port it fed), one output per inner source (feeding every outside
 * port it fed). Port names come from the inner ports ("images", "images_2"). Inner nodes keep their
 * ids and positions, so ungrouping puts them back where they were.
 */
export function groupNodes(level: Graph, ids: Iterable<string>, opts: GroupOptions = {}): GroupResult {
  const selected = new Set([...ids].filter((id) => level.nodes.some((n) => n.id === id)));
  if (!selected.size) throw new Error('Select at least one node to group.');
  const groupId = opts.groupId ?? freeId('group', new Set(level.nodes.map((n) => n.id)));
  const subgraphId = opts.subgraphId ?? freeId('subgraph', new Set((level.subgraphs ?? []).map((d) => d.id)));
  const inner = level.nodes.filter((n) => selected.has(n.id));

  const inputs: SubgraphPort[] = [];
  const outputs: SubgraphPort[] = [];
  const inputBySource = new Map<string, string>();
  const outputBySource = new Map<string, string>();
  const innerEdges: GraphEdge[] = [];
  const outerEdges: GraphEdge[] = [];
  const outerSeen = new Set<string>();
  const pushOuter = (e: GraphEdge) => {
    if (!outerSeen.has(edgeKey(e))) {
      outerSeen.add(edgeKey(e));
      outerEdges.push(e);
    }
  };
  for (const e of level.edges) {
    const fromIn = selected.has(e.from.node);
    const toIn = selected.has(e.to.node);
    if (fromIn && toIn) innerEdges.push(e);
    else if (!fromIn && !toIn) pushOuter(e);
    else if (toIn) {
      const key = `${e.from.node}\u0000${e.from.port}`;
      let name = inputBySource.get(key);
      if (name === undefined) {
        name = freeName(e.to.port, new Set(inputs.map((p) => p.name)));
        inputBySource.set(key, name);
        inputs.push({ name });
      }
      innerEdges.push({ from: { node: SUBGRAPH_INPUT, port: name }, to: e.to });
      pushOuter({ from: e.from, to: { node: groupId, port: name } });
    } else {
      const key = `${e.from.node}\u0000${e.from.port}`;
      let name = outputBySource.get(key);
      if (name === undefined) {
        name = freeName(e.from.port, new Set(outputs.map((p) => p.name)));
        outputBySource.set(key, name);
        outputs.push({ name });
        innerEdges.push({ from: e.from, to: { node: SUBGRAPH_OUTPUT, port: name } });
      }
      pushOuter({ from: { node: groupId, port: name }, to: e.to });
    }
  }

  const xs = inner.map((n) => n.position.x);
  const left = Math.min(...xs);
  const top = Math.min(...inner.map((n) => n.position.y));
  const def: SubgraphDefinition = {
    id: subgraphId,
    name: opts.name ?? freeName('Subgraph', new Set((level.subgraphs ?? []).map((d) => d.name))).replace('_', ' '),
    inputs,
    outputs,
    nodes: inner,
    edges: innerEdges,
    meta: { io: { input: { x: left - 320, y: top }, output: { x: Math.max(...xs) + 340, y: top } } },
  };
  // In the middle of where the nodes were (as ComfyUI does); ungrouping puts them back around it.
  const groupNode: GraphNode = { id: groupId, type: SUBGRAPH_NODE_TYPE, subgraph: subgraphId, params: {}, position: centreOf(inner) };
  const firstIndex = level.nodes.findIndex((n) => selected.has(n.id));
  const nodes = level.nodes.filter((n, i) => i === firstIndex || !selected.has(n.id)).map((n, i) => (i === firstIndex ? groupNode : n));
  return {
    graph: { ...level, nodes, edges: outerEdges, subgraphs: [...(level.subgraphs ?? []), def] },
    groupId,
    subgraphId,
  };
}

export interface UngroupResult {
  graph: Graph;
  /** Ids the inner nodes got at this level (their own, unless taken). */
  nodeIds: string[];
}

/**
 * Puts a group node's inner nodes back in its place, rewiring the cut wires; the definition stays
 * (other group nodes may use it; see pruneSubgraphs). Inner nodes move with the group node.
 */
export function ungroupNode(level: Graph, groupId: string): UngroupResult {
  const group = level.nodes.find((n) => n.id === groupId);
  if (!group || !isGroupNode(group)) throw new Error(`"${groupId}" is not a group node.`);
  const def = subgraphOf(level, group.subgraph);
  if (!def) throw new Error(`Group "${groupId}" names the subgraph "${group.subgraph}", which this graph does not define.`);
  const taken = new Set(level.nodes.filter((n) => n.id !== groupId).map((n) => n.id));
  const rename = new Map<string, string>();
  for (const n of def.nodes) {
    const id = taken.has(n.id) ? freeId(n.id.replace(/-\d+$/, ''), taken) : n.id;
    taken.add(id);
    rename.set(n.id, id);
  }
  const centre = centreOf(def.nodes);
  const dx = group.position.x - centre.x;
  const dy = group.position.y - centre.y;
  const innerNodes = def.nodes.map((n) => ({
    ...n,
    id: rename.get(n.id)!,
    position: { x: n.position.x + dx, y: n.position.y + dy },
    ...(group.bypass ? { bypass: true } : {}),
  }));
  const map = (ref: { node: string; port: string }) => ({ node: rename.get(ref.node) ?? ref.node, port: ref.port });
  const edges: GraphEdge[] = [];
  const seen = new Set<string>();
  const push = (e: GraphEdge) => {
    if (!seen.has(edgeKey(e))) {
      seen.add(edgeKey(e));
      edges.push(e);
    }
  };
  for (const e of level.edges) {
    if (e.to.node === groupId) {
      for (const d of def.edges) if (d.from.node === SUBGRAPH_INPUT && d.from.port === e.to.port && d.to.node !== SUBGRAPH_OUTPUT) push({ from: e.from, to: map(d.to) });
    } else if (e.from.node === groupId) {
      const d = def.edges.find((x) => x.to.node === SUBGRAPH_OUTPUT && x.to.port === e.from.port);
      if (d && d.from.node !== SUBGRAPH_INPUT) push({ from: map(d.from), to: e.to });
    } else push(e);
  }
  for (const d of def.edges) if (d.from.node !== SUBGRAPH_INPUT && d.to.node !== SUBGRAPH_OUTPUT) push({ from: map(d.from), to: map(d.to) });
  const index = level.nodes.indexOf(group);
  const nodes = [...level.nodes.slice(0, index), ...innerNodes, ...level.nodes.slice(index + 1)];
  return { graph: { ...level, nodes, edges }, nodeIds: innerNodes.map((n) => n.id) };
}

/** Drops definitions no group node uses (at the top or inside a used definition). */
export function pruneSubgraphs(graph: Graph): Graph {
  if (!graph.subgraphs?.length) return graph;
  const used = new Set<string>();
  const visit = (nodes: GraphNode[]) => {
    for (const n of nodes) {
      if (!isGroupNode(n) || !n.subgraph || used.has(n.subgraph)) continue;
      used.add(n.subgraph);
      const def = subgraphOf(graph, n.subgraph);
      if (def) visit(def.nodes);
    }
  };
  visit(graph.nodes);
  const kept = graph.subgraphs.filter((d) => used.has(d.id));
  if (kept.length === graph.subgraphs.length) return graph;
  const { subgraphs: _all, ...rest } = graph;
  return kept.length ? { ...rest, subgraphs: kept } : rest;
}

/** The definitions `nodes` use, nested ones included (for copying group nodes). */
export function subgraphsUsedBy(graph: Graph, nodes: GraphNode[]): SubgraphDefinition[] {
  return pruneSubgraphs({ ...graph, nodes }).subgraphs ?? [];
}
