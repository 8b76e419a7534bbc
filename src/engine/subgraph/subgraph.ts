import type { ErrorInfo } from '../errors/BacklitError';
import {
  SUBGRAPH_INPUT,
  SUBGRAPH_NODE_TYPE,
  SUBGRAPH_OUTPUT,
  type Graph,
  type GraphEdge,
  type GraphNode,
  type PortRef,
  type SubgraphDefinition,
} from '../graph/model';
import type { PortKind } from '../ports/kinds';
import type { NodeRegistry } from '../registry/registry';

/** Group nodes inside group nodes: deeper than this is refused (a mistake, not a design). */
export const MAX_SUBGRAPH_DEPTH = 16;
/** A graph whose groups expand to more nodes than this is refused (nested groups multiply). */
export const MAX_EXPANDED_NODES = 100_000;

export function isGroupNode(node: Pick<GraphNode, 'type'>): boolean {
  return node.type === SUBGRAPH_NODE_TYPE;
}

export function subgraphOf(graph: Pick<Graph, 'subgraphs'>, id: string | undefined): SubgraphDefinition | undefined {
  return id === undefined ? undefined : graph.subgraphs?.find((d) => d.id === id);
}

/** A port of a group node as the editor and wire checks see it. `kind` is missing while nothing inside is wired to it. */
export interface GroupPort {
  name: string;
  label: string;
  kind?: PortKind;
  optional: boolean;
}

/** Ports of each definition, computed once per call tree ('pending' while being computed: a group containing itself). */
export type PortsMemo = Map<string, { inputs: GroupPort[]; outputs: GroupPort[] } | 'pending'>;

/** Ports of a subgraph, typed like the inner ports they are wired to (recursively through nested groups). */
export function subgraphPorts(graph: Pick<Graph, 'subgraphs'>, def: SubgraphDefinition, registry: NodeRegistry, memo: PortsMemo = new Map()): { inputs: GroupPort[]; outputs: GroupPort[] } {
  const known = memo.get(def.id);
  if (known === 'pending') {
    // Recursion (reported by expandSubgraphs): ports stay untyped instead of looping.
    const untyped = (p: { name: string; label?: string }): GroupPort => ({ name: p.name, label: p.label || p.name, optional: false });
    return { inputs: def.inputs.map(untyped), outputs: def.outputs.map(untyped) };
  }
  if (known) return known;
  memo.set(def.id, 'pending');
  const byId = new Map(def.nodes.map((n) => [n.id, n]));
  const specOf = (id: string) => {
    const n = byId.get(id);
    return n ? nodeSpec(graph, n, registry, memo) : undefined;
  };
  const inputs = def.inputs.map((p): GroupPort => {
    const targets = def.edges.filter((e) => e.from.node === SUBGRAPH_INPUT && e.from.port === p.name);
    const specs = targets.map((e) => specOf(e.to.node)?.inputs[e.to.port]);
    const first = specs.find(Boolean);
    return { name: p.name, label: p.label || first?.label || p.name, kind: first?.kind, optional: specs.length > 0 && specs.every((s) => s?.optional) };
  });
  const outputs = def.outputs.map((p): GroupPort => {
    const source = def.edges.find((e) => e.to.node === SUBGRAPH_OUTPUT && e.to.port === p.name);
    const spec = source ? specOf(source.from.node)?.outputs[source.from.port] : undefined;
    return { name: p.name, label: p.label || spec?.label || p.name, kind: spec?.kind, optional: false };
  });
  const result = { inputs, outputs };
  memo.set(def.id, result);
  return result;
}

/** What wire checks need to know of a node: its title and typed ports. */
export interface NodeSpec {
  title: string;
  inputs: Record<string, { kind: PortKind; label: string; optional?: boolean }>;
  outputs: Record<string, { kind: PortKind; label: string }>;
  /** Present on encoder nodes (they name an embedding space); group nodes never have it. */
  spaceOf?: unknown;
}

/** A node's ports: from the registry, or for a group node from its subgraph definition. */
export function nodeSpec(graph: Pick<Graph, 'subgraphs'>, node: GraphNode, registry: NodeRegistry, memo: PortsMemo = new Map()): NodeSpec | undefined {
  if (!isGroupNode(node)) return registry.get(node.type);
  const def = subgraphOf(graph, node.subgraph);
  if (!def) return undefined;
  const ports = subgraphPorts(graph, def, registry, memo);
  const typed = <T extends GroupPort>(list: T[]) => Object.fromEntries(list.filter((p) => p.kind).map((p) => [p.name, { kind: p.kind!, label: p.label, optional: p.optional }]));
  return { title: node.label || def.name, inputs: typed(ports.inputs), outputs: typed(ports.outputs) };
}

export interface ExpandResult {
  /** The plain node graph: no group nodes, no definitions; inner ids are namespaced ("group1/nodeA"). */
  graph: Graph;
  /** Problems of the grouping itself (unknown definition, unknown group port, recursion), naming the group node. */
  errors: ErrorInfo[];
  /** The expansion stopped at MAX_EXPANDED_NODES: `graph` is partial, not worth validating further. */
  overflow?: boolean;
}

/**
 * Flattens group nodes into the plain graph they stand for. Pure: the input is not modified. Inner
 * nodes get the id `<group id>/<inner id>` (nested: `a/b/c`), so caching, progress and errors name
 * the inner node. A wire into a group input becomes one wire to each inner port it feeds; a wire
 * from a group output comes from the inner port wired to it. A bypassed group bypasses every inner node.
 * A graph without group nodes is returned as is (same object).
 */
export function expandSubgraphs(graph: Graph): ExpandResult {
  if (!graph.nodes.some(isGroupNode)) return { graph, errors: [] };
  const errors: ErrorInfo[] = [];
  const defs = new Map<string, SubgraphDefinition>();
  for (const d of graph.subgraphs ?? []) {
    if (defs.has(d.id)) errors.push({ code: 'subgraph-invalid', field: `subgraphs.${d.id}`, message: `Two subgraph definitions share the id "${d.id}".`, fix: 'give each definition its own id (and point each group node\'s "subgraph" at the right one).' });
    else defs.set(d.id, d);
  }
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const seenEdges = new Set<string>();
  let overflow = false;
  // A definition's own problems are the same in every instance: said once, naming the first group.
  const reported = new Set<string>();
  const pushEdge = (e: GraphEdge) => {
    const key = `${e.from.node}\u0000${e.from.port}\u0000${e.to.node}\u0000${e.to.port}`;
    if (!seenEdges.has(key)) {
      seenEdges.add(key);
      edges.push(e);
    }
  };

  interface Level {
    prefix: string;
    /** The group node this level is the inside of (undefined at the top). */
    owner?: { id: string; title: string; def: SubgraphDefinition };
    stack: string[];
    bypass: boolean;
  }
  interface Boundary {
    inputs: Map<string, PortRef[]>;
    outputs: Map<string, PortRef | undefined>;
  }

  const expandLevel = (levelNodes: GraphNode[], levelEdges: GraphEdge[], level: Level): Boundary => {
    const groups = new Map<string, { title: string; boundary: Boundary; def: SubgraphDefinition }>();
    const broken = new Set<string>();
    for (const n of levelNodes) {
      const id = level.prefix + n.id;
      if (!isGroupNode(n)) {
        nodes.push({ ...n, id, ...(level.bypass ? { bypass: true } : {}) });
        continue;
      }
      const def = defs.get(n.subgraph ?? '');
      const title = n.label || def?.name || n.id;
      const fail = (message: string, fix: string) => {
        errors.push({ code: 'subgraph-invalid', nodeId: id, nodeType: 'Group', field: 'subgraph', message, fix });
        broken.add(n.id);
      };
      if (!def) {
        fail(`Group "${title}" names the subgraph "${n.subgraph}", which this graph does not define.`, `add a definition with id "${n.subgraph}" to "subgraphs", or point "subgraph" at one of: ${[...defs.keys()].join(', ') || '(none defined)'}.`);
        continue;
      }
      if (level.stack.includes(def.id)) {
        fail(`Group "${title}" contains itself (${[...level.stack, def.id].join(' → ')}).`, 'a subgraph cannot contain a group of itself; ungroup the inner one.');
        continue;
      }
      if (level.stack.length >= MAX_SUBGRAPH_DEPTH) {
        fail(`Groups are nested more than ${MAX_SUBGRAPH_DEPTH} deep.`, 'ungroup some of the inner groups.');
        continue;
      }
      if (overflow || nodes.length + def.nodes.length > MAX_EXPANDED_NODES) {
        // Reported once; the rest of the expansion is skipped (the graph cannot run anyway).
        if (!overflow) fail(`The groups expand to more than ${MAX_EXPANDED_NODES} nodes.`, 'nested groups multiply their contents; use fewer instances or ungroup some.');
        else broken.add(n.id);
        overflow = true;
        continue;
      }
      const boundary = expandLevel(def.nodes, def.edges, { prefix: `${id}/`, owner: { id, title, def }, stack: [...level.stack, def.id], bypass: level.bypass || Boolean(n.bypass) });
      groups.set(n.id, { title, boundary, def });
    }

    const portError = (e: GraphEdge, groupId: string, title: string, dir: 'input' | 'output', port: string, known: string[]) => {
      errors.push({
        code: 'edge-unknown-port',
        nodeId: level.prefix + groupId,
        nodeType: 'Group',
        field: `${e.from.node}.${e.from.port} → ${e.to.node}.${e.to.port}`,
        message: `Group "${title}" has no ${dir} "${port}" (${dir}s: ${known.join(', ') || 'none'}).`,
        fix: 'delete this wire and connect one of the group\'s ports.',
      });
    };
    const resolveSource = (e: GraphEdge): PortRef | undefined => {
      const ref = e.from;
      if (broken.has(ref.node)) return undefined;
      const g = groups.get(ref.node);
      if (!g) return { node: level.prefix + ref.node, port: ref.port };
      if (!g.boundary.outputs.has(ref.port)) {
        portError(e, ref.node, g.title, 'output', ref.port, g.def.outputs.map((p) => p.name));
        return undefined;
      }
      return g.boundary.outputs.get(ref.port);
    };
    const resolveTargets = (e: GraphEdge): PortRef[] => {
      const ref = e.to;
      if (broken.has(ref.node)) return [];
      const g = groups.get(ref.node);
      if (!g) return [{ node: level.prefix + ref.node, port: ref.port }];
      if (!g.boundary.inputs.has(ref.port)) {
        portError(e, ref.node, g.title, 'input', ref.port, g.def.inputs.map((p) => p.name));
        return [];
      }
      return g.boundary.inputs.get(ref.port)!;
    };

    const boundary: Boundary = { inputs: new Map(), outputs: new Map() };
    const owner = level.owner;
    if (owner) {
      for (const p of owner.def.inputs) boundary.inputs.set(p.name, []);
      for (const p of owner.def.outputs) boundary.outputs.set(p.name, undefined);
    }
    const defError = (field: string, message: string, fix: string) => {
      const key = `${owner!.def.id}\u0000${field}\u0000${message}`;
      if (reported.has(key)) return;
      reported.add(key);
      errors.push({ code: 'subgraph-invalid', nodeId: owner!.id, nodeType: 'Group', field, message, fix });
    };
    for (const e of levelEdges) {
      const fromInput = owner && e.from.node === SUBGRAPH_INPUT;
      const toOutput = owner && e.to.node === SUBGRAPH_OUTPUT;
      if (fromInput && toOutput) {
        defError(`inputs.${e.from.port}`, `Inside group "${owner.title}", input "${e.from.port}" is wired straight to output "${e.to.port}".`, 'put a node between them, or wire around the group outside.');
        continue;
      }
      if (fromInput) {
        if (!boundary.inputs.has(e.from.port)) {
          defError(`inputs.${e.from.port}`, `Inside group "${owner.title}", a wire comes from input "${e.from.port}", which subgraph "${owner.def.id}" does not list.`, `add {"name": "${e.from.port}"} to its "inputs", or delete that wire.`);
          continue;
        }
        boundary.inputs.get(e.from.port)!.push(...resolveTargets(e));
        continue;
      }
      if (toOutput) {
        if (!boundary.outputs.has(e.to.port)) {
          defError(`outputs.${e.to.port}`, `Inside group "${owner.title}", a wire goes to output "${e.to.port}", which subgraph "${owner.def.id}" does not list.`, `add {"name": "${e.to.port}"} to its "outputs", or delete that wire.`);
          continue;
        }
        if (boundary.outputs.get(e.to.port)) {
          defError(`outputs.${e.to.port}`, `Inside group "${owner.title}", output "${e.to.port}" has two wires into it.`, 'keep one.');
          continue;
        }
        boundary.outputs.set(e.to.port, resolveSource(e));
        continue;
      }
      const source = resolveSource(e);
      if (!source) continue;
      for (const target of resolveTargets(e)) pushEdge({ from: source, to: target });
    }
    if (owner) {
      for (const [port, source] of boundary.outputs) {
        if (!source && !owner.def.edges.some((e) => e.to.node === SUBGRAPH_OUTPUT && e.to.port === port)) {
          defError(`outputs.${port}`, `Output "${port}" of group "${owner.title}" is not wired to anything inside.`, 'open the group and wire a node\'s output into it, or delete the wires that use it outside.');
        }
      }
    }
    return boundary;
  };

  expandLevel(graph.nodes, graph.edges, { prefix: '', stack: [], bypass: false });
  const { subgraphs: _defs, ...rest } = graph;
  return { graph: { ...rest, nodes, edges }, errors, ...(overflow ? { overflow } : {}) };
}

/**
 * "Run to here" targets in expanded ids: a group node stands for every node inside it (nested
 * ones included); other ids pass through.
 */
export function expandTargets(flat: Graph, targets: string[]): string[] {
  const ids = new Set(flat.nodes.map((n) => n.id));
  return targets.flatMap((t) => (ids.has(t) ? [t] : flat.nodes.filter((n) => n.id.startsWith(`${t}/`)).map((n) => n.id)));
}

/**
 * The node a namespaced id names, e.g. "group1/nodeA" → nodeA inside the definition group1
 * instantiates (editing it edits that definition, shared by all its instances).
 */
export function findNode(graph: Graph, path: string): GraphNode | undefined {
  const parts = path.split('/');
  let nodes = graph.nodes;
  for (let i = 0; i < parts.length; i++) {
    const n = nodes.find((x) => x.id === parts[i]);
    if (!n || i === parts.length - 1) return n;
    const def = isGroupNode(n) ? subgraphOf(graph, n.subgraph) : undefined;
    if (!def) return undefined;
    nodes = def.nodes;
  }
  return undefined;
}
