import type { AnyNodeDefinition } from '../nodes/defineNode';
import { registryFromModules, type NodeRegistry } from '../registry/registry';

/** Test-only: the registry of every node file in `nodes/`, as the worker builds it (import.meta.glob, Vite/Vitest). */
export function realNodeRegistry(): NodeRegistry {
  const modules = import.meta.glob<{ default?: AnyNodeDefinition }>(['../../../nodes/*.ts', '!../../../nodes/*.test.ts', '!../../../nodes/*.d.ts'], { eager: true });
  return registryFromModules(modules);
}
