import { registryFromModules, type AnyNodeDefinition } from '../engine';

/** The node registry for browser code: every file in nodes/ (tests excluded), bundled by Vite. */
const modules = import.meta.glob<{ default?: AnyNodeDefinition }>(['../../nodes/*.ts', '!../../nodes/*.test.ts'], { eager: true });

export const registry = registryFromModules(modules);
