import { BacklitError } from '../errors/BacklitError';
import type { Host } from '../host';
import type { NodeContext } from '../nodes/defineNode';
import { CURRENT_GRAPH_VERSION, GRAPH_FORMAT, type Graph, type GraphEdge, type GraphNode } from '../graph/model';

/** Test-only shorthands for building graphs in code. */
export function node(id: string, type: string, params: Record<string, unknown> = {}, extra: Partial<GraphNode> = {}): GraphNode {
  return { id, type, params, position: { x: 0, y: 0 }, ...extra };
}

/** `wire('a.images', 'b.images')` */
export function wire(from: string, to: string): GraphEdge {
  const [fn, fp] = split(from);
  const [tn, tp] = split(to);
  return { from: { node: fn, port: fp }, to: { node: tn, port: tp } };
}

export function graph(nodes: GraphNode[], edges: GraphEdge[] = []): Graph {
  return { format: GRAPH_FORMAT, version: CURRENT_GRAPH_VERSION, nodes, edges, meta: {} };
}

function split(ref: string): [string, string] {
  const dot = ref.indexOf('.');
  if (dot < 0) throw new Error(`"${ref}" is not node.port`);
  return [ref.slice(0, dot), ref.slice(dot + 1)];
}

/** A NodeContext for calling a node's run() directly, recording logs and progress. */
export function fakeContext(host: Host, nodeId = 'n'): NodeContext & { logs: string[]; steps: Array<[number, number]> } {
  const logs: string[] = [];
  const steps: Array<[number, number]> = [];
  return {
    nodeId,
    host,
    signal: new AbortController().signal,
    logs,
    steps,
    progress: (step, total) => void steps.push([step, total]),
    log: (m) => void logs.push(m),
    throwIfCancelled: () => {},
    fail(field, message, fix): never {
      throw new BacklitError({ code: 'node-failed', nodeId, field, message, fix });
    },
  };
}
