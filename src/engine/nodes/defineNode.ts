import type { z } from 'zod';
import type { PortSpec } from '../ports/kinds';
import type { Host } from '../host';

export type PortValues = Record<string, unknown>;

export interface ProgressInfo {
  message?: string;
  /** Named numbers for live plots (e.g. loss terms). */
  metrics?: Record<string, number>;
}

export interface NodeContext {
  readonly nodeId: string;
  readonly host: Host;
  readonly signal: AbortSignal;
  /** The graph being run, as JSON (Output embeds it in PNGs, so an image carries the workflow that made it). */
  readonly workflow?: string;
  progress(step: number, total: number, info?: ProgressInfo): void;
  log(message: string): void;
  /** Throws a cancellation error when the run was cancelled; call it between steps. */
  throwIfCancelled(): void;
  /** Throws an error that names this node and `field`, with a fix. */
  fail(field: string, message: string, fix: string): never;
}

/** A per-node param migration: receives params as saved by the previous node version. */
export type ParamMigration = (params: Record<string, unknown>) => Record<string, unknown>;

export interface NodeDefinition<P extends z.ZodObject = z.ZodObject> {
  /** Stable id used in graph JSON. Never rename without a migration. */
  type: string;
  title: string;
  category: 'Input' | 'Image' | 'Embedding' | 'Training' | 'Analysis' | 'Output';
  description: string;
  inputs: Record<string, PortSpec>;
  outputs: Record<string, PortSpec>;
  /** Params schema with defaults; its JSON schema drives the params panel and the CLI's `nodes`. */
  params: P;
  /** Ordered param migrations; a saved node records how many it has seen (chaiNNer style). */
  migrations?: ParamMigration[];
  /**
   * Embedding space of this node's spaced outputs, when the node defines one (encoders).
   * Otherwise spaced outputs inherit the space of the node's spaced inputs.
   */
  spaceOf?(params: z.infer<P>): string | undefined;
  /**
   * The param that mostly sets this node's memory use and how to lower it; the executor names
   * them when the node runs out of memory (e.g. `{ field: 'imageSize', fix: 'lower imageSize…' }`).
   */
  memory?: { field: string; fix: string };
  /** Extra cache key for content outside the graph (files on disk). */
  externalKey?(params: z.infer<P>, host: Host): Promise<string>;
  run(args: { inputs: PortValues; params: z.infer<P>; ctx: NodeContext }): Promise<PortValues>;
}

/** Identity helper that keeps param types flowing into `run`. */
export function defineNode<P extends z.ZodObject>(def: NodeDefinition<P>): NodeDefinition<P> {
  return def;
}

export type AnyNodeDefinition = NodeDefinition<z.ZodObject>;

export function migrationCount(def: AnyNodeDefinition): number {
  return def.migrations?.length ?? 0;
}
