import { z } from 'zod';
import type { AnyNodeDefinition } from '../nodes/defineNode';

/**
 * The single source of node types: palette, CLI `nodes`, validation and executor all read it.
 * Hosts fill it from `nodes/` (one file per node).
 */
export class NodeRegistry {
  private readonly byType = new Map<string, AnyNodeDefinition>();

  constructor(defs: Iterable<AnyNodeDefinition> = []) {
    for (const d of defs) this.register(d);
  }

  register(def: AnyNodeDefinition): void {
    if (this.byType.has(def.type)) throw new Error(`Two node files define the type "${def.type}"; node types must be unique.`);
    this.byType.set(def.type, def);
  }

  get(type: string): AnyNodeDefinition | undefined {
    return this.byType.get(type);
  }

  types(): string[] {
    return [...this.byType.keys()].sort();
  }

  all(): AnyNodeDefinition[] {
    return this.types().map((t) => this.byType.get(t)!);
  }

  /** Default params of a node type (every field of its schema at its default). */
  defaults(type: string): Record<string, unknown> {
    const def = this.byType.get(type);
    if (!def) throw new Error(`Unknown node type "${type}".`);
    return def.params.parse({}) as Record<string, unknown>;
  }

  /** JSON schema of a node's params, for forms and docs. */
  paramsJsonSchema(type: string): ParamsJsonSchema {
    const def = this.byType.get(type);
    if (!def) throw new Error(`Unknown node type "${type}".`);
    return z.toJSONSchema(def.params, { io: 'input', unrepresentable: 'any' }) as ParamsJsonSchema;
  }
}

export interface ParamJsonSchema {
  type?: string;
  enum?: Array<string | number>;
  default?: unknown;
  description?: string;
  title?: string;
  minimum?: number;
  maximum?: number;
  items?: ParamJsonSchema;
  [k: string]: unknown;
}

export interface ParamsJsonSchema {
  type: 'object';
  properties: Record<string, ParamJsonSchema>;
  required?: string[];
}

/** Node modules export their definition as `default`; hosts pass the loaded modules here. */
export function registryFromModules(modules: Record<string, { default?: AnyNodeDefinition }>): NodeRegistry {
  const reg = new NodeRegistry();
  for (const [file, mod] of Object.entries(modules)) {
    if (!mod.default || typeof mod.default.type !== 'string') throw new Error(`${file} does not export a node definition as default.`);
    reg.register(mod.default);
  }
  return reg;
}
