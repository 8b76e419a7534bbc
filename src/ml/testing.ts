import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { useBackend, type BackendName } from './backend';

/** Test-only helper (Node): activates a backend with the wasm binaries from node_modules. */
export async function useTestBackend(name: BackendName = 'wasm'): Promise<void> {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  await useBackend(name, { wasmDir: path.join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist/') });
}

/** Where the team's shared fixtures live (`../shared/data` next to the repo). */
export const sharedDataDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data');
