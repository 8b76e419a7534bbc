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

/** Largest |a[i] − b[i]| (tests compare engines and references with it); arrays of different length throw. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths differ (${a.length} vs ${b.length})`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
