import { GRAPH_FORMAT } from '../graph/model';

/**
 * Graph-format migrations, in order: MIGRATIONS[i] turns version i into version i + 1.
 * Old files keep loading forever; every example ever shipped stays in schema/fixtures.
 */
type RawGraph = Record<string, unknown>;
export type GraphMigration = { to: number; why: string; up(g: RawGraph): RawGraph };

export const MIGRATIONS: GraphMigration[] = [
  {
    to: 1,
    why: 'v0 (pre-release) stored positions as x/y on the node and wires as [fromNode, fromPort, toNode, toPort] tuples under "links".',
    up(g) {
      const nodes = Array.isArray(g.nodes) ? g.nodes : [];
      const links = Array.isArray(g.links) ? g.links : [];
      const { links: _dropped, ...rest } = g;
      return {
        ...rest,
        format: GRAPH_FORMAT,
        version: 1,
        nodes: nodes.map((n: unknown) => {
          // Not an object (e.g. null): left as is for the schema to report with its path.
          if (n === null || typeof n !== 'object' || Array.isArray(n)) return n;
          const { x, y, ...node } = n as Record<string, unknown>;
          return { ...node, position: { x: Number(x ?? 0), y: Number(y ?? 0) } };
        }),
        edges: links.map((l: unknown) => {
          const [fromNode, fromPort, toNode, toPort] = Array.isArray(l) ? l : [];
          return { from: { node: fromNode, port: fromPort }, to: { node: toNode, port: toPort } };
        }),
        meta: (g.meta as object | undefined) ?? {},
      };
    },
  },
  {
    to: 2,
    why: 'v2 adds subgraphs: "subgraphs" (definitions) and group nodes of type "subgraph" that name one; a v1 graph has neither, so only the version changes.',
    up(g) {
      return { ...g, version: 2 };
    },
  },
];

export function migrateGraph(raw: RawGraph, from: number): RawGraph {
  let g = raw;
  for (let v = from; v < MIGRATIONS.length; v++) g = MIGRATIONS[v].up(g);
  return g;
}
