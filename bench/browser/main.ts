/**
 * The bench page: encodes a batch of images with one encoder on one tfjs backend and reports
 * images/s (forward, and forward + backward to the pixels) and tf.memory().numTensors around a run
 * of encodes. bench/browser-encode.ts builds it, serves it and drives it in Chromium; one page load
 * per (encoder, backend), so a backend that hangs can be dropped with its page.
 */
import * as tf from '@tensorflow/tfjs';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { useBackend } from '../../src/ml/backend';
import { ClipEncoder } from '../../src/ml/clip/encoder';
import type { ImageEncoder } from '../../src/ml/encoder';
import { StatsEncoder } from '../../src/ml/encoders/stats';
import type { BenchOptions, BenchResult } from './protocol';

const WASM_PATHS = {
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
};

const log = (line: string) => {
  const el = document.getElementById('log');
  if (el) el.textContent += `${line}\n`;
};

async function backendInfo(backend: string): Promise<string> {
  if (backend === 'wasm') {
    const threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT');
    const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
    return `SIMD ${simd ? 'on' : 'off'}, threads ${threads ? 'on' : 'off'} (crossOriginIsolated: ${self.crossOriginIsolated})`;
  }
  if (backend === 'webgl') {
    const gl = (tf.backend() as unknown as { gpgpu?: { gl?: WebGL2RenderingContext } }).gpgpu?.gl;
    if (!gl) return 'WebGL (renderer unknown)';
    const ext = gl.getExtension('WEBGL_debug_renderer_info');
    return `WebGL ${tf.env().getNumber('WEBGL_VERSION')}: ${ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER)}`;
  }
  if (backend === 'webgpu') {
    const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<{ info?: Record<string, string> } | null> } }).gpu;
    const adapter = await gpu?.requestAdapter();
    const info = adapter?.info;
    return info ? `WebGPU: ${[info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ') || 'adapter without info'}` : 'WebGPU adapter info unavailable';
  }
  return backend;
}

/** A deterministic batch with structure (gradients, a bright blob), [N,S,S,3] in 0..1. */
function makeImages(n: number, size: number): tf.Tensor4D {
  return tf.tidy(() => {
    const ys = tf.linspace(0, 1, size).reshape([1, size, 1, 1]);
    const xs = tf.linspace(0, 1, size).reshape([1, 1, size, 1]);
    const k = tf.range(0, n).reshape([n, 1, 1, 1]);
    const phase = tf.tensor1d([0, 1, 2]).reshape([1, 1, 1, 3]);
    const waves = tf.sin(xs.mul(k.add(3)).add(ys.mul(2)).add(phase)).mul(0.3).add(0.5);
    const blob = tf.exp(xs.sub(0.3).square().add(ys.sub(0.6).square()).mul(-20)).mul(0.4);
    return waves.add(blob).clipByValue(0, 1) as tf.Tensor4D;
  });
}

async function loadEncoder(options: BenchOptions): Promise<ImageEncoder> {
  if (options.encoder === 'stats') return new StatsEncoder();
  const base = options.clipUrl.endsWith('/') ? options.clipUrl : `${options.clipUrl}/`;
  const get = async (file: string) => {
    const response = await fetch(base + file);
    if (!response.ok) throw new Error(`${base + file}: HTTP ${response.status}`);
    return response;
  };
  const [config, weights] = await Promise.all([get('config.json').then((r) => r.text()), get('model.safetensors').then((r) => r.arrayBuffer())]);
  return ClipEncoder.fromBytes({ config, weights }, { name: 'tiny-clip' });
}

/** Runs `once` for `seconds` (at least once), stopping early when the page's budget runs out. */
async function timeIt(once: () => Promise<void>, seconds: number, deadline: number): Promise<{ perSecond: number; iterations: number }> {
  const start = performance.now();
  let iterations = 0;
  do {
    await once();
    iterations++;
  } while (performance.now() - start < seconds * 1000 && performance.now() < deadline);
  return { perSecond: iterations / ((performance.now() - start) / 1000), iterations };
}

async function runBench(options: BenchOptions): Promise<BenchResult> {
  const result: BenchResult = { encoder: options.encoder, backend: options.backend, phase: 'init' };
  window.benchResult = result;
  const deadline = performance.now() + options.budgetMs;
  let encoder: ImageEncoder | undefined;
  let images: tf.Tensor4D | undefined;
  let one: tf.Tensor4D | undefined;
  try {
    const t0 = performance.now();
    await useBackend(options.backend, { wasmDir: WASM_PATHS });
    result.initMs = performance.now() - t0;
    result.backendInfo = await backendInfo(options.backend);
    log(`${options.backend}: ${result.backendInfo}`);

    result.phase = 'load';
    encoder = await loadEncoder(options);
    result.space = encoder.space;
    result.dim = encoder.dim;
    images = makeImages(options.batch, options.size);
    one = tf.slice(images, [0, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
    const enc = encoder;
    const batch = images;
    const forward = async () => {
      const e = enc.encodeImages(batch, 'loss');
      await e.data();
      e.dispose();
    };
    const backward = async () => {
      const g = tf.grad((x: tf.Tensor) => tf.sum(enc.encodeImages(x as tf.Tensor4D, 'loss')))(batch);
      await g.data();
      g.dispose();
    };

    // Forward first, then the tensor count, then gradients: where a software WebGPU runs out of
    // time (its shader compiles take tens of seconds), the cheaper numbers are already in.
    result.phase = 'warm-up';
    const w0 = performance.now();
    await forward();
    result.warmupMs = performance.now() - w0;

    result.phase = 'forward';
    const f = await timeIt(forward, options.seconds, deadline);
    result.forwardPerSecond = f.perSecond * options.batch;
    result.forwardIterations = f.iterations;

    // A batch of one is a new shape: compile its kernels once before counting.
    result.phase = 'leak warm-up';
    const single = one;
    const encodeOne = () => enc.encodeImages(single, 'loss');
    const first = encodeOne();
    await first.data();
    first.dispose();
    result.phase = 'leak';
    result.tensorsBefore = tf.memory().numTensors;
    let done = 0;
    for (; done < options.leakEncodes && performance.now() < deadline; done++) {
      const e = encodeOne();
      // Read back every 10th result: keeps GPU queues bounded without paying a readback per encode.
      if (done % 10 === 9 || done === options.leakEncodes - 1) await e.data();
      e.dispose();
    }
    result.leakEncodesDone = done;
    result.tensorsAfter = tf.memory().numTensors;

    result.phase = 'grad warm-up';
    await backward();
    result.phase = 'grad';
    const g = await timeIt(backward, options.seconds, deadline);
    result.gradPerSecond = g.perSecond * options.batch;
    result.gradIterations = g.iterations;
    result.phase = 'done';
  } catch (err) {
    result.error = (err as Error).message || String(err);
  } finally {
    tf.dispose([images, one].filter((t): t is tf.Tensor4D => t !== undefined));
    encoder?.dispose();
  }
  log(JSON.stringify(result));
  return result;
}

window.runBench = runBench;
log('ready');
