import * as tf from '@tensorflow/tfjs';
import { useBackend, type BackendName } from '../ml/backend';

export interface BackendReport {
  chosen: BackendName;
  reason: string;
  /** Median ms of the probe workload per backend that started; a string says why one did not. */
  measured: Partial<Record<BackendName, number | string>>;
}

/** A probe slower than this is not worth waiting for: that backend is not the fastest. */
const PROBE_TIMEOUT_MS = 6000;

/**
 * Picks the fastest backend that actually works here by timing a small probe (a 3×3 conv and a
 * matMul like the enhancer's): on machines without a real GPU, WebGPU/WebGL run on software
 * rasterisers and wasm wins, so a fixed preference order would pick the slowest.
 * `forced` skips measuring (a user's explicit choice, or `?backend=` in the URL).
 */
export async function pickFastestBackend(wasmPaths: Record<string, string>, forced?: BackendName): Promise<BackendReport> {
  if (forced) {
    await useBackend(forced, { wasmDir: wasmPaths });
    return { chosen: forced, reason: `${forced} chosen explicitly (not measured)`, measured: {} };
  }
  const measured: BackendReport['measured'] = {};
  if (typeof navigator === 'undefined' || !('gpu' in navigator)) measured.webgpu = 'navigator.gpu is missing (WebGPU not enabled in this browser)';
  for (const name of ['wasm', 'webgl', 'webgpu'] as const) {
    if (typeof measured[name] === 'string') continue;
    try {
      await useBackend(name, { wasmDir: wasmPaths });
      measured[name] = await withTimeout(probe(), PROBE_TIMEOUT_MS, `probe took over ${PROBE_TIMEOUT_MS / 1000} s (software adapter?)`);
    } catch (err) {
      measured[name] = (err as Error).message || 'failed to start';
    }
  }
  const timed = Object.entries(measured).filter((e): e is [BackendName, number] => typeof e[1] === 'number').sort((a, b) => a[1] - b[1]);
  if (!timed.length) throw new Error('No tfjs backend could start in this browser.');
  const chosen = timed[0][0];
  await useBackend(chosen, { wasmDir: wasmPaths });
  const others = Object.entries(measured).filter(([n]) => n !== chosen).map(([n, v]) => `${n}: ${typeof v === 'number' ? `${v.toFixed(1)} ms` : v}`);
  return { chosen, reason: `fastest measured here (${chosen} ${timed[0][1].toFixed(1)} ms; ${others.join('; ')})`, measured };
}

async function probe(): Promise<number> {
  const x = tf.randomUniform([1, 96, 96, 3]) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 3, 32]) as tf.Tensor4D;
  const a = tf.randomNormal([256, 256]) as tf.Tensor2D;
  const once = async () => {
    const t0 = performance.now();
    const y = tf.tidy(() => tf.conv2d(x, w, 1, 'same').sum().add(tf.matMul(a, a).sum()));
    await y.data();
    y.dispose();
    return performance.now() - t0;
  };
  try {
    await once(); // warm-up: shader compilation / wasm init
    const times = [await once(), await once(), await once()].sort((p, q) => p - q);
    return times[1];
  } finally {
    tf.dispose([x, w, a]);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms);
    p.then((v) => { clearTimeout(timer); resolve(v); }, (e) => { clearTimeout(timer); reject(e); });
  });
}
