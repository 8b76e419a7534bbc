import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import exposure from './exposure';
import imageLoader from './imageLoader';
import joinBatches from './joinBatches';
import output from './output';
import { BacklitError, Executor, NodeRegistry, formatError, type AnyNodeDefinition, type ImageBatchValue, type NamedImage } from '../src/engine';
import { MemoryHost, pixelAt } from '../src/engine/testing/memoryHost';
import { fakeContext, graph, node, wire } from '../src/engine/testing/build';
import { useTestBackend } from '../src/ml/testing';

beforeAll(async () => {
  await useTestBackend('wasm');
});

const img = (name: string, value: number, h = 2, w = 3): NamedImage => ({ name, tensor: tf.fill([h, w, 3], value) as tf.Tensor3D });
const batch = (...images: NamedImage[]): ImageBatchValue => ({ kind: 'ImageBatch', images });
const tensorsOf = (...batches: ImageBatchValue[]) => batches.flatMap((b) => b.images.map((i) => i.tensor));

type OnDuplicate = 'suffix' | 'error' | 'keep-first';
async function join(inputs: Record<string, ImageBatchValue>, onDuplicate?: OnDuplicate) {
  const ctx = fakeContext(new MemoryHost(), 'join');
  const out = await joinBatches.run({ inputs, params: joinBatches.params.parse(onDuplicate ? { onDuplicate } : {}), ctx });
  return { images: (out.images as ImageBatchValue).images, logs: ctx.logs };
}
async function failure(run: Promise<unknown>): Promise<BacklitError> {
  const err = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BacklitError);
  return err as BacklitError;
}

describe('Join Batches node', () => {
  it('joins a, b, c, d in that order, images of different sizes, passing the tensors on without new ones', async () => {
    const a = batch(img('a1.png', 0.1, 2, 3), img('a2.png', 0.2, 5, 4));
    const b = batch(img('b1.png', 0.3, 7, 1));
    const d = batch(img('d1.png', 0.4, 1, 1), img('d2.png', 0.5, 3, 3));
    const before = tf.memory().numTensors;
    const { images, logs } = await join({ d, b, a }); // c unwired; key order must not matter
    expect(tf.memory().numTensors).toBe(before);
    expect(images.map((i) => i.name)).toEqual(['a1.png', 'a2.png', 'b1.png', 'd1.png', 'd2.png']);
    tensorsOf(a, b, d).forEach((t, i) => expect(images[i].tensor).toBe(t));
    expect(images.map((i) => i.tensor.shape)).toEqual([[2, 3, 3], [5, 4, 3], [7, 1, 3], [1, 1, 3], [3, 3, 3]]);
    expect(logs).toEqual([]);
    tf.dispose(tensorsOf(a, b, d));
  });

  it("'suffix' (the default) renames later duplicates to name-2, name-3 …, never onto a name an input already uses, and says so", async () => {
    const a = batch(img('x.png', 0.1), img('y.png', 0.2));
    // x.png again, a file that already is x-2.png, and y.jpg (same stem as y.png: pairing and Output would mix them up).
    const b = batch(img('x.png', 0.3), img('x-2.png', 0.4), img('y.jpg', 0.5));
    const c = batch(img('x.png', 0.6));
    const { images, logs } = await join({ a, b, c });
    expect(images.map((i) => i.name)).toEqual(['x.png', 'y.png', 'x-3.png', 'x-2.png', 'y-2.jpg', 'x-4.png']);
    // The renamed images are the later ones, with their own pixels.
    expect(images[2].tensor).toBe(b.images[0].tensor);
    expect(images[5].tensor).toBe(c.images[0].tensor);
    expect((await images[4].tensor.data())[0]).toBeCloseTo(0.5, 6);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/^renamed 3 duplicate name\(s\): "x\.png \(b\) → x-3\.png", "y\.jpg \(b\) → y-2\.jpg", "x\.png \(c\) → x-4\.png"\.$/);
    tf.dispose(tensorsOf(a, b, c));
  });

  it('ground truth joined the same way gets the same names (the two-renderings training case)', async () => {
    const render0 = batch(img('p.png', 0.1), img('q.png', 0.2));
    const render1 = batch(img('p.png', 0.3), img('q.png', 0.4));
    const truth = batch(img('p.png', 0.9), img('q.png', 0.8));
    const inputs = (await join({ a: render0, b: render1 })).images.map((i) => i.name);
    const targets = (await join({ a: truth, b: truth })).images.map((i) => i.name);
    expect(inputs).toEqual(['p.png', 'q.png', 'p-2.png', 'q-2.png']);
    expect(targets).toEqual(inputs);
    tf.dispose(tensorsOf(render0, render1, truth));
  });

  it("'keep-first' drops later duplicates (extensions aside) and reports how many", async () => {
    const a = batch(img('x.png', 0.1), img('x.png', 0.15));
    const b = batch(img('x.jpg', 0.2), img('z.png', 0.3));
    const { images, logs } = await join({ a, b }, 'keep-first');
    expect(images.map((i) => i.name)).toEqual(['x.png', 'z.png']);
    expect(images[0].tensor).toBe(a.images[0].tensor);
    expect(logs).toEqual(['dropped 2 image(s) whose name was already taken (keep-first): "x.png (a)", "x.jpg (b)".']);
    // Dropped tensors belong to the upstream node: still alive.
    expect(a.images[1].tensor.isDisposed).toBe(false);
    tf.dispose(tensorsOf(a, b));
  });

  it("'error' names the input, every clash and the fix", async () => {
    const a = batch(img('x.png', 0.1), img('y.png', 0.2));
    const b = batch(img('k.png', 0.3));
    const c = batch(img('y.jpg', 0.4), img('x.png', 0.5));
    const before = tf.memory().numTensors;
    const err = await failure(join({ a, b, c }, 'error'));
    expect(tf.memory().numTensors).toBe(before);
    expect(err.info).toMatchObject({ code: 'node-failed', nodeId: 'join', field: 'c' });
    expect(err.info.message).toBe('"y.jpg" (input c) has the same name as "y.png" (input a) (extensions aside) (2 clashes in all: "y.jpg (c)", "x.png (c)"); images are paired by file name downstream, so one would be taken for the other.');
    expect(err.info.fix).toMatch(/set onDuplicate to 'suffix'.*or 'keep-first'.*or rename the files/);
    // Without clashes 'error' lets everything through.
    expect((await join({ a, b }, 'error')).images.map((i) => i.name)).toEqual(['x.png', 'y.png', 'k.png']);
    tf.dispose(tensorsOf(a, b, c));
  });

  it('an empty input is noted; all inputs empty is an error naming the field and the fix', async () => {
    const a = batch();
    const b = batch(img('b.png', 0.2));
    const { images, logs } = await join({ a, b, d: batch() });
    expect(images.map((i) => i.name)).toEqual(['b.png']);
    expect(logs).toEqual(['input a, d are empty: nothing taken from them.']);
    const err = await failure(join({ a, b: batch() }));
    expect(err.info).toMatchObject({ field: 'a' });
    expect(err.info.message).toBe('Every wired input is empty (a, b): there is nothing to join.');
    expect(err.info.fix).toMatch(/wire batches that hold images/);
    tf.dispose(tensorsOf(b));
  });

  it('has suffix as the default and refuses unknown policies', () => {
    expect(joinBatches.params.parse({})).toEqual({ onDuplicate: 'suffix' });
    expect(joinBatches.params.safeParse({ onDuplicate: 'overwrite' }).success).toBe(false);
    expect(Object.entries(joinBatches.inputs).map(([port, spec]) => `${port}${spec.optional ? '?' : ''}`)).toEqual(['a', 'b', 'c?', 'd?']);
  });
});

describe('Join Batches in the executor (caching and disposal of shared tensors)', () => {
  const registry = new NodeRegistry([imageLoader, exposure, joinBatches, output] as AnyNodeDefinition[]);
  const host = () =>
    new MemoryHost()
      .addImage('one/p.raw', 2, 1, () => [64, 64, 64])
      .addImage('one/q.raw', 1, 1, () => [10, 20, 30])
      .addImage('two/p.raw', 3, 2, () => [128, 128, 128]);
  const pipeline = (onDuplicate: OnDuplicate, stops = 0) =>
    graph(
      [node('one', 'image-loader', { source: 'one/*' }), node('two', 'image-loader', { source: 'two/*' }), node('join', 'join-batches', { onDuplicate }), node('exp', 'exposure', { stops, gamma: 1 }), node('save', 'output')],
      [wire('one.images', 'join.a'), wire('two.images', 'join.b'), wire('join.images', 'exp.images'), wire('exp.images', 'save.images')],
    );

  it('writes every image under its own name, re-runs after param changes without touching freed tensors, and frees everything', async () => {
    const h = host();
    const baseline = tf.memory().numTensors;
    const ex = new Executor(registry, h);
    const first = await ex.run(pipeline('suffix'));
    expect(first.ok).toBe(true);
    expect([...h.written.keys()].sort()).toEqual(['p-2.png', 'p.png', 'q.png']);
    expect(pixelAt(h.readWritten('p-2.png'), 2, 1)).toEqual([128, 128, 128, 255]); // from input b, at b's size
    expect(h.readWritten('p-2.png').width).toBe(3);
    // Three loaded images; join adds no tensors; exposure makes three more.
    expect(tf.memory().numTensors - baseline).toBe(6);

    // Downstream change: join stays cached and its (shared) tensors are still usable.
    const second = await ex.run(pipeline('suffix', 1));
    expect(second.ok).toBe(true);
    expect(second.nodes.join.status).toBe('cached');
    // Join's own change: its entry is evicted, but the loaders' tensors it shared must survive.
    const third = await ex.run(pipeline('keep-first', 1));
    expect(third.ok).toBe(true);
    expect(third.nodes.one.status).toBe('cached');
    expect(third.nodes.join.status).toBe('done');
    expect(tf.memory().numTensors - baseline).toBe(5); // 3 loaded + 2 exposed (two/p.raw dropped)
    ex.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
  });

  it("'error' stops the node with a message that names node, field and fix; only its dependants are blocked", async () => {
    const ex = new Executor(registry, host());
    const summary = await ex.run(pipeline('error'));
    expect(summary.ok).toBe(false);
    expect(summary.nodes.one.status).toBe('done');
    expect(summary.nodes.save.status).toBe('blocked');
    const e = summary.nodes.join.error!;
    expect(e).toMatchObject({ nodeId: 'join', nodeType: 'Join Batches', field: 'b' });
    expect(formatError(e)).toMatch(/^node "join" \(Join Batches\), field "b": "p\.raw" \(input b\) has the same name as "p\.raw" \(input a\);.*Fix: set onDuplicate to 'suffix'/);
    ex.dispose();
  });
});
