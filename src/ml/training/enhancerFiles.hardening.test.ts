import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { EnhancerNet } from '../enhancer/network';
import { PthError, readPth } from '../pth';
import { writePth, type PthWriteTensor } from '../pthWriter';
import { useTestBackend } from '../testing';
import { CheckpointProblem, NonFiniteWeights, decodeEnhancer, encodeEnhancer, openCheckpoint } from './enhancerFiles';

/** Issue 15 regressions for weights files: NaN weights, stride-0 .pth, leaks, corrupt checkpoints. */
beforeAll(async () => {
  await useTestBackend('wasm');
});

/** A network's state_dict as .pth tensors (PyTorch layout), optionally with `module.` names. */
function stateDictTensors(net: EnhancerNet): Map<string, PthWriteTensor> {
  return new Map([...net.stateDict()].map(([k, t]) => [k, { shape: t.shape, data: t.data.slice() }]));
}

class MemIO {
  readonly files = new Map<string, Uint8Array>();
  readonly logs: string[] = [];
  async readFile(_folder: string, name: string) {
    return this.files.get(name);
  }
  async writeFile(_folder: string, name: string, bytes: Uint8Array, opts: { overwrite: boolean }) {
    let final = name;
    for (let i = 1; !opts.overwrite && this.files.has(final); i++) final = `${name}-${i}`;
    this.files.set(final, bytes.slice());
    return { name: final };
  }
  log = (m: string) => void this.logs.push(m);
}

describe('weights files hardening (issue 15)', () => {
  it('never encodes NaN weights: the error names the tensor (a diverged run cannot replace the last good checkpoint)', () => {
    const net = EnhancerNet.create(1);
    const name = 'ResidualBlock3.conv2.weight';
    const v = (net as unknown as { w(n: string): tf.Variable }).w(name);
    v.assign(tf.fill(v.shape, NaN));
    expect(() => encodeEnhancer(net, { step: 5, metadata: {} })).toThrow(NonFiniteWeights);
    expect(() => encodeEnhancer(net)).toThrow(new RegExp(name.replace(/\./g, '\\.')));
    net.dispose();
  });

  it('refuses NaN or infinite weights when loading .safetensors and .pth, naming the tensor (Enhance wrote black images before)', () => {
    const net = EnhancerNet.create(2);
    const sd = stateDictTensors(net);
    const good = encodeEnhancer(net);
    net.dispose();
    // Poison one value of one tensor in each format.
    sd.get('condx.bias')!.data[3] = NaN;
    expect(() => decodeEnhancer('bad.pth', writePth(sd))).toThrow(/bad\.pth: tensor 'condx\.bias' holds NaN at element 3/);
    sd.get('condx.bias')!.data[3] = Infinity;
    expect(() => decodeEnhancer('bad.pth', writePth(sd))).toThrow(/Infinity/);
    const st = good.slice();
    // Overwrite the last float of the file's data (the last tensor) with NaN bits.
    new DataView(st.buffer).setUint32(st.byteLength - 4, 0x7fc00000, true);
    expect(() => decodeEnhancer('bad.safetensors', st)).toThrow(NonFiniteWeights);
  });

  it('materialises only tensors the network needs, and refuses a stride-0 view larger than its storage', () => {
    const net = EnhancerNet.create(3);
    const sd = stateDictTensors(net);
    net.dispose();
    // An unused 65536×65536 stride-0 expand of one float (16 GiB if materialised): ignored, fast.
    sd.set('unused.expanded', { shape: [65536, 65536], stride: [0, 0], data: new Float32Array([0]) });
    const file = writePth(sd);
    const c0 = process.cpuUsage();
    const loaded = decodeEnhancer('big.pth', file);
    expect(cpuMs(c0)).toBeLessThan(5000); // CPU time; materialising the view would take minutes
    loaded.net.dispose();
    // Used by nobody but read by a plain readPth: refused by the storage-size bound, not allocated.
    expect(() => readPth(file)).toThrow(PthError);
    expect(() => readPth(file)).toThrow(/unused\.expanded.*storage '\d+' holds only 1/);
    // A needed tensor that is a stride-0 view is refused the same way.
    sd.delete('unused.expanded');
    sd.set('condx.bias', { shape: [64], stride: [0], data: new Float32Array([0.5]) });
    expect(() => decodeEnhancer('view.pth', writePth(sd))).toThrow(/condx\.bias/);
  });

  it('bounds the total materialised by the storages: 300 views of one 10k-float storage are refused', () => {
    const views = new Map<string, PthWriteTensor>();
    for (let i = 0; i < 300; i++) views.set(`v${i}`, { shape: [10_000], data: new Float32Array(10_000), storage: 'shared' });
    expect(() => readPth(writePth(views))).toThrow(/more than \d+ elements, twice what the file's storages hold/);
    // Two views (tied weights) are fine.
    expect(readPth(writePth(new Map([...views].slice(0, 2)))).size).toBe(2);
  });

  it('a failed .pth load leaks no tensors', () => {
    const net = EnhancerNet.create(4);
    const sd = stateDictTensors(net);
    net.dispose();
    const last = [...sd.keys()].at(-1)!;
    sd.set(last, { shape: [7], data: new Float32Array(7) }); // wrong shape for the last weight
    const before = tf.memory().numTensors;
    expect(() => decodeEnhancer('wrong.pth', writePth(sd))).toThrow(/shape/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a corrupt checkpoint: resume=false keeps it aside as .corrupt and starts fresh; resume=true names the fix', async () => {
    const io = new MemIO();
    io.files.set('run.safetensors', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    await expect(openCheckpoint(io, 'run.safetensors', { runId: 'r', resume: true, log: io.log })).rejects.toSatisfy(
      (e: unknown) => e instanceof CheckpointProblem && e.field === 'resume' && /resume to false/.test(e.fix),
    );
    const fresh = await openCheckpoint(io, 'run.safetensors', { runId: 'r', resume: false, log: io.log });
    expect(fresh).toEqual({});
    expect(io.files.get('run.safetensors.corrupt')).toEqual(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    expect(io.logs.at(-1)).toMatch(/cannot be read .*run\.safetensors\.corrupt/);
  });

  it("another run's checkpoint is kept as .prev, then .prev-1: a third run never overwrites the first copy", async () => {
    const io = new MemIO();
    const a = EnhancerNet.create(5);
    const first = encodeEnhancer(a, { step: 3, metadata: { run: 'first' } });
    a.dispose();
    io.files.set('c.safetensors', first);
    expect(await openCheckpoint(io, 'c.safetensors', { runId: 'second', resume: true, log: io.log })).toEqual({});
    const b = EnhancerNet.create(6);
    io.files.set('c.safetensors', encodeEnhancer(b, { step: 4, metadata: { run: 'second' } }));
    b.dispose();
    expect(await openCheckpoint(io, 'c.safetensors', { runId: 'third', resume: true, log: io.log })).toEqual({});
    expect(Buffer.compare(io.files.get('c.safetensors.prev')!, first)).toBe(0);
    expect(io.files.has('c.safetensors.prev-1')).toBe(true);
    expect(io.logs.at(-1)).toMatch(/kept it as c\.safetensors\.prev-1/);
    const resumed = await openCheckpoint(io, 'c.safetensors', { runId: 'second', resume: true, log: io.log });
    expect(resumed.state?.step).toBe(4);
    resumed.net!.dispose();
  });
});

/** CPU milliseconds this process used since `start` (all threads; unaffected by other processes' load). */
function cpuMs(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}
