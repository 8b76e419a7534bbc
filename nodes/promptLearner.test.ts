import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import encoder from './encoder';
import imageLoader from './imageLoader';
import promptLearner from './promptLearner';
import { BacklitError, Executor, NodeRegistry, viewOf, type AnyNodeDefinition, type ImageBatchValue, type ReportValue } from '../src/engine';
import { MemoryHost } from '../src/engine/testing/memoryHost';
import { fakeContext, graph, node, wire } from '../src/engine/testing/build';
import { StatsEncoder } from '../src/ml/encoders/stats';
import type { LearnedPromptPair } from '../src/ml/prompts';
import { sharedDataDir, useTestBackend } from '../src/ml/testing';

beforeAll(async () => {
  await useTestBackend('wasm');
});

const registry = new NodeRegistry([imageLoader, encoder, promptLearner] as AnyNodeDefinition[]);

/** dark/ and bright/ image folders (different sizes), plus mid/ with the dark images' names. */
function imageHost(): MemoryHost {
  const host = new MemoryHost();
  for (let i = 0; i < 4; i++) {
    host.addImage(`dark/${i}.raw`, 20 + i, 16, (x, y) => [20 + ((x * 7 + i * 11) % 40), 15 + ((y * 5) % 30), 25 + i * 5]);
    host.addImage(`bright/${i}.raw`, 18, 20 + i, (x, y) => [180 + ((x * 5 + i * 9) % 70), 170 + ((y * 7) % 80), 150 + i * 20]);
    host.addImage(`mid/${i}.raw`, 20 + i, 16, (x, y) => [100 + ((x * 7 + i * 11) % 40), 95 + ((y * 5) % 30), 90 + i * 5]);
  }
  return host;
}

function withTinyClip(host: MemoryHost): MemoryHost {
  return host
    .addFile('models/tiny-clip/config.json', new Uint8Array(readFileSync(path.join(sharedDataDir, 'tiny-clip/config.json'))))
    .addFile('models/tiny-clip/model.safetensors', new Uint8Array(readFileSync(path.join(sharedDataDir, 'tiny-clip/model.safetensors'))));
}

const loaders = [node('loadB', 'image-loader', { source: 'dark' }), node('loadW', 'image-loader', { source: 'bright' }), node('loadE', 'image-loader', { source: 'mid' })];
const learnerWires = (id: string, enc: string) => [wire(`${enc}.encoder`, `${id}.encoder`), wire('loadB.images', `${id}.backlit`), wire('loadW.images', `${id}.wellLit`)];

async function batchOf(host: MemoryHost, folder: string): Promise<ImageBatchValue> {
  const out = await imageLoader.run({ inputs: {}, params: imageLoader.params.parse({ source: folder }), ctx: fakeContext(host, 'load') });
  return out.images as ImageBatchValue;
}

describe('prompt-learner node', () => {
  it('latent mode with the offline stats encoder separates dark from bright images; report, view, no leaks', async () => {
    const host = imageHost();
    const baseline = tf.memory().numTensors;
    const ex = new Executor(registry, host);
    const events: Array<{ step: number; metrics?: Record<string, number> }> = [];
    const summary = await ex.run(
      graph([node('enc', 'encoder', { model: 'stats' }), ...loaders, node('learn', 'prompt-learner', { mode: 'latent', iterations: 40, seed: 1 })], learnerWires('learn', 'enc')),
      { onEvent: (e) => void (e.type === 'progress' && e.nodeId === 'learn' && events.push({ step: e.step, metrics: e.metrics })) },
    );
    expect(summary.ok).toBe(true);
    const out = ex.outputsOf('learn')!;
    const prompts = out.prompts as LearnedPromptPair;
    expect(prompts).toMatchObject({ kind: 'PromptPair', space: 'stats:v1', mode: 'latent' });
    expect(prompts.prompts.shape).toEqual([2, 37]);
    expect(prompts.tokens).toBeUndefined();
    expect(prompts.stats!.accuracy.backlit).toBeGreaterThanOrEqual(0.9);
    expect(prompts.stats!.accuracy.wellLit).toBeGreaterThanOrEqual(0.9);
    // Per-step progress with loss and accuracy for the live plot.
    const steps = events.filter((e) => e.metrics);
    expect(steps).toHaveLength(40);
    expect(Object.keys(steps[0].metrics!).sort()).toEqual(['accBacklit', 'accWellLit', 'loss']);
    const report = out.report as ReportValue;
    expect(report.title).toBe('Prompt learning (latent, init)');
    expect(report.rows[0]).toMatchObject({ mode: 'latent', stage: 'init', steps: 40, space: 'stats:v1', init: 'randn (seed 1)', lr: 5e-2 });
    expect(report.rows[0].accBacklit).toBeGreaterThanOrEqual(0.9);
    expect(report.rows[0].msPerStep).toBeGreaterThan(0);
    // The editor's view: accuracy and a 10-bin histogram of P(positive) per set.
    const view = await viewOf('PromptPair', prompts);
    expect(view).toMatchObject({ kind: 'PromptPair', space: 'stats:v1', mode: 'latent', dim: 37, accuracy: prompts.stats!.accuracy });
    if (view.kind !== 'PromptPair') throw new Error('unreachable');
    expect(view.histogram!.bins).toBe(10);
    expect(view.histogram!.backlit.reduce((a, b) => a + b)).toBe(4);
    expect(view.histogram!.wellLit.reduce((a, b) => a + b)).toBe(4);
    expect(view.cosNegPos).toBeLessThan(1);
    expect(JSON.parse(JSON.stringify(view))).toEqual(view); // plain data: crosses the worker boundary
    ex.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
  });

  it('text mode on the image-only stats encoder fails clearly, naming the field `mode`', async () => {
    const host = imageHost();
    const enc = new StatsEncoder();
    const inputs = { encoder: enc, backlit: await batchOf(host, 'dark'), wellLit: await batchOf(host, 'bright') };
    const err = await promptLearner.run({ inputs, params: promptLearner.params.parse({ mode: 'text' }), ctx: fakeContext(host, 'learn') }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(BacklitError);
    expect((err as BacklitError).info).toMatchObject({ code: 'node-failed', nodeId: 'learn', field: 'mode' });
    expect((err as BacklitError).info.message).toMatch(/text tower/);
    expect((err as BacklitError).info.message).toContain('stats:v1');
    expect((err as BacklitError).info.fix).toMatch(/latent/);
    // initFrom "text" needs a tokenizer too.
    const err2 = await promptLearner.run({ inputs, params: promptLearner.params.parse({ mode: 'latent', initFrom: 'text' }), ctx: fakeContext(host, 'learn') }).then(() => undefined, (e: unknown) => e);
    expect((err2 as BacklitError).info).toMatchObject({ field: 'initFrom' });
    enc.dispose();
    tf.dispose([...inputs.backlit.images, ...inputs.wellLit.images].map((im) => im.tensor));
  });

  it('refuses previous2 without previous, and an enhanced set that does not match the backlit images', async () => {
    const host = imageHost().addImage('few/x.raw', 8, 8, () => [90, 90, 90]);
    const enc = new StatsEncoder();
    const inputs = { encoder: enc, backlit: await batchOf(host, 'dark'), wellLit: await batchOf(host, 'bright') };
    const few = await batchOf(host, 'few');
    const run = (extra: Record<string, unknown>) => promptLearner.run({ inputs: { ...inputs, ...extra }, params: promptLearner.params.parse({ iterations: 1 }), ctx: fakeContext(host, 'learn') }).then(() => undefined, (e: unknown) => e as BacklitError);
    expect((await run({ previous2: few }))!.info.field).toBe('previous2');
    const err = (await run({ previous: few }))!;
    expect(err.info.field).toBe('previous');
    expect(err.info.message).toMatch(/1 enhanced images for 4 backlit/);
    enc.dispose();
    tf.dispose([...inputs.backlit.images, ...inputs.wellLit.images, ...few.images].map((im) => im.tensor));
  });

  it('text mode on the tiny CLIP: initial round, then refinement continuing from its tokens; latent can start from text prompts', async () => {
    const host = withTinyClip(imageHost());
    const baseline = tf.memory().numTensors;
    const ex = new Executor(registry, host);
    const summary = await ex.run(
      graph(
        [
          node('clip', 'encoder', { model: 'clip', source: 'models/tiny-clip' }),
          ...loaders,
          node('r1', 'prompt-learner', { mode: 'text', iterations: 20 }),
          node('r2', 'prompt-learner', { mode: 'text', iterations: 10 }),
          node('lat', 'prompt-learner', { mode: 'latent', iterations: 5 }),
        ],
        [
          ...learnerWires('r1', 'clip'),
          ...learnerWires('r2', 'clip'),
          wire('r1.prompts', 'r2.init'),
          wire('loadE.images', 'r2.previous'),
          ...learnerWires('lat', 'clip'),
          wire('r1.prompts', 'lat.init'),
        ],
      ),
    );
    expect(summary.errors).toEqual([]);
    expect(summary.ok).toBe(true);
    const r1 = ex.outputsOf('r1')!;
    const p1 = r1.prompts as LearnedPromptPair;
    expect(p1).toMatchObject({ kind: 'PromptPair', space: 'clip:tiny-clip', mode: 'text', eotPositions: [11, 11] });
    expect(p1.prompts.shape).toEqual([2, 8]);
    expect(p1.tokens!.shape).toEqual([2, 12, 16]);
    expect((r1.report as ReportValue).rows[0]).toMatchObject({ mode: 'text', stage: 'init', init: '"X" × 10 (context 12)' });
    expect(p1.stats!.accuracy).toEqual({ backlit: 1, wellLit: 1 });

    const r2 = ex.outputsOf('r2')!;
    const p2 = r2.prompts as LearnedPromptPair;
    expect((r2.report as ReportValue).title).toBe('Prompt learning (text, refine)');
    expect((r2.report as ReportValue).rows[0]).toMatchObject({ stage: 'refine', init: 'previous prompts' });
    expect(p2.stats!.histogram.previous!.reduce((a, b) => a + b)).toBe(4);
    expect((r2.report as ReportValue).rows[0].pPositive_previous).toBeTypeOf('number');
    // Refinement moved the prompts (and started from round 1's, not from "X X … X").
    const moved = tf.tidy(() => tf.max(tf.abs(tf.sub(p2.tokens!, p1.tokens!))).dataSync()[0]);
    expect(moved).toBeGreaterThan(0);
    expect(moved).toBeLessThan(0.2);

    const lat = ex.outputsOf('lat')!;
    expect((lat.report as ReportValue).rows[0]).toMatchObject({ mode: 'latent', init: 'previous text prompts' });
    expect((lat.prompts as LearnedPromptPair).tokens).toBeUndefined();
    ex.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
  });

  it('text mode cannot continue from latent prompts (no token embeddings)', async () => {
    const host = withTinyClip(imageHost());
    const ex = new Executor(registry, host);
    const summary = await ex.run(
      graph(
        [node('clip', 'encoder', { model: 'clip', source: 'models/tiny-clip' }), ...loaders, node('lat', 'prompt-learner', { mode: 'latent', iterations: 3 }), node('txt', 'prompt-learner', { mode: 'text', iterations: 3 })],
        [...learnerWires('lat', 'clip'), ...learnerWires('txt', 'clip'), wire('lat.prompts', 'txt.init')],
      ),
    );
    expect(summary.ok).toBe(false);
    expect(summary.nodes.txt.error).toMatchObject({ code: 'node-failed', nodeId: 'txt', field: 'init' });
    expect(summary.nodes.lat.status).toBe('done');
    ex.dispose();
  });
});
