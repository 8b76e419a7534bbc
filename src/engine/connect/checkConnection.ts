import type { Graph, GraphEdge, GraphNode } from '../graph/model';
import { pathExists } from '../graph/topology';
import type { NodeRegistry } from '../registry/registry';
import { SPACED_KINDS } from '../ports/kinds';
import { inferSpaces, spaceOfInputs } from './spaces';
import { nodeSpec } from '../subgraph/subgraph';

export type ConnectionCheck =
  | { ok: true }
  | { ok: false; code: RefusalCode; reason: string };

export type RefusalCode =
  | 'unknown-node'
  | 'unknown-node-type'
  | 'unknown-output'
  | 'unknown-input'
  | 'self-loop'
  | 'kind-mismatch'
  | 'space-mismatch'
  | 'input-taken'
  | 'cycle';

const refuse = (code: RefusalCode, reason: string): ConnectionCheck => ({ ok: false, code, reason });

/**
 * Lookups for checking many edges of one graph in linear time (validateGraph): nodes by id and
 * taken inputs, instead of scanning the graph per edge. Space and cycle checks are left to the
 * caller, which does each once for the whole graph.
 */
export interface ConnectionIndex {
  node(id: string): GraphNode | undefined;
  /** The node already wired into `nodeId.port`, if any. */
  takenBy(nodeId: string, port: string): string | undefined;
}

/**
 * Would `edge` be a valid wire in `graph`? Returns a reason a person can act on when not.
 * `graph` must not already contain `edge` (when re-validating a loaded graph, pass it without it).
 */
export function checkConnection(graph: Graph, registry: NodeRegistry, edge: GraphEdge, index?: ConnectionIndex): ConnectionCheck {
  const source = index ? index.node(edge.from.node) : graph.nodes.find((n) => n.id === edge.from.node);
  const target = index ? index.node(edge.to.node) : graph.nodes.find((n) => n.id === edge.to.node);
  if (!source) return refuse('unknown-node', `There is no node "${edge.from.node}" to wire from.`);
  if (!target) return refuse('unknown-node', `There is no node "${edge.to.node}" to wire into.`);
  // Group nodes' ports come from their subgraph definition (typed like the inner ports).
  const sourceDef = nodeSpec(graph, source, registry);
  const targetDef = nodeSpec(graph, target, registry);
  if (!sourceDef) return refuse('unknown-node-type', `Node "${source.id}" has the unknown type "${source.type}".`);
  if (!targetDef) return refuse('unknown-node-type', `Node "${target.id}" has the unknown type "${target.type}".`);
  const out = sourceDef.outputs[edge.from.port];
  if (!out) {
    return refuse('unknown-output', `${sourceDef.title} has no output "${edge.from.port}" (outputs: ${Object.keys(sourceDef.outputs).join(', ') || 'none'}).`);
  }
  const inp = targetDef.inputs[edge.to.port];
  if (!inp) {
    return refuse('unknown-input', `${targetDef.title} has no input "${edge.to.port}" (inputs: ${Object.keys(targetDef.inputs).join(', ') || 'none'}).`);
  }
  if (source.id === target.id) return refuse('self-loop', `A node cannot feed itself (${sourceDef.title} "${source.id}").`);
  if (out.kind !== inp.kind) {
    return refuse(
      'kind-mismatch',
      `${sourceDef.title} → ${out.label} is ${out.kind}, but ${targetDef.title} → ${inp.label} expects ${inp.kind}.`,
    );
  }
  const taken = index ? index.takenBy(target.id, edge.to.port) : graph.edges.find((e) => e.to.node === target.id && e.to.port === edge.to.port)?.from.node;
  if (taken !== undefined) {
    return refuse('input-taken', `${targetDef.title} → ${inp.label} is already wired from "${taken}"; an input takes one wire (remove that one first).`);
  }
  if (index) return { ok: true };
  if (SPACED_KINDS.has(out.kind)) {
    const spaces = inferSpaces(graph, registry);
    const incoming = spaces.get(source.id);
    const existing = targetDef.spaceOf ? undefined : spaceOfInputs(graph, registry, target.id, spaces);
    if (incoming && existing && incoming !== existing) {
      return refuse(
        'space-mismatch',
        `${out.label} lives in embedding space "${incoming}" but ${targetDef.title} "${target.id}" already works in "${existing}"; embeddings of different encoders cannot be mixed (use one encoder for both).`,
      );
    }
  }
  const loop = pathExists(graph, target.id, source.id);
  if (loop) return refuse('cycle', `This wire would make a cycle: ${[...loop, target.id].join(' → ')}.`);
  return { ok: true };
}
