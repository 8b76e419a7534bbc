/** The graph as the engine sees it (graph JSON, current version). */
export interface PortRef {
  node: string;
  port: string;
}

export interface GraphEdge {
  from: PortRef;
  to: PortRef;
}

export interface GraphNode {
  id: string;
  type: string;
  params: Record<string, unknown>;
  position: { x: number; y: number };
  /** How many of the node type's param migrations these params have seen. */
  version?: number;
  /** A user-chosen title shown instead of the node type's. */
  label?: string;
  /** Bypassed: not run; each output passes on the first wired input of the same kind (see Executor). */
  bypass?: boolean;
}

export interface GraphMeta {
  name?: string;
  description?: string;
  [key: string]: unknown;
}

export interface Graph {
  format: 'backlit-graph';
  version: number;
  nodes: GraphNode[];
  edges: GraphEdge[];
  meta: GraphMeta;
}

export const GRAPH_FORMAT = 'backlit-graph';

export function emptyGraph(name = 'Untitled'): Graph {
  return { format: GRAPH_FORMAT, version: CURRENT_GRAPH_VERSION, nodes: [], edges: [], meta: { name } };
}

/** Bumped with every format change, together with a migration in schema/migrations.ts. */
export const CURRENT_GRAPH_VERSION = 1;

export function edgeKey(e: GraphEdge): string {
  return `${e.from.node}:${e.from.port}->${e.to.node}:${e.to.port}`;
}
