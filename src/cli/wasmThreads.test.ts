import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
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

  it('a Node process using 2 threads exits by itself when its work is done (pool workers do not hold it)', () => {
    const mod = path.join(path.dirname(fileURLToPath(import.meta.url)), 'wasmThreads.ts');
    const repo = path.resolve(path.dirname(mod), '../..');
    // Inside the repo (node_modules/.cache is git-ignored) so the script's bare imports resolve.
    mkdirSync(path.join(repo, 'node_modules/.cache'), { recursive: true });
    const dir = mkdtempSync(path.join(repo, 'node_modules/.cache/backlit-threads-exit-'));
    const script = path.join(dir, 'exit.mts');
    writeFileSync(script, [
      "import * as tf from '@tensorflow/tfjs';",
      "import '@tensorflow/tfjs-backend-wasm';",
      `import { configureWasmThreads, wasmThreadsInUse } from ${JSON.stringify(mod)};`,
      'configureWasmThreads(2);',
      "await tf.setBackend('wasm');",
      "tf.conv2d(tf.ones([1, 32, 32, 8]) as tf.Tensor4D, tf.ones([3, 3, 8, 8]) as tf.Tensor4D, 1, 'same').dataSync();",
      "console.log('threads', wasmThreadsInUse());",
    ].join('\n'));
    try {
      const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: repo, encoding: 'utf8', timeout: 90_000 });
      expect(r.signal, 'the process had to be killed: something keeps the event loop alive').toBeNull();
      expect(r.status, r.stderr.slice(-500)).toBe(0);
      expect(r.stdout.trim()).toBe('threads 2');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('refuses a nonsense thread count with the flag name', () => {
    expect(() => configureWasmThreads(0)).toThrow(/--threads/);
    expect(() => configureWasmThreads(1.5)).toThrow(/--threads/);
  });
});
