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

/**
 * Adam's ε, fixed. tf.train.adam without one takes the backend's `epsilon()`: 1e-7 on cpu, wasm and
 * webgpu, but 1e-4 on webgl, whose floatPrecision() reports 16 whenever float32 rendering is enabled
 * (tfjs 4.22). With gradients of 1e-6–1e-3 (the enhancer's), ε = 1e-4 shrinks most updates by 10–1000×:
 * the same graph trained far slower on webgl and disagreed with every other backend.
 */
export const ADAM_EPSILON = 1e-7;

/** tf.train.adam with tfjs's defaults for β and a backend-independent ε (see ADAM_EPSILON). */
export function adam(learningRate: number): tf.AdamOptimizer {
  return tf.train.adam(learningRate, 0.9, 0.999, ADAM_EPSILON);
}

/** A probe slower than this is not worth waiting for: that backend is not the fastest. */
export const PROBE_TIMEOUT_MS = 6000;

export type ProbeResults = Partial<Record<BackendName, number | string>>;

/**
 * Median ms of a small workload like the enhancer's (a 96² 3→32 conv and a 256² matMul, after one
 * warm-up for shader compilation / wasm init) on the *active* backend. Shared by the browser
 * worker and the CLI's `--backend auto`, so both pick by the same measurement.
 */
export async function probeActiveBackend(): Promise<number> {
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
    await once();
    const times = [await once(), await once(), await once()].sort((p, q) => p - q);
    return times[1];
  } finally {
    tf.dispose([x, w, a]);
  }
}

/**
 * Starts each candidate backend in turn and times the probe on it (a string says why one did not
 * start or took too long; `skip` pre-fills known reasons). Leaves the fastest active and returns
 * it with a human-readable reason. Throws when none started.
 */
export async function pickFastest(
  candidates: readonly BackendName[],
  opts: { wasmDir?: string | Record<string, string>; skip?: ProbeResults; timeoutMs?: number } = {},
): Promise<{ chosen: BackendName; reason: string; measured: ProbeResults }> {
  const measured: ProbeResults = { ...opts.skip };
  const timeout = opts.timeoutMs ?? PROBE_TIMEOUT_MS;
  for (const name of candidates) {
    if (typeof measured[name] === 'string') continue;
    try {
      await useBackend(name, opts);
      measured[name] = await withTimeout(probeActiveBackend(), timeout, `probe took over ${timeout / 1000} s (software adapter?)`);
    } catch (err) {
      measured[name] = (err as Error).message || 'failed to start';
    }
  }
  const timed = Object.entries(measured).filter((e): e is [BackendName, number] => typeof e[1] === 'number').sort((a, b) => a[1] - b[1]);
  if (!timed.length) throw new Error(`No tfjs backend could start here (${describeProbes(measured)}).`);
  const chosen = timed[0][0];
  await useBackend(chosen, opts);
  const others = describeProbes(Object.fromEntries(Object.entries(measured).filter(([n]) => n !== chosen)));
  return { chosen, reason: `fastest measured here (${chosen} ${timed[0][1].toFixed(1)} ms${others ? `; ${others}` : ''})`, measured };
}

export function describeProbes(measured: ProbeResults): string {
  return Object.entries(measured).map(([n, v]) => `${n}: ${typeof v === 'number' ? `${v.toFixed(1)} ms` : v}`).join('; ');
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms);
    p.then((v) => { clearTimeout(timer); resolve(v); }, (e) => { clearTimeout(timer); reject(e); });
  });
}
