import type { Graph } from '../graph/model';
import { topologicalOrder } from '../graph/topology';
import type { NodeRegistry } from '../registry/registry';
import { SPACED_KINDS } from '../ports/kinds';

/**
 * Static embedding-space inference: encoder nodes name their space from their params; every other
 * node's spaced outputs inherit the space of its spaced inputs. Used to refuse wires that would mix
 * spaces before anything runs.
 */
export function inferSpaces(graph: Graph, registry: NodeRegistry): Map<string, string | undefined> {
  const spaces = new Map<string, string | undefined>();
  const nodes = new Map(graph.nodes.map((n) => [n.id, n]));
  // Incoming edges per node, so the whole inference is linear in nodes + edges.
  const incoming = new Map<string, Graph['edges']>();
  for (const e of graph.edges) {
    let list = incoming.get(e.to.node);
    if (!list) incoming.set(e.to.node, (list = []));
    list.push(e);
  }
  for (const id of topologicalOrder(graph).order) {
    const node = nodes.get(id)!;
    const def = registry.get(node.type);
    if (!def) continue;
    if (def.spaceOf) {
      const parsed = def.params.safeParse(node.params);
      spaces.set(id, parsed.success ? def.spaceOf(parsed.data) : undefined);
      continue;
    }
    spaces.set(id, firstSpace(def, incoming.get(id) ?? [], spaces));
  }
  return spaces;
}

function firstSpace(def: { inputs: Record<string, { kind: import('../ports/kinds').PortKind }> }, edges: Graph['edges'], spaces: Map<string, string | undefined>): string | undefined {
  for (const e of edges) {
    const spec = def.inputs[e.to.port];
    if (spec && SPACED_KINDS.has(spec.kind) && spaces.get(e.from.node)) return spaces.get(e.from.node);
  }
  return undefined;
}

/** The space shared by a node's wired spaced inputs (first one found). */
export function spaceOfInputs(graph: Graph, registry: NodeRegistry, nodeId: string, spaces: Map<string, string | undefined>): string | undefined {
  const node = graph.nodes.find((n) => n.id === nodeId);
  const def = node && registry.get(node.type);
  if (!def) return undefined;
  for (const e of graph.edges) {
    if (e.to.node !== nodeId) continue;
    const spec = def.inputs[e.to.port];
    if (spec && SPACED_KINDS.has(spec.kind) && spaces.get(e.from.node)) return spaces.get(e.from.node);
  }
  return undefined;
}
