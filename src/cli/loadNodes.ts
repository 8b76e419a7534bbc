import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { registryFromModules, type AnyNodeDefinition, type NodeRegistry } from '../engine';
import { REPO_ROOT } from './nodeHost';

/** Builds the node registry from `nodes/` (one file per node), as the worker does with import.meta.glob. */
export async function loadNodeRegistry(dir = path.join(REPO_ROOT, 'nodes')): Promise<NodeRegistry> {
  const files = (await fs.readdir(dir)).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.d.ts')).sort();
  const modules: Record<string, { default?: AnyNodeDefinition }> = {};
  for (const f of files) modules[f] = (await import(pathToFileURL(path.join(dir, f)).href)) as { default?: AnyNodeDefinition };
  return registryFromModules(modules);
}
