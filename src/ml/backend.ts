import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

export type BackendName = 'wasm' | 'cpu' | 'webgl' | 'webgpu';

export interface BackendChoice {
  name: BackendName;
  /** Why this backend was chosen, shown to the user. */
  reason: string;
}

let webgpuRegistered = false;

/**
 * Activate a tfjs backend. `wasmDir` is where tfjs-backend-wasm's .wasm files are served from
 * (an absolute folder in Node; in the browser a URL prefix or a map of file name → bundled URL); hosts know it, the engine does not.
 */
export async function useBackend(name: BackendName, opts: { wasmDir?: string | Record<string, string> } = {}): Promise<void> {
  if (tf.getBackend() === name) return;
  if (name === 'wasm' && opts.wasmDir) setWasmPaths(opts.wasmDir as Parameters<typeof setWasmPaths>[0]);
  if (name === 'webgpu' && !webgpuRegistered) {
    await import('@tensorflow/tfjs-backend-webgpu');
    webgpuRegistered = true;
  }
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`The ${name} backend could not start on this machine; pick another with --backend (wasm, cpu).`);
  await tf.ready();
}
