import type { Edge, Node } from '@xyflow/react';
import { CURRENT_GRAPH_VERSION, GRAPH_FORMAT, type Graph, type GraphEdge, type GraphMeta } from '../engine';

/** What a React Flow node carries: the engine node minus its position. */
export type NodeData = {
  type: string;
  params: Record<string, unknown>;
  label?: string;
  version?: number;
};

export type EditorNode = Node<NodeData, 'backlit'>;

export function edgeId(e: GraphEdge): string {
  return `${e.from.node}.${e.from.port}->${e.to.node}.${e.to.port}`;
}

export function toGraph(nodes: EditorNode[], edges: Edge[], meta: GraphMeta): Graph {
  return {
    format: GRAPH_FORMAT,
    version: CURRENT_GRAPH_VERSION,
    meta,
    nodes: nodes.map((n) => ({
      id: n.id,
      type: n.data.type,
      params: n.data.params,
      position: { x: Math.round(n.position.x), y: Math.round(n.position.y) },
      ...(n.data.version !== undefined ? { version: n.data.version } : {}),
      ...(n.data.label ? { label: n.data.label } : {}),
    })),
    edges: edges.map(fromFlowEdge),
  };
}

export function fromFlowEdge(e: Pick<Edge, 'source' | 'target' | 'sourceHandle' | 'targetHandle'>): GraphEdge {
  return { from: { node: e.source, port: e.sourceHandle ?? '' }, to: { node: e.target, port: e.targetHandle ?? '' } };
}

export function fromGraph(graph: Graph): { nodes: EditorNode[]; edges: Edge[]; meta: GraphMeta } {
  return {
    meta: graph.meta,
    nodes: graph.nodes.map((n) => ({
      id: n.id,
      type: 'backlit',
      position: n.position,
      data: { type: n.type, params: n.params, label: n.label, version: n.version },
    })),
    edges: graph.edges.map((e) => ({
      id: edgeId(e),
      source: e.from.node,
      sourceHandle: e.from.port,
      target: e.to.node,
      targetHandle: e.to.port,
    })),
  };
}
