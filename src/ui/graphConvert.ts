import type { Edge, Node } from '@xyflow/react';
import { CURRENT_GRAPH_VERSION, GRAPH_FORMAT, SUBGRAPH_NODE_TYPE, type Graph, type GraphEdge, type GraphMeta } from '../engine';

/** What a React Flow node carries: the engine node minus its position. */
export type NodeData = {
  type: string;
  params: Record<string, unknown>;
  label?: string;
  version?: number;
  /** Bypassed: the engine passes the matching input straight through instead of running it. */
  bypass?: boolean;
  /** Group nodes: the subgraph definition they instantiate. */
  subgraph?: string;
  /** The input/output node shown inside an open group (stands for the group's ports). */
  io?: 'input' | 'output';
};

/** Canvas-only nodes: sticky notes and frames that group nodes visually (saved in meta.annotations). */
export type AnnotationKind = 'note' | 'frame';

export type EditorNode = Node<NodeData, 'backlit' | 'subgraph' | 'group-io' | AnnotationKind>;

export interface Annotation {
  id: string;
  kind: AnnotationKind;
  text: string;
  position: { x: number; y: number };
  width?: number;
  height?: number;
}

export function isAnnotation(n: EditorNode): boolean {
  return n.type === 'note' || n.type === 'frame';
}

export function edgeId(e: GraphEdge): string {
  return `${e.from.node}.${e.from.port}->${e.to.node}.${e.to.port}`;
}

export function toGraph(nodes: EditorNode[], edges: Edge[], meta: GraphMeta): Graph {
  const annotations: Annotation[] = nodes.filter(isAnnotation).map((n) => ({
    id: n.id,
    kind: n.type as AnnotationKind,
    text: String(n.data.params.text ?? ''),
    position: { x: Math.round(n.position.x), y: Math.round(n.position.y) },
    ...(n.width ?? n.measured?.width ? { width: Math.round((n.width ?? n.measured?.width)!) } : {}),
    ...(n.height ?? n.measured?.height ? { height: Math.round((n.height ?? n.measured?.height)!) } : {}),
  }));
  const { annotations: _old, reroutes: _oldRoutes, ...rest } = meta;
  // Reroute points only change how a wire is drawn; the engine ignores meta.
  const reroutes = Object.fromEntries(edges.filter((e) => Array.isArray(e.data?.points) && (e.data.points as unknown[]).length).map((e) => [edgeId(fromFlowEdge(e)), e.data!.points]));
  return {
    format: GRAPH_FORMAT,
    version: CURRENT_GRAPH_VERSION,
    meta: { ...rest, ...(annotations.length ? { annotations } : {}), ...(Object.keys(reroutes).length ? { reroutes } : {}) },
    nodes: nodes.filter((n) => !isAnnotation(n) && n.type !== 'group-io').map((n) => ({
      id: n.id,
      type: n.type === 'subgraph' ? SUBGRAPH_NODE_TYPE : n.data.type,
      ...(n.type === 'subgraph' ? { subgraph: n.data.subgraph } : {}),
      params: n.data.params,
      position: { x: Math.round(n.position.x), y: Math.round(n.position.y) },
      ...(n.data.version !== undefined ? { version: n.data.version } : {}),
      ...(n.data.label ? { label: n.data.label } : {}),
      ...(n.data.bypass ? { bypass: true } : {}),
    })),
    edges: edges.map(fromFlowEdge),
  };
}

export function fromFlowEdge(e: Pick<Edge, 'source' | 'target' | 'sourceHandle' | 'targetHandle'>): GraphEdge {
  return { from: { node: e.source, port: e.sourceHandle ?? '' }, to: { node: e.target, port: e.targetHandle ?? '' } };
}

export function fromGraph(graph: Graph): { nodes: EditorNode[]; edges: Edge[]; meta: GraphMeta } {
  const annotations = Array.isArray(graph.meta.annotations) ? (graph.meta.annotations as Annotation[]) : [];
  return {
    meta: graph.meta,
    nodes: [
      // Frames first, so they draw behind the nodes they group.
      ...annotations
        .filter((a) => a && (a.kind === 'note' || a.kind === 'frame'))
        .sort((a, b) => (a.kind === 'frame' ? 0 : 1) - (b.kind === 'frame' ? 0 : 1))
        .map((a): EditorNode => annotationNode(a)),
      ...graph.nodes.map((n): EditorNode => ({
      id: n.id,
      type: n.type === SUBGRAPH_NODE_TYPE ? 'subgraph' : 'backlit',
      position: n.position,
      data: { type: n.type, params: n.params, label: n.label, version: n.version, ...(n.bypass ? { bypass: true } : {}), ...(n.subgraph !== undefined ? { subgraph: n.subgraph } : {}) },
    })),
    ],
    edges: graph.edges.map((e) => {
      const points = reroutesOf(graph.meta)[edgeId(e)];
      return {
        id: edgeId(e),
        source: e.from.node,
        sourceHandle: e.from.port,
        target: e.to.node,
        targetHandle: e.to.port,
        ...(points ? { data: { points } } : {}),
      };
    }),
  };
}

/** meta.reroutes, keeping only well-formed point lists (it comes from files and links: untrusted). */
function reroutesOf(meta: GraphMeta): Record<string, Array<{ x: number; y: number }>> {
  const raw = meta.reroutes;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return {};
  const out: Record<string, Array<{ x: number; y: number }>> = {};
  for (const [id, pts] of Object.entries(raw as Record<string, unknown>)) {
    if (!Array.isArray(pts)) continue;
    const ok = pts.filter((p): p is { x: number; y: number } => Boolean(p) && Number.isFinite((p as { x: unknown }).x) && Number.isFinite((p as { y: unknown }).y)).slice(0, 32);
    if (ok.length) out[id] = ok.map((p) => ({ x: p.x, y: p.y }));
  }
  return out;
}

export function annotationNode(a: Annotation): EditorNode {
  return {
    id: a.id,
    type: a.kind,
    position: a.position,
    data: { type: a.kind, params: { text: a.text } },
    ...(a.width ? { width: a.width } : {}),
    ...(a.height ? { height: a.height } : {}),
    ...(a.kind === 'frame' ? { zIndex: -1, style: { width: a.width ?? 480, height: a.height ?? 300 } } : {}),
  };
}
