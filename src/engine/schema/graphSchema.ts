import { z } from 'zod';
import { GRAPH_FORMAT, SUBGRAPH_INPUT, SUBGRAPH_NODE_TYPE, SUBGRAPH_OUTPUT } from '../graph/model';

/**
 * Names that mean something to JavaScript objects. A node id or key spelled like this would be
 * swallowed by a plain `{}` (`results["__proto__"] = …` sets the prototype and hides the entry),
 * so graph files may not use them as ids, port names or keys anywhere.
 */
export const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

const reservedMessage = (what: string) => `"__proto__", "constructor" and "prototype" cannot be used as ${what}`;

/** A string that is safe as an object key: non-empty, bounded, not a reserved name. */
const safeKey = (what: string, max = 200) => z.string().min(1).max(max).refine((s) => !RESERVED_KEYS.has(s), reservedMessage(what));

const portRef = z.object({ node: safeKey('a node id'), port: safeKey('a port name') });
const edgeSchema = z.object({ from: portRef, to: portRef });

const nodeSchema = z
  .object({
    id: safeKey('a node id'),
    type: safeKey('a node type'),
    params: z.record(safeKey('a param name'), z.unknown()).default({}),
    position: z.object({ x: z.number().finite(), y: z.number().finite() }).default({ x: 0, y: 0 }),
    version: z.number().int().min(0).optional(),
    label: z.string().max(200).optional(),
    bypass: z.boolean().optional(),
    subgraph: safeKey('a subgraph id').optional(),
  })
  .superRefine((n, ctx) => {
    if (n.type === SUBGRAPH_NODE_TYPE && n.subgraph === undefined) {
      ctx.addIssue({ code: 'custom', path: ['subgraph'], message: `group node "${n.id}" names no subgraph definition (add "subgraph": "<id of an entry in subgraphs>")` });
    }
    if (n.type !== SUBGRAPH_NODE_TYPE && n.subgraph !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['subgraph'], message: `node "${n.id}" is a ${n.type}, not a group node (type "${SUBGRAPH_NODE_TYPE}"), so it cannot name a subgraph` });
    }
  });

const subgraphPort = z.object({ name: safeKey('a subgraph port name'), label: z.string().max(200).optional() });

const subgraphSchema = z
  .object({
    id: safeKey('a subgraph id'),
    name: z.string().max(200).default('Subgraph'),
    inputs: z.array(subgraphPort).default([]),
    outputs: z.array(subgraphPort).default([]),
    nodes: z.array(nodeSchema),
    edges: z.array(edgeSchema).default([]),
    meta: z.record(safeKey('a meta key', 1000), z.unknown()).optional(),
  })
  .superRefine((d, ctx) => {
    d.nodes.forEach((n, i) => {
      if (n.id === SUBGRAPH_INPUT || n.id === SUBGRAPH_OUTPUT || n.id.includes('/')) {
        ctx.addIssue({ code: 'custom', path: ['nodes', i, 'id'], message: `node id "${n.id}" inside subgraph "${d.id}" is reserved or contains "/" ("${SUBGRAPH_INPUT}" and "${SUBGRAPH_OUTPUT}" stand for the subgraph's inputs and outputs, "/" separates group and inner ids); rename the node` });
      }
    });
    for (const [list, what] of [[d.inputs, 'input'], [d.outputs, 'output']] as const) {
      const seen = new Set<string>();
      list.forEach((p, i) => {
        if (seen.has(p.name)) ctx.addIssue({ code: 'custom', path: [`${what}s`, i, 'name'], message: `subgraph "${d.id}" has two ${what}s named "${p.name}"; rename one` });
        seen.add(p.name);
      });
    }
  });

/** Graph JSON (current version). Graph files are data: nothing in them is evaluated. */
export const graphSchema = z.object({
  format: z.literal(GRAPH_FORMAT),
  version: z.number().int(),
  nodes: z.array(nodeSchema),
  edges: z.array(edgeSchema).default([]),
  meta: z.record(safeKey('a meta key', 1000), z.unknown()).default({}),
  subgraphs: z.array(subgraphSchema).optional(),
});
