import { BacklitError, type ErrorInfo } from '../errors/BacklitError';
import { CURRENT_GRAPH_VERSION, GRAPH_FORMAT, type Graph, type GraphNode } from '../graph/model';
import { topologicalOrder } from '../graph/topology';
import { checkConnection } from '../connect/checkConnection';
import type { NodeRegistry } from '../registry/registry';
import { migrationCount } from '../nodes/defineNode';
import { graphSchema } from './graphSchema';
import { migrateGraph } from './migrations';

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
  const obj = raw as Record<string, unknown>;
  if (obj.format !== GRAPH_FORMAT) {
    return fatal({
      code: 'graph-format',
      field: 'format',
      message: `This is not a Backlit Studio graph ("format" is ${JSON.stringify(obj.format)}, expected "${GRAPH_FORMAT}").`,
      fix: 'open a file saved by Backlit Studio.',
    });
  }
  const version = obj.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 0) {
    return fatal({ code: 'graph-version-invalid', field: 'version', message: `"version" must be a whole number ≥ 0, got ${JSON.stringify(version)}.`, fix: `set "version" to ${CURRENT_GRAPH_VERSION} if the file was written for this release.` });
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
    const path = issue.path.join('.');
    return fatal({ code: 'graph-shape', field: path, message: `The graph JSON is malformed at "${path}": ${issue.message}.`, fix: 'fix that entry or re-save the graph from the editor.' });
  }
  const graph = parsed.data as Graph;
  graph.version = CURRENT_GRAPH_VERSION;
  return { graph, errors: validateGraph(graph, registry) };
}

function fatal(e: ErrorInfo): LoadResult {
  return { errors: [e] };
}

/** Problems of an in-memory graph: node types, params, edges, cycles. Migrates node params in place. */
export function validateGraph(graph: Graph, registry: NodeRegistry): ErrorInfo[] {
  const errors: ErrorInfo[] = [];
  const seen = new Set<string>();
  for (const node of graph.nodes) {
    if (seen.has(node.id)) {
      errors.push({ code: 'node-duplicate-id', nodeId: node.id, field: 'id', message: `Two nodes share the id "${node.id}".`, fix: 'give each node its own id.' });
    }
    seen.add(node.id);
    errors.push(...checkNodeParams(node, registry));
  }
  // Edges: re-check each one as if it were drawn onto the graph without it.
  const kept: typeof graph.edges = [];
  for (const edge of graph.edges) {
    const check = checkConnection({ ...graph, edges: kept }, registry, edge);
    if (!check.ok && check.code !== 'cycle') {
      const dangling = check.code === 'unknown-node';
      errors.push({
        code: dangling ? 'edge-dangling-node' : check.code === 'unknown-output' || check.code === 'unknown-input' ? 'edge-unknown-port' : 'edge-refused',
        nodeId: dangling ? undefined : edge.to.node,
        field: `${edge.from.node}.${edge.from.port} → ${edge.to.node}.${edge.to.port}`,
        message: check.reason,
        fix: dangling ? 'delete this wire or restore the missing node.' : 'delete this wire and connect matching ports.',
      });
      continue;
    }
    kept.push(edge);
  }
  const { cycle } = topologicalOrder(graph);
  if (cycle) {
    errors.push({ code: 'edge-refused', nodeId: cycle[0], field: 'edges', message: `The graph has a cycle: ${cycle.join(' → ')}.`, fix: 'remove one wire of the cycle; graphs must flow one way.' });
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
      errors.push({ code: 'node-param-invalid', nodeId: node.id, nodeType: def.title, field: key, message: `${def.title} has no param "${key}".`, fix: near ? `did you mean "${near}"?` : `known params: ${known.join(', ')}.` });
    }
  }
  const parsed = def.params.safeParse(params);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const field = issue.path.join('.') || '(params)';
      errors.push({ code: 'node-param-invalid', nodeId: node.id, nodeType: def.title, field, message: `Bad value ${JSON.stringify(getPath(params, issue.path))}: ${issue.message}.`, fix: describeField(registry, node.type, field) });
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
