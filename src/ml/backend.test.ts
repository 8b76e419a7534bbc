import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { useTestBackend } from './testing';
import { pickFastest } from './backend';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const wasmDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../node_modules/@tensorflow/tfjs-backend-wasm/dist/');

describe('backend', () => {
  it('runs a matMul on wasm in Node', async () => {
    await useTestBackend('wasm');
    expect(tf.getBackend()).toBe('wasm');
    const y = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(Array.from(await y.data())).toEqual([11]);
    y.dispose();
  });

  it('pickFastest times the probe on each candidate, keeps the fastest active and says why', async () => {
    const before = tf.memory().numTensors;
    const r = await pickFastest(['cpu', 'wasm'], { wasmDir, skip: { webgpu: 'not here' } });
    expect(typeof r.measured.cpu).toBe('number');
    expect(typeof r.measured.wasm).toBe('number');
    expect(r.measured.webgpu).toBe('not here');
    const fastest = (r.measured.cpu as number) < (r.measured.wasm as number) ? 'cpu' : 'wasm';
    expect(r.chosen).toBe(fastest);
    expect(tf.getBackend()).toBe(fastest);
    expect(r.reason).toMatch(/^fastest measured here \((cpu|wasm) [\d.]+ ms; .*webgpu: not here/);
    expect(tf.memory().numTensors).toBe(before); // the probe frees its tensors
  });

  it('pickFastest names every reason when nothing starts', async () => {
    await expect(pickFastest(['webgpu'], { skip: { webgpu: 'no adapter' } })).rejects.toThrow(/No tfjs backend could start here \(webgpu: no adapter\)/);
  });
});
