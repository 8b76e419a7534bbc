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
  /** Group nodes only (type "subgraph"): the id of the subgraph definition this node instantiates. */
  subgraph?: string;
}

/** A port of a subgraph: a wire cut when the nodes were grouped. Its kind is that of the inner port. */
export interface SubgraphPort {
  name: string;
  /** Shown instead of the name (renamed in the editor). */
  label?: string;
}

/**
 * A reusable subgraph (ComfyUI's subgraph, Blender's node group). Inside, wires from the node
 * "@in" (port = an input's name) feed inner nodes and wires into "@out" (port = an output's name)
 * leave them. Group nodes (type "subgraph") instantiate it; expandSubgraphs() flattens them.
 */
export interface SubgraphDefinition {
  id: string;
  name: string;
  inputs: SubgraphPort[];
  outputs: SubgraphPort[];
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** Editor-only (notes, reroutes, where the input/output nodes sit); the engine ignores it. */
  meta?: GraphMeta;
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
  /** Subgraph definitions used by group nodes (format version 2 and later). */
  subgraphs?: SubgraphDefinition[];
}

/** The node type of group nodes; not in the registry: the engine expands them before running. */
export const SUBGRAPH_NODE_TYPE = 'subgraph';
/** Inside a subgraph definition: the node ids standing for its inputs and outputs. */
export const SUBGRAPH_INPUT = '@in';
export const SUBGRAPH_OUTPUT = '@out';

export const GRAPH_FORMAT = 'backlit-graph';

export function emptyGraph(name = 'Untitled'): Graph {
  return { format: GRAPH_FORMAT, version: CURRENT_GRAPH_VERSION, nodes: [], edges: [], meta: { name } };
}

/** Bumped with every format change, together with a migration in schema/migrations.ts. */
export const CURRENT_GRAPH_VERSION = 2;

export function edgeKey(e: GraphEdge): string {
  return `${e.from.node}:${e.from.port}->${e.to.node}:${e.to.port}`;
}
