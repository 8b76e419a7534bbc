import { pickFastest, useBackend, type BackendName, type ProbeResults } from '../ml/backend';

export interface BackendReport {
  chosen: BackendName;
  reason: string;
  /** Median ms of the probe workload per backend that started; a string says why one did not. */
  measured: ProbeResults;
}

/**
 * Picks the fastest backend that actually works here by timing a small probe (a 3×3 conv and a
 * matMul like the enhancer's; `probeActiveBackend` in src/ml/backend.ts, shared with the CLI): on
 * machines without a real GPU, WebGPU/WebGL run on software rasterisers and wasm wins, so a fixed
 * preference order would pick the slowest.
 * `forced` skips measuring (a user's explicit choice, or `?backend=` in the URL).
 */
export async function pickFastestBackend(wasmPaths: Record<string, string>, forced?: BackendName): Promise<BackendReport> {
  if (forced) {
    await useBackend(forced, { wasmDir: wasmPaths });
    return { chosen: forced, reason: `${forced} chosen explicitly (not measured)`, measured: {} };
  }
  const skip: ProbeResults = {};
  if (typeof navigator === 'undefined' || !('gpu' in navigator)) skip.webgpu = 'navigator.gpu is missing (WebGPU not enabled in this browser)';
  try {
    return await pickFastest(['wasm', 'webgl', 'webgpu'], { wasmDir: wasmPaths, skip });
  } catch (err) {
    throw new Error(`No tfjs backend could start in this browser: ${(err as Error).message}`);
  }
}
