import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import encodeImages from './encodeImages';
import encoderNode from './encoder';
import enhance from './enhance';
import enhancerTrainer from './enhancerTrainer';
import { cosineLr } from '../src/ml/training/enhancerTraining';
import imageLoader from './imageLoader';
import meanEmbedding from './meanEmbedding';
import residualVector from './residualVector';
import {
  BacklitError,
  Executor,
  NodeRegistry,
  type AnyNodeDefinition,
  type ExecutorEvent,
  type ImageBatchValue,
  type PromptPairValue,
  type ReportValue,
  type ResidualValue,
  type WrittenFile,
} from '../src/engine';
import { NodeHost } from '../src/cli/nodeHost';
import { MemoryHost } from '../src/engine/testing/memoryHost';
import { fakeContext, graph, node, wire } from '../src/engine/testing/build';
import { StatsEncoder } from '../src/ml/encoders/stats';
import { EnhancerNet } from '../src/ml/enhancer/network';
import { decodeEnhancer } from '../src/ml/training/enhancerFiles';
import { useTestBackend } from '../src/ml/testing';
import { weightDiff } from '../src/ml/training/testing';

beforeAll(async () => {
  await useTestBackend('wasm');
});

const registry = new NodeRegistry([imageLoader, encoderNode, encodeImages, meanEmbedding, residualVector, enhancerTrainer, enhance] as AnyNodeDefinition[]);

/** MemoryHost that records every write (name, overwrite flag, and the checkpoint step it carries). */
class RecordingHost extends MemoryHost {
  readonly writes: Array<{ folder: string; name: string; overwrite: boolean; step?: number }> = [];
  override async writeFile(folder: string, name: string, bytes: Uint8Array, opts: { overwrite: boolean }): Promise<WrittenFile> {
    // Every checkpoint write is a whole file: it decodes (the `.prev` copy too).
    const step = /\.safetensors(\.prev)?$/.test(name) ? stateOf(bytes)?.step : undefined;
    this.writes.push({ folder, name, overwrite: opts.overwrite, step });
    return super.writeFile(folder, name, bytes, opts);
  }
}

/** The training state a safetensors file carries (the decoded network is released). */
function stateOf(bytes: Uint8Array) {
  const { net, state } = decodeEnhancer('file.safetensors', bytes);
  net.dispose();
  return state;
}

/** Three well-lit and three backlit 24 px test photos (raw format), plus ground truth named like the backlit ones. */
function photos<H extends MemoryHost>(host: H): H {
  for (let i = 0; i < 3; i++) {
    host.addImage(`well/w${i}.raw`, 24, 24, (x, y) => [120 + 4 * x, 110 + 3 * y + 10 * i, 140 - 2 * x]);
    // Backlit: a bright sky on top, a dark subject below.
    host.addImage(`back/b${i}.raw`, 24, 24, (x, y) => (y < 8 ? [250, 235 - 5 * i, 200] : [20 + x + 5 * i, 18 + y, 25]));
    host.addImage(`gt/b${i}.raw`, 24, 24, (x, y) => (y < 8 ? [170, 190, 230] : [90 + 3 * x + 5 * i, 80 + 2 * y, 95]));
  }
  return host;
}

const TRAIN = { imageSize: 16, batchSize: 1, warmupIterations: 1, seed: 1, lr: 5e-4, guidanceWeight: 20 };

function trainingGraph(train: Record<string, unknown>, opts: { groundTruth?: boolean; enhance?: boolean } = {}) {
  const nodes = [
    node('well', 'image-loader', { source: 'well/*' }),
    node('back', 'image-loader', { source: 'back/*' }),
    node('enc', 'encoder', { model: 'stats' }),
    node('ew', 'encode-images'),
    node('eb', 'encode-images'),
    node('vp', 'mean-embedding'),
    node('vn', 'mean-embedding'),
    node('res', 'residual-vector'),
    node('train', 'enhancer-trainer', { ...TRAIN, ...train }),
  ];
  const edges = [
    wire('well.images', 'ew.images'),
    wire('back.images', 'eb.images'),
    wire('enc.encoder', 'ew.encoder'),
    wire('enc.encoder', 'eb.encoder'),
    wire('ew.embeddings', 'vp.embeddings'),
    wire('eb.embeddings', 'vn.embeddings'),
    wire('vp.mean', 'res.wellLit'),
    wire('vn.mean', 'res.backlit'),
    wire('back.images', 'train.images'),
    wire('enc.encoder', 'train.encoder'),
    wire('res.residual', 'train.residual'),
  ];
  if (opts.groundTruth) {
    nodes.push(node('gt', 'image-loader', { source: 'gt/*' }));
    edges.push(wire('gt.images', 'train.groundTruth'));
  }
  if (opts.enhance) {
    nodes.push(node('enh', 'enhance', { mode: 'full' }));
    edges.push(wire('back.images', 'enh.images'), wire('train.enhancer', 'enh.enhancer'));
  }
  return graph(nodes, edges);
}

async function run(ex: Executor, g: ReturnType<typeof graph>) {
  const logs: string[] = [];
  const summary = await ex.run(g, { onEvent: (e: ExecutorEvent) => void (e.type === 'log' && e.nodeId === 'train' && logs.push(e.message)) });
  return { summary, logs, report: ex.outputsOf('train')?.report as ReportValue | undefined };
}

describe('enhancer-trainer through the executor: checkpoints, resume, fresh start', () => {
  it('writes the checkpoint with overwrite every checkpointEvery steps; resumes when iterations is raised (same weights as a straight run); a changed param keeps the old file as .prev and starts fresh', async () => {
    const host = photos(new RecordingHost());
    const ex = new Executor(registry, host);

    // Run 1: 4 steps, checkpoint every 2.
    const first = await run(ex, trainingGraph({ iterations: 4, checkpoint: 'ck.safetensors', checkpointEvery: 2 }));
    expect(first.summary.ok, JSON.stringify(first.summary.nodes.train)).toBe(true);
    expect(host.writes).toEqual([
      { folder: '', name: 'ck.safetensors', overwrite: true, step: 2 },
      { folder: '', name: 'ck.safetensors', overwrite: true, step: 4 },
    ]);
    expect([...host.written.keys()]).toEqual(['ck.safetensors']); // replaced in place, never ck-1.safetensors
    expect(first.report!.rows[0]).toMatchObject({ steps: 4, resumedFrom: 0, encoder: 'stats:v1' });
    expect(first.report!.rows[0].guidedBy).toMatch(/residual vector/);
    for (const k of ['loss', 'guidance', 'identity']) expect(Number.isFinite(first.report!.rows[0][k] as number), k).toBe(true);
    const ckpt4 = decodeEnhancer('ck.safetensors', host.written.get('ck.safetensors')!);
    expect(ckpt4.state!.step).toBe(4);
    expect(ckpt4.state!.metadata).toMatchObject({ iterations: '4' });
    expect(ckpt4.state!.metadata.run).toMatch(/\w+/);
    expect(ckpt4.state!.optimizer!.size).toBeGreaterThan(1);
    // The checkpoint holds the weights the node output.
    expect(weightDiff(ckpt4.net, ex.outputsOf('train')!.enhancer as EnhancerNet)).toBe(0);
    ckpt4.net.dispose();

    // Run 2: iterations raised to 6 → continues from step 4.
    host.writes.length = 0;
    const second = await run(ex, trainingGraph({ iterations: 6, checkpoint: 'ck.safetensors', checkpointEvery: 2 }));
    expect(second.summary.ok).toBe(true);
    expect(second.summary.nodes.back.status).toBe('cached');
    expect(second.summary.nodes.train.status).toBe('done');
    expect(second.logs).toContain('resuming from ck.safetensors at step 4');
    expect(second.report!.rows[0]).toMatchObject({ steps: 6, resumedFrom: 4 });
    expect(host.writes).toEqual([{ folder: '', name: 'ck.safetensors', overwrite: true, step: 6 }]);
    const resumedNet = ex.outputsOf('train')!.enhancer as EnhancerNet;

    // The same 6 steps without interruption (another executor, no checkpoint) end at the same weights.
    const straightEx = new Executor(registry, photos(new MemoryHost()));
    const straight = await run(straightEx, trainingGraph({ iterations: 6 }));
    expect(straight.report!.rows[0]).toMatchObject({ steps: 6, resumedFrom: 0 });
    expect(weightDiff(resumedNet, straightEx.outputsOf('train')!.enhancer as EnhancerNet)).toBeLessThanOrEqual(1e-6);
    straightEx.dispose();

    // Run 3: another learning rate is another run → the old checkpoint is kept as .prev, training starts at 0.
    const before = host.written.get('ck.safetensors')!;
    host.writes.length = 0;
    const third = await run(ex, trainingGraph({ iterations: 2, lr: 3e-4, checkpoint: 'ck.safetensors', checkpointEvery: 2 }));
    expect(third.summary.ok).toBe(true);
    expect(third.report!.rows[0]).toMatchObject({ steps: 2, resumedFrom: 0 });
    expect(third.logs.join('\n')).toMatch(/ck\.safetensors belongs to a different run; kept it as ck\.safetensors\.prev and started fresh/);
    expect(Buffer.from(host.written.get('ck.safetensors.prev')!).equals(Buffer.from(before))).toBe(true);
    expect(host.writes.map((w) => [w.name, w.overwrite, w.step])).toEqual([
      ['ck.safetensors.prev', false, 6], // never over an older copy (issue 15)
      ['ck.safetensors', true, 2],
    ]);

    // Run 4: resume = false never resumes, even its own checkpoint; the previous one is kept again,
    // beside the first copy instead of over it (issue 15: the third run used to lose the first checkpoint).
    const fourth = await run(ex, trainingGraph({ iterations: 2, lr: 3e-4, checkpoint: 'ck.safetensors', checkpointEvery: 2, resume: false }));
    expect(fourth.report!.rows[0]).toMatchObject({ resumedFrom: 0 });
    expect(fourth.logs.join('\n')).toMatch(/ck\.safetensors exists; kept it as ck\.safetensors-1\.prev/);
    expect(stateOf(host.written.get('ck.safetensors-1.prev')!)!.step).toBe(2);
    expect(Buffer.from(host.written.get('ck.safetensors.prev')!).equals(Buffer.from(before))).toBe(true);
    ex.dispose();
  });
});

describe('enhancer-trainer: export and load back', () => {
  it('exportAs writes <name>.safetensors and <name>-tfjs/{model.json,weights.bin}; Enhance loads each (weights param) with the same output as the wired enhancer; paired ground truth adds the pixel loss', async () => {
    const host = photos(new RecordingHost());
    const ex = new Executor(registry, host);
    const first = await run(ex, trainingGraph({ iterations: 2, exportAs: 'mynet', pixelWeight: 1 }, { groundTruth: true, enhance: true }));
    expect(first.summary.ok, JSON.stringify(first.summary)).toBe(true);
    expect(Object.keys(first.report!.rows[0])).toContain('pixel');
    expect(Number.isFinite(first.report!.rows[0].pixel as number)).toBe(true);
    expect(first.report!.rows.slice(1).map((r) => r.name)).toEqual(['mynet.safetensors', 'mynet-tfjs/model.json', 'mynet-tfjs/weights.bin']);
    expect([...host.written.keys()].sort()).toEqual(['mynet-tfjs/model.json', 'mynet-tfjs/weights.bin', 'mynet.safetensors']);
    expect(stateOf(host.written.get('mynet.safetensors')!)).toBeUndefined(); // weights only
    const wired = (ex.outputsOf('enh')!.images as ImageBatchValue).images.map((im) => ({ name: im.name, data: Array.from(im.tensor.dataSync()) }));
    expect(wired.map((w) => w.name)).toEqual(['b0.raw', 'b1.raw', 'b2.raw']);

    // Hand the exported files to Enhance as model files.
    for (const [key, bytes] of host.written) host.addFile(`models/${key}`, bytes);
    const g = graph(
      [node('back', 'image-loader', { source: 'back/*' }), node('st', 'enhance', { weights: 'models/mynet.safetensors', mode: 'full' }), node('tfjs', 'enhance', { weights: 'models/mynet-tfjs', mode: 'full' })],
      [wire('back.images', 'st.images'), wire('back.images', 'tfjs.images')],
    );
    const second = await ex.run(g);
    expect(second.ok, JSON.stringify(second)).toBe(true);
    for (const id of ['st', 'tfjs']) {
      const images = (ex.outputsOf(id)!.images as ImageBatchValue).images;
      expect(images.map((im) => im.name)).toEqual(wired.map((w) => w.name));
      images.forEach((im, i) => expect(Array.from(im.tensor.dataSync()), `${id} ${im.name}`).toEqual(wired[i].data));
    }
    ex.dispose();
  });
});

describe('enhancer-trainer run directly: clear errors naming the field, divergence, NodeHost checkpoints', () => {
  let encoder: StatsEncoder;
  let images: ImageBatchValue;
  let residual: ResidualValue;
  let prompts: PromptPairValue;

  beforeAll(() => {
    encoder = new StatsEncoder({ workingSize: 16 });
    images = { kind: 'ImageBatch', images: ['a.png', 'b.png'].map((name, i) => ({ name, tensor: tf.randomUniform([16, 16, 3], 0, 0.4, 'float32', i + 1) as tf.Tensor3D })) };
    const unit = (seed: number) => tf.tidy(() => {
      const v = tf.randomNormal([encoder.dim], 0, 1, 'float32', seed);
      return tf.div(v, tf.norm(v)) as tf.Tensor1D;
    });
    residual = { kind: 'Residual', space: encoder.space, r: unit(1), vPos: unit(2), vNeg: unit(3), thr: 0.4 };
    prompts = { kind: 'PromptPair', space: encoder.space, mode: 'latent', prompts: tf.stack([unit(4), unit(5)]) as tf.Tensor2D };
  });

  afterAll(() => {
    tf.dispose([...images.images.map((i) => i.tensor), residual.r, residual.vPos, residual.vNeg, prompts.prompts]);
    encoder.dispose();
  });

  async function failure(inputs: Record<string, unknown>, params: Record<string, unknown> = {}, host = new MemoryHost()): Promise<BacklitError> {
    const ctx = fakeContext(host, 'train');
    const err = await enhancerTrainer
      .run({ inputs: { images, encoder, ...inputs }, params: enhancerTrainer.params.parse({ iterations: 2, warmupIterations: 1, imageSize: 16, ...params }), ctx })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(BacklitError);
    return err as BacklitError;
  }

  it('no guidance → "residual"; both guidances → "prompts"', async () => {
    const none = await failure({});
    expect(none.info).toMatchObject({ code: 'node-failed', nodeId: 'train', field: 'residual' });
    expect(none.info.message).toMatch(/No guidance/);
    expect(none.info.fix).toMatch(/Residual Vector.*Prompt Learner/);
    const both = await failure({ residual, prompts });
    expect(both.info).toMatchObject({ field: 'prompts' });
    expect(both.info.message).toMatch(/Both/);
  });

  it('guidanceUnits gap: a residual without a backlit start, or a target not above it → "guidanceUnits"', async () => {
    const noStart = await failure({ residual }, { guidanceUnits: 'gap' });
    expect(noStart.info).toMatchObject({ field: 'guidanceUnits' });
    expect(noStart.info.message).toMatch(/where the backlit set starts/);
    const noGap = await failure({ residual: { ...residual, start: 0.5 } }, { guidanceUnits: 'gap' });
    expect(noGap.info).toMatchObject({ field: 'guidanceUnits' });
    expect(noGap.info.message).toMatch(/not above the backlit mean/);
  });

  it('cosineLr: lr through the warm-up, then cosine down to lr/10 at the last step', () => {
    const cfg = { lr: 1e-3, iterations: 110, warmupIterations: 10 };
    expect(cosineLr(cfg, 0)).toBe(1e-3);
    expect(cosineLr(cfg, 9)).toBe(1e-3);
    expect(cosineLr(cfg, 10)).toBeCloseTo(1e-3, 12);
    expect(cosineLr(cfg, 109)).toBeCloseTo(1e-4, 12);
    expect(cosineLr(cfg, 10 + 99 / 2)).toBeCloseTo(0.55e-3, 12);
  });

  it('guidance from another embedding space → the guidance field, naming both spaces', async () => {
    const r = await failure({ residual: { ...residual, space: 'clip:other' } });
    expect(r.info).toMatchObject({ field: 'residual' });
    expect(r.info.message).toContain('"clip:other"');
    expect(r.info.message).toContain('"stats:v1"');
    const p = await failure({ prompts: { ...prompts, space: 'clip:other' } });
    expect(p.info).toMatchObject({ field: 'prompts' });
  });

  it('pixelWeight without ground truth → "pixelWeight"; ground truth named differently → "groundTruth" naming the missing ones', async () => {
    const px = await failure({ residual }, { pixelWeight: 1 });
    expect(px.info).toMatchObject({ field: 'pixelWeight' });
    expect(px.info.message).toMatch(/ground truth/);
    const truth: ImageBatchValue = { kind: 'ImageBatch', images: [{ name: 'a.png', tensor: images.images[0].tensor }, { name: 'other.png', tensor: images.images[1].tensor }] };
    const gt = await failure({ residual, groundTruth: truth }, { pixelWeight: 1 });
    expect(gt.info).toMatchObject({ field: 'groundTruth' });
    expect(gt.info.message).toContain('b.png');
    expect(gt.info.fix).toMatch(/file name/);
  });

  it('a warm-up longer than the run → "warmupIterations"', async () => {
    const w = await failure({ residual }, { iterations: 2, warmupIterations: 3 });
    expect(w.info).toMatchObject({ field: 'warmupIterations' });
  });

  it('a diverging run (NaN guidance) fails on "lr" and keeps the last good checkpoint', async () => {
    const nan = { ...residual, r: tf.fill([encoder.dim], NaN) as tf.Tensor1D };
    const host = new RecordingHost();
    const before = tf.memory().numTensors;
    const err = await failure({ residual: nan }, { iterations: 4, warmupIterations: 1, checkpoint: 'ck.safetensors', checkpointEvery: 1 }, host);
    expect(err.info).toMatchObject({ field: 'lr' });
    expect(err.info.message).toMatch(/diverged at step 2/);
    expect(err.info.fix).toMatch(/ck\.safetensors/);
    expect(host.writes.map((w) => w.step)).toEqual([1]); // the warm-up step; nothing after
    expect(tf.memory().numTensors).toBe(before); // the failed network was released
    nan.r.dispose();
  });

  it('NodeHost: the checkpoint is written atomically into the output folder (no temp files left) and a second run resumes from it', async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'backlit-trainer-'));
    try {
      const host = new NodeHost({ baseDirs: [tmp], outDir: tmp });
      const runOnce = async (iterations: number) => {
        const ctx = fakeContext(host, 'train');
        const out = await enhancerTrainer.run({
          inputs: { images, encoder, residual },
          params: enhancerTrainer.params.parse({ iterations, warmupIterations: 1, imageSize: 16, seed: 1, checkpoint: 'ck.safetensors', checkpointEvery: 1 }),
          ctx,
        });
        (out.enhancer as EnhancerNet).dispose();
        return { report: out.report as ReportValue, logs: ctx.logs };
      };
      const first = await runOnce(2);
      expect(first.report.rows[0]).toMatchObject({ steps: 2, resumedFrom: 0 });
      expect(await fs.readdir(tmp)).toEqual(['ck.safetensors']);
      const second = await runOnce(3);
      expect(second.logs).toContain('resuming from ck.safetensors at step 2');
      expect(second.report.rows[0]).toMatchObject({ steps: 3, resumedFrom: 2 });
      expect(await fs.readdir(tmp)).toEqual(['ck.safetensors']);
      expect(stateOf(new Uint8Array(await fs.readFile(path.join(tmp, 'ck.safetensors'))))!.step).toBe(3);
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  });

  it('through the executor the error sits on the trainer node with its field', async () => {
    const ex = new Executor(registry, photos(new MemoryHost()));
    const summary = await ex.run(trainingGraph({ iterations: 2, pixelWeight: 1 }));
    expect(summary.ok).toBe(false);
    expect(summary.nodes.res.status).toBe('done');
    expect(summary.nodes.train.error).toMatchObject({ nodeId: 'train', field: 'pixelWeight' });
    ex.dispose();
  });
});
