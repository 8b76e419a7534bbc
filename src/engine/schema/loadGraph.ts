import { BacklitError, type ErrorInfo } from '../errors/BacklitError';
import { CURRENT_GRAPH_VERSION, GRAPH_FORMAT, type Graph, type GraphNode } from '../graph/model';
import { topologicalOrder } from '../graph/topology';
import { checkConnection, type ConnectionIndex } from '../connect/checkConnection';
import { inferSpaces } from '../connect/spaces';
import { SPACED_KINDS } from '../ports/kinds';
import type { NodeRegistry } from '../registry/registry';
import { migrationCount } from '../nodes/defineNode';
import { graphSchema, RESERVED_KEYS } from './graphSchema';
import { scanJson } from './jsonScan';
import { cut, preview } from '../errors/BacklitError';
import { migrateGraph } from './migrations';
import { expandSubgraphs, isGroupNode } from '../subgraph/subgraph';

export interface LoadResult {
  /** Present unless the file is unusable as a whole (not JSON, wrong format, newer version). */
  graph?: Graph;
  /** Every problem found; the graph may only run when this is empty. */
  errors: ErrorInfo[];
}

/** Parse, migrate and validate graph JSON (text or parsed). Never throws for bad input. */
export function loadGraph(input: string | unknown, registry: NodeRegistry): LoadResult {
  let raw: unknown = input;
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input);
    } catch (e) {
      return fatal({
        code: 'graph-not-json',
        message: `The file is not valid JSON (${(e as Error).message}).`,
        fix: 'the file may be truncated or hand-edited; re-save it from the editor or restore a copy.',
      });
    }
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return fatal({ code: 'graph-not-object', message: 'A graph file must hold one JSON object.', fix: 'save the graph again from the editor or the CLI.' });
  }
  const scan = scanJson(raw);
  if (scan) {
    const where = scan.path.join('.');
    const nodeIndex = scan.path[0] === 'nodes' && typeof scan.path[1] === 'number' ? scan.path[1] : undefined;
    const nodeRaw = nodeIndex !== undefined ? ((raw as { nodes?: unknown[] }).nodes?.[nodeIndex] as { id?: unknown } | undefined) : undefined;
    const nodeId = typeof nodeRaw?.id === 'string' && !RESERVED_KEYS.has(nodeRaw.id) ? cut(nodeRaw.id, 200) : undefined;
    return fatal({ code: 'graph-shape', nodeId, field: where, message: `The graph JSON is refused at "${where}": ${scan.message}.`, fix: 'rename that key or flatten that value; graph files are plain data.' });
  }
  const obj = raw as Record<string, unknown>;
  if (obj.format !== GRAPH_FORMAT) {
    return fatal({
      code: 'graph-format',
      field: 'format',
      message: `This is not a Backlit Studio graph ("format" is ${preview(obj.format)}, expected "${GRAPH_FORMAT}").`,
      fix: 'open a file saved by Backlit Studio.',
    });
  }
  const version = obj.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 0) {
    return fatal({ code: 'graph-version-invalid', field: 'version', message: `"version" must be a whole number ≥ 0, got ${preview(version)}.`, fix: `set "version" to ${CURRENT_GRAPH_VERSION} if the file was written for this release.` });
  }
  if (version > CURRENT_GRAPH_VERSION) {
    return fatal({
      code: 'graph-version-newer',
      field: 'version',
      message: `The graph is format version ${version}, newer than this Backlit Studio understands (${CURRENT_GRAPH_VERSION}).`,
      fix: 'update Backlit Studio.',
    });
  }
  const parsed = graphSchema.safeParse(migrateGraph(obj, version));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = cut(issue.path.join('.'), 200);
    return fatal({ code: 'graph-shape', nodeId: nodeNamedBy(obj, issue.path), field: path, message: `The graph JSON is malformed at "${path}": ${issue.message}.`, fix: 'fix that entry or re-save the graph from the editor.' });
  }
  const graph = parsed.data as Graph;
  graph.version = CURRENT_GRAPH_VERSION;
  return { graph, errors: validateGraph(graph, registry) };
}

function fatal(e: ErrorInfo): LoadResult {
  return { errors: [e] };
}

/** The node a schema issue is about: "nodes.3.…" → that node's id; "subgraphs.0.nodes.2.…" → "<group def>/<node id>"-style naming. */
function nodeNamedBy(raw: Record<string, unknown>, path: PropertyKey[]): string | undefined {
  const idAt = (list: unknown, i: PropertyKey) => {
    const item = Array.isArray(list) && typeof i === 'number' ? (list[i] as { id?: unknown } | undefined) : undefined;
    return typeof item?.id === 'string' && !RESERVED_KEYS.has(item.id) ? cut(item.id, 200) : undefined;
  };
  if (path[0] === 'nodes') return idAt(raw.nodes, path[1]);
  if (path[0] === 'subgraphs') {
    const def = Array.isArray(raw.subgraphs) && typeof path[1] === 'number' ? (raw.subgraphs[path[1]] as Record<string, unknown> | undefined) : undefined;
    const defId = idAt(raw.subgraphs, path[1]);
    const inner = path[2] === 'nodes' && def ? idAt(def.nodes, path[3]) : undefined;
    return defId && inner ? `subgraph ${defId}: ${inner}` : defId ? `subgraph ${defId}` : undefined;
  }
  return undefined;
}

/**
 * Problems of an in-memory graph: node types, params, edges, cycles. Migrates node params in place.
 * Linear in nodes + edges (a 30k-node chain validates in well under a second): nodes and taken
 * inputs are looked up in maps, embedding spaces are inferred once, cycles found once.
 */
export function validateGraph(graph: Graph, registry: NodeRegistry): ErrorInfo[] {
  if (graph.nodes.some(isGroupNode)) {
    // Params are migrated where they live (top level and definitions), so a saved graph is up to
    // date; the graph is then checked as the executor will run it: expanded, inner ids namespaced.
    for (const n of [...graph.nodes, ...(graph.subgraphs ?? []).flatMap((d) => d.nodes)]) if (!isGroupNode(n)) checkNodeParams(n, registry);
    const { graph: flat, errors, overflow } = expandSubgraphs(graph);
    return overflow ? errors : [...errors, ...validateGraph(flat, registry)];
  }
  const errors: ErrorInfo[] = [];
  const byId = new Map<string, GraphNode>();
  for (const node of graph.nodes) {
    if (byId.has(node.id)) {
      errors.push({ code: 'node-duplicate-id', nodeId: node.id, field: 'id', message: `Two nodes share the id "${node.id}".`, fix: 'give each node its own id.' });
    } else byId.set(node.id, node);
    errors.push(...checkNodeParams(node, registry));
  }
  // Edges: re-check each one as if it were drawn onto the graph without it (first wire into an
  // input wins), then embedding spaces over the wires that passed.
  const kept: typeof graph.edges = [];
  const taken = new Map<string, string>();
  const index: ConnectionIndex = { node: (id) => byId.get(id), takenBy: (nodeId, port) => taken.get(`${nodeId}\u0000${port}`) };
  const edgeError = (edge: Graph['edges'][number], check: { code: string; reason: string }): ErrorInfo => {
    const dangling = check.code === 'unknown-node';
    return {
      code: dangling ? 'edge-dangling-node' : check.code === 'unknown-output' || check.code === 'unknown-input' ? 'edge-unknown-port' : 'edge-refused',
      nodeId: dangling ? undefined : edge.to.node,
      field: `${edge.from.node}.${edge.from.port} → ${edge.to.node}.${edge.to.port}`,
      message: check.reason,
      fix: dangling ? 'delete this wire or restore the missing node.' : 'delete this wire and connect matching ports.',
    };
  };
  for (const edge of graph.edges) {
    const check = checkConnection(graph, registry, edge, index);
    if (!check.ok) {
      errors.push(edgeError(edge, check));
      continue;
    }
    kept.push(edge);
    taken.set(`${edge.to.node}\u0000${edge.to.port}`, edge.from.node);
  }
  errors.push(...checkSpaces({ ...graph, edges: kept }, registry, byId, edgeError));
  const { cycle } = topologicalOrder(graph);
  if (cycle) {
    errors.push({ code: 'edge-refused', nodeId: cycle[0], field: 'edges', message: `The graph has a cycle: ${cycle.join(' → ')}.`, fix: 'remove one wire of the cycle; graphs must flow one way.' });
  }
  return errors;
}

/** Wires that would mix embedding spaces: a node's spaced inputs must share one space. */
function checkSpaces(graph: Graph, registry: NodeRegistry, byId: Map<string, GraphNode>, edgeError: (e: Graph['edges'][number], c: { code: string; reason: string }) => ErrorInfo): ErrorInfo[] {
  const errors: ErrorInfo[] = [];
  const spaces = inferSpaces(graph, registry);
  const established = new Map<string, string>();
  for (const edge of graph.edges) {
    const sourceDef = registry.get(byId.get(edge.from.node)!.type)!;
    const targetDef = registry.get(byId.get(edge.to.node)!.type)!;
    const out = sourceDef.outputs[edge.from.port];
    if (!SPACED_KINDS.has(out.kind) || targetDef.spaceOf) continue;
    const incoming = spaces.get(edge.from.node);
    if (!incoming) continue;
    const existing = established.get(edge.to.node);
    if (existing === undefined) established.set(edge.to.node, incoming);
    else if (existing !== incoming) {
      errors.push(edgeError(edge, {
        code: 'space-mismatch',
        reason: `${out.label} lives in embedding space "${incoming}" but ${targetDef.title} "${edge.to.node}" already works in "${existing}"; embeddings of different encoders cannot be mixed (use one encoder for both).`,
      }));
    }
  }
  return errors;
}

/** Applies a node's param migrations and checks params against its schema (in place). */
export function checkNodeParams(node: GraphNode, registry: NodeRegistry): ErrorInfo[] {
  const def = registry.get(node.type);
  if (!def) {
    const near = closest(node.type, registry.types());
    return [{
      code: 'node-unknown-type',
      nodeId: node.id,
      field: 'type',
      message: `Unknown node type "${node.type}".`,
      fix: near ? `did you mean "${near}"? Run \`backlit nodes\` for the list.` : 'run `backlit nodes` for the list of node types.',
    }];
  }
  const seenMigrations = node.version ?? 0;
  const total = migrationCount(def);
  if (seenMigrations > total) {
    return [{ code: 'node-version-newer', nodeId: node.id, nodeType: def.title, field: 'version', message: `This ${def.title} was saved by a newer Backlit Studio (node version ${seenMigrations}, this one knows ${total}).`, fix: 'update Backlit Studio.' }];
  }
  let params = node.params;
  for (let i = seenMigrations; i < total; i++) params = def.migrations![i](params);
  node.params = params;
  node.version = total;
  const errors: ErrorInfo[] = [];
  const known = Object.keys(def.params.shape);
  for (const key of Object.keys(params)) {
    if (!known.includes(key)) {
      const near = closest(key, known);
      errors.push({ code: 'node-param-invalid', nodeId: node.id, nodeType: def.title, field: cut(key, 80), message: `${def.title} has no param "${cut(key, 80)}".`, fix: near ? `did you mean "${near}"?` : `known params: ${known.join(', ')}.` });
    }
  }
  const parsed = def.params.safeParse(params);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const field = cut(issue.path.join('.'), 200) || '(params)';
      errors.push({ code: 'node-param-invalid', nodeId: node.id, nodeType: def.title, field, message: `Bad value ${preview(getPath(params, issue.path))}: ${issue.message}.`, fix: describeField(registry, node.type, field) });
    }
  }
  return errors;
}

function describeField(registry: NodeRegistry, type: string, field: string): string {
  const prop = registry.paramsJsonSchema(type).properties[field];
  if (!prop) return 'see `backlit nodes` for this node\'s params.';
  const parts: string[] = [];
  if (prop.enum) parts.push(`one of ${prop.enum.map((v) => JSON.stringify(v)).join(', ')}`);
  else if (prop.type) parts.push(`a ${prop.type}`);
  if (prop.minimum !== undefined) parts.push(`≥ ${prop.minimum}`);
  if (prop.maximum !== undefined) parts.push(`≤ ${prop.maximum}`);
  if (prop.default !== undefined) parts.push(`default ${JSON.stringify(prop.default)}`);
  return `use ${parts.join(', ')}.`;
}

function getPath(obj: unknown, path: PropertyKey[]): unknown {
  let cur: unknown = obj;
  for (const k of path) cur = cur && typeof cur === 'object' ? (cur as Record<PropertyKey, unknown>)[k] : undefined;
  return cur;
}

/** Nearest name by edit distance, when it is close enough to be a likely typo. */
export function closest(name: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}

/** Throws the first problem of a load as a BacklitError (CLI convenience). */
export function requireGraph(result: LoadResult): Graph {
  if (result.errors.length || !result.graph) throw new BacklitError(result.errors[0]);
  return result.graph;
}
