import { z } from 'zod';
import { GRAPH_FORMAT } from '../graph/model';

const portRef = z.object({ node: z.string().min(1), port: z.string().min(1) });

/** Graph JSON (current version). Graph files are data: nothing in them is evaluated. */
export const graphSchema = z.object({
  format: z.literal(GRAPH_FORMAT),
  version: z.number().int(),
  nodes: z.array(
    z.object({
      id: z.string().min(1).max(200),
      type: z.string().min(1),
      params: z.record(z.string(), z.unknown()).default({}),
      position: z.object({ x: z.number().finite(), y: z.number().finite() }).default({ x: 0, y: 0 }),
      version: z.number().int().min(0).optional(),
      label: z.string().max(200).optional(),
      bypass: z.boolean().optional(),
    }),
  ),
  edges: z.array(z.object({ from: portRef, to: portRef })).default([]),
  meta: z.record(z.string(), z.unknown()).default({}),
});
