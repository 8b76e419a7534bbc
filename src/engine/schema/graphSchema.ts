import { z } from 'zod';
import { GRAPH_FORMAT } from '../graph/model';

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

/** Graph JSON (current version). Graph files are data: nothing in them is evaluated. */
export const graphSchema = z.object({
  format: z.literal(GRAPH_FORMAT),
  version: z.number().int(),
  nodes: z.array(
    z.object({
      id: safeKey('a node id'),
      type: safeKey('a node type'),
      params: z.record(safeKey('a param name'), z.unknown()).default({}),
      position: z.object({ x: z.number().finite(), y: z.number().finite() }).default({ x: 0, y: 0 }),
      version: z.number().int().min(0).optional(),
      label: z.string().max(200).optional(),
      bypass: z.boolean().optional(),
    }),
  ),
  edges: z.array(z.object({ from: portRef, to: portRef })).default([]),
  meta: z.record(safeKey('a meta key', 1000), z.unknown()).default({}),
});
