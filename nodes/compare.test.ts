import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import compare, { scoreCaption } from './compare';
import imageLoader from './imageLoader';
import output from './output';
import { BacklitError, Executor, NodeRegistry, type AnyNodeDefinition, type ImageBatchValue, type ReportValue } from '../src/engine';
import { MemoryHost } from '../src/engine/testing/memoryHost';
import { fakeContext, graph, node, wire } from '../src/engine/testing/build';
import { gridLayout, rgbOf } from '../src/ml/interpret';
import { raveMetrics } from '../src/ml/metrics';
import { useTestBackend } from '../src/ml/testing';

beforeAll(async () => {
  await useTestBackend('wasm');
});

/** A solid-colour image tagged by its colour, so a cell shows where each image went. */
const solid = (h: number, w: number, rgb: number[]) => tf.tidy(() => tf.tile(tf.tensor3d(rgb, [1, 1, 3]), [h, w, 1]) as tf.Tensor3D);
const batch = (...images: Array<[string, tf.Tensor3D]>): ImageBatchValue => ({ kind: 'ImageBatch', images: images.map(([name, tensor]) => ({ name, tensor })) });

async function run(inputs: Record<string, unknown>, params: Record<string, unknown> = {}) {
  const ctx = fakeContext(new MemoryHost(), 'cmp');
  const out = await compare.run({ inputs, params: compare.params.parse(params), ctx });
  const grid = (out.grid as ImageBatchValue).images;
  return { grid, report: out.report as ReportValue, logs: ctx.logs };
}

async function failure(p: Promise<unknown>): Promise<BacklitError['info']> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(BacklitError);
  return (err as BacklitError).info;
}

const RED = [1, 0, 0];
const GREEN = [0, 1, 0];
const BLUE = [0, 0, 1];

describe('compare node', () => {
  it('grid dimensions follow the layout: columns = input + methods + ground truth, rows as high as their images', async () => {
    const input = batch(['a.jpg', solid(30, 60, [0.2, 0.2, 0.2])], ['b.jpg', solid(60, 30, [0.2, 0.2, 0.2])]);
    const { grid } = await run({ input, a: input, b: input, groundTruth: input }, { cellSize: 64 });
    expect(grid).toHaveLength(1);
    expect(grid[0].name).toBe('compare.png');
    // Row 1 holds 60×30 images fitted to 64×32; row 2 30×60 → 32×64 (row height 64).
    const l = gridLayout([32, 64], 4, 64);
    expect(grid[0].tensor.shape).toEqual([l.height, l.width, 3]);
  });

  it('matches rows by file name (other order, other extension) and puts each image in its column', async () => {
    const input = batch(['x.jpg', solid(16, 16, [0.5, 0.5, 0.5])], ['y.jpg', solid(16, 16, [0.5, 0.5, 0.5])]);
    // Method A: x is red, y is green, listed in the other order and saved as PNG.
    const a = batch(['y.png', solid(16, 16, GREEN)], ['x.png', solid(16, 16, RED)]);
    const truth = batch(['y.jpg', solid(16, 16, BLUE)], ['x.jpg', solid(16, 16, BLUE)]);
    const { grid } = await run({ input, a, groundTruth: truth }, { cellSize: 48 });
    const img = grid[0].tensor;
    const l = gridLayout([48, 48], 3, 48);
    const px = async (row: number, col: number) => {
      const o = l.cellOrigin(row, col);
      const t = tf.slice(img, [o.y + 24, o.x + 24, 0], [1, 1, 3]);
      const v = Array.from(await t.data()).map((x) => +x.toFixed(3));
      t.dispose();
      return v;
    };
    expect(await px(0, 1)).toEqual(RED); // row x, column A
    expect(await px(1, 1)).toEqual(GREEN); // row y, column A
    expect(await px(0, 2)).toEqual(BLUE); // ground truth
    expect(await px(0, 0)).toEqual([0.5, 0.5, 0.5]);
  });

  it('reports gray PSNR/SSIM per image and method against ground truth (RAVE metrics), means first', async () => {
    const gt = solid(16, 16, [0.5, 0.5, 0.5]);
    const off = tf.tidy(() => tf.add(gt, tf.randomUniform([16, 16, 3], -0.1, 0.1, 'float32', 1)) as tf.Tensor3D);
    const input = batch(['p.jpg', solid(16, 16, [0.1, 0.1, 0.1])]);
    const { report } = await run({ input, a: batch(['p.jpg', off]), b: batch(['p.jpg', gt]), groundTruth: batch(['p.jpg', gt]) }, { labelA: 'RAVE', labelB: 'perfect' });
    expect(report.rows.map((r) => [r.name, r.column])).toEqual([
      ['mean', 'input'], ['mean', 'RAVE'], ['mean', 'perfect'],
      ['p.jpg', 'input'], ['p.jpg', 'RAVE'], ['p.jpg', 'perfect'],
    ]);
    const expected = raveMetrics(await rgbOf(gt), await rgbOf(off)); // the metrics module's own fixtures pin it to cv2/skimage
    expect(report.rows[4].PSNR).toBeCloseTo(expected.psnr, 9);
    expect(report.rows[4].SSIM).toBeCloseTo(expected.ssim, 9);
    expect(report.rows[5].PSNR).toBeGreaterThan(300); // identical: cv2's ~361 dB
    expect(report.title).toMatch(/gray PSNR \(dB\) \/ SSIM vs ground truth/);
    expect(scoreCaption({ psnr: 21.3456, ssim: 0.81234 }, 160)).toBe('PSNR 21.35 SSIM 0.812');
    expect(scoreCaption({ psnr: 21.3456, ssim: 0.81234 }, 96)).toBe('21.35 / 0.812');
  });

  it('adds RGB PSNR, which sees a colour cast that leaves gray unchanged (hand-computed)', async () => {
    // Gray 128 vs a cast of the same RAVE gray (cv2's RGB2GRAY on RGB data: 3735·R + 19235·G + 9798·B):
    // R +100, B −38 levels cancel (3735·100 ≈ 9798·38). Gray PSNR is cv2's ~361 dB for identical
    // images; RGB PSNR is 10·log10(255² / mean squared level error over the 3 channels).
    const gt = solid(8, 8, [128 / 255, 128 / 255, 128 / 255]);
    const cast = solid(8, 8, [228 / 255, 128 / 255, 90 / 255]);
    const { report } = await run({ input: batch(['p.png', cast]), groundTruth: batch(['p.png', gt]) });
    const row = report.rows.find((r) => r.name === 'p.png')!;
    expect(row.PSNR).toBeGreaterThan(300); // gray: identical
    const mse = (100 * 100 + 0 + 38 * 38) / 3;
    expect(row['RGB PSNR']).toBeCloseTo(10 * Math.log10((255 * 255) / mse), 6);
    expect(report.rows[0]).toMatchObject({ name: 'mean', 'RGB PSNR': row['RGB PSNR'] });
    expect(report.title).toMatch(/RGB PSNR/);
  });

  it('says why an SSIM is NaN: a flat image (a collapsed enhancer) has no data range', async () => {
    // Ground truth with a flat half: there SSIM is 0/0 against a flat image (where it has texture, 0).
    const gt = tf.tidy(() => tf.concat([tf.randomUniform([16, 8, 3], 0, 1, 'float32', 3), tf.fill([16, 8, 3], 0.5)], 1) as tf.Tensor3D);
    const input = batch(['p.png', tf.tidy(() => tf.mul(gt, 0.5) as tf.Tensor3D)]);
    const { report, logs } = await run({ input, a: batch(['p.png', solid(16, 16, [1, 1, 1])]), groundTruth: batch(['p.png', gt]) }, { labelA: 'collapsed' });
    expect(report.rows.find((r) => r.name === 'p.png' && r.column === 'collapsed')!.SSIM).toBeNaN();
    expect(report.rows.find((r) => r.name === 'p.png' && r.column === 'input')!.SSIM).not.toBeNaN();
    expect(logs.filter((l) => /undefined \(NaN\)/.test(l))).toEqual([expect.stringMatching(/"p\.png" \(collapsed\).*flat/)]);
  });

  it('without ground truth: a figure and no scores; maxRows limits the figure, not the table', async () => {
    const input = batch(['a.jpg', solid(8, 8, RED)], ['b.jpg', solid(8, 8, RED)], ['c.jpg', solid(8, 8, RED)]);
    const { grid, report, logs } = await run({ input, a: input }, { cellSize: 48, maxRows: 2, name: 'fig' });
    expect(grid[0].name).toBe('fig.png');
    expect(grid[0].tensor.shape[0]).toBe(gridLayout([48, 48], 2, 48).height);
    expect(report.rows).toEqual([]);
    expect(logs[0]).toMatch(/first 2 of 3 rows/);
  });

  it('fails naming the input whose names do not match', async () => {
    const input = batch(['a.jpg', solid(8, 8, RED)], ['b.jpg', solid(8, 8, RED)]);
    let e = await failure(run({ input, b: batch(['a.jpg', solid(8, 8, RED)]) }, { labelB: 'shifted' }));
    expect(e.field).toBe('b');
    expect(e.message).toMatch(/shifted \(input "b"\) has no image named like "b\.jpg"/);
    e = await failure(run({ input, groundTruth: batch(['a.jpg', solid(8, 8, RED)], ['z.jpg', solid(8, 8, RED)]) }));
    expect(e.field).toBe('groundTruth');
    expect(e.message).toMatch(/No ground truth named like "b\.jpg"/);
    e = await failure(run({ input, a: input, groundTruth: batch(['a.jpg', solid(8, 9, RED)], ['b.jpg', solid(8, 8, RED)]) }));
    expect(e.field).toBe('groundTruth');
    expect(e.message).toMatch(/is 8×8 but its ground truth "a\.jpg" is 9×8/);
  });

  it('in a graph: the figure goes to an Output node as compare.png', async () => {
    const host = new MemoryHost().addImage('in/a.raw', 20, 10, () => [40, 40, 40]).addImage('in/b.raw', 20, 10, () => [90, 90, 90]);
    const registry = new NodeRegistry([imageLoader, compare, output] as AnyNodeDefinition[]);
    const ex = new Executor(registry, host);
    const summary = await ex.run(graph([node('load', 'image-loader', { source: 'in' }), node('cmp', 'compare', { cellSize: 48 }), node('save', 'output', { folder: 'fig' })], [wire('load.images', 'cmp.input'), wire('load.images', 'cmp.groundTruth'), wire('cmp.grid', 'save.images')]));
    expect(summary.ok).toBe(true);
    const written = host.readWritten('fig/compare.png');
    expect([written.width, written.height]).toEqual([gridLayout([24, 24], 2, 48).width, gridLayout([24, 24], 2, 48).height]);
    ex.dispose();
  });
});
