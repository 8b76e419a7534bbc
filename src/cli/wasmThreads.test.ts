import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { version_wasm } from '@tensorflow/tfjs-backend-wasm';
import { FACTORY_GLOBAL, configureWasmThreads, describeWasmThreads, pthreadWorkerFile, pthreadWorkerSource, threadedWasmFiles, wasmThreadsInUse } from './wasmThreads';

// These tests pin what src/cli/wasmThreads.ts relies on inside tfjs-backend-wasm. If one fails after
// a tfjs upgrade, the Node thread pool needs updating (or tfjs now does threads in Node itself).
describe('threaded tfjs-backend-wasm in Node', () => {
  it('finds the files and hooks it relies on in the installed tfjs-backend-wasm', async () => {
    const files = threadedWasmFiles();
    for (const f of Object.values(files)) expect(existsSync(f), f).toBe(true);
    const factory = readFileSync(files.factoryJs, 'utf8');
    expect(factory).toContain(`var ${FACTORY_GLOBAL}`);
    expect(factory).toContain('"emscripten_num_logical_cores"');
    expect(factory).toContain('Module["instantiateWasm"]');
    expect(factory).toContain('Module["mainScriptUrlOrBlob"]');
    // Worker: the Node branch that loads the main script from a file path.
    const worker = pthreadWorkerSource();
    expect(worker).toContain('require("worker_threads")');
    expect(worker).toContain('importScripts(e.data.urlOrBlob)');
    expect(worker).toContain(`${FACTORY_GLOBAL}(Module)`);
    // The file we write parses as a script (tfjs's template literal leaves raw newlines in strings).
    const file = await pthreadWorkerFile();
    expect(() => new Function(readFileSync(file, 'utf8'))).not.toThrow();
    expect(version_wasm).toMatch(/^4\./);
  });

  it('runs with 2 XNNPACK threads (real worker_threads) and matches the single-threaded result', async () => {
    const x = () => tf.randomNormal([1, 64, 64, 16], 0, 1, 'float32', 7) as tf.Tensor4D;
    const w = () => tf.randomNormal([3, 3, 16, 16], 0, 0.2, 'float32', 8) as tf.Tensor4D;
    const compute = () =>
      tf.tidy(() => {
        const y = tf.relu(tf.conv2d(x(), w(), 1, 'same'));
        const z = tf.matMul(y.reshape([64 * 64, 16]), tf.randomNormal([16, 32], 0, 1, 'float32', 9));
        return tf.concat([y.flatten(), z.flatten(), tf.mean(y, [1, 2]).flatten()]).dataSync().slice();
      });

    expect(configureWasmThreads(1)).toBe(1);
    await tf.setBackend('wasm');
    expect(wasmThreadsInUse()).toBe(1);
    const single = compute();

    expect(configureWasmThreads(2)).toBe(2);
    expect(await tf.setBackend('wasm')).toBe(true);
    expect(wasmThreadsInUse()).toBe(2);
    expect(describeWasmThreads()).toMatch(/^2 threads \(threaded SIMD build/);
    // A 2-thread XNNPACK pool is the caller plus one pthread: one Node worker must be running.
    const pthread = (tf.backend() as unknown as { wasm: { PThread: { runningWorkers: unknown[] } } }).wasm.PThread;
    expect(pthread.runningWorkers.length).toBe(1);
    const threaded = compute();

    expect(threaded.length).toBe(single.length);
    let maxDiff = 0;
    for (let i = 0; i < single.length; i++) maxDiff = Math.max(maxDiff, Math.abs(single[i] - threaded[i]));
    expect(maxDiff).toBeLessThan(1e-5);
    expect(Array.from(threaded.slice(0, 16)).some((v) => v !== 0)).toBe(true);

    // Back to one thread in the same process (the threaded module with a pool of one).
    configureWasmThreads(1);
    await tf.setBackend('wasm');
    expect(wasmThreadsInUse()).toBe(1);
  });

  it('refuses a nonsense thread count with the flag name', () => {
    expect(() => configureWasmThreads(0)).toThrow(/--threads/);
    expect(() => configureWasmThreads(1.5)).toThrow(/--threads/);
  });
});
