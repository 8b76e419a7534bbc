import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import metrics from './metrics';
import { BacklitError, type ImageBatchValue, type PromptPairValue, type ReportValue, type ResidualValue } from '../src/engine';
import { MemoryHost } from '../src/engine/testing/memoryHost';
import { fakeContext } from '../src/engine/testing/build';
import type { ImageEncoder } from '../src/ml/encoder';
import { sharedDataDir, useTestBackend } from '../src/ml/testing';

beforeAll(async () => {
  await useTestBackend('wasm');
});

/** cv2 + skimage values computed by tools/reference/metrics_reference.py (RAVE's compute_metrics.py). */
const FIXTURES = path.resolve(import.meta.dirname, '../src/ml/metrics/fixtures');
interface Ref { gt: string; enhanced: string; rave_psnr: number; rave_ssim: number; color_psnr: number; color_ssim: number }
const refs = JSON.parse(readFileSync(path.join(FIXTURES, 'metrics_reference.json'), 'utf8')) as Record<string, Ref>;

async function load(rel: string): Promise<tf.Tensor3D> {
  const file = rel.includes('/') ? path.join(sharedDataDir, rel) : path.join(FIXTURES, rel);
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return tf.tidy(() => tf.tensor3d(new Uint8Array(data), [info.height, info.width, 3], 'int32').toFloat().div(255) as tf.Tensor3D);
}

const batch = (...images: Array<[string, tf.Tensor3D]>): ImageBatchValue => ({ kind: 'ImageBatch', images: images.map(([name, tensor]) => ({ name, tensor })) });

async function score(inputs: Record<string, unknown>, params: Record<string, unknown> = {}, host = new MemoryHost()) {
  const ctx = fakeContext(host, 'm');
  const out = await metrics.run({ inputs, params: metrics.params.parse(params), ctx });
  return { report: out.report as ReportValue, host, logs: ctx.logs };
}

async function failure(p: Promise<unknown>): Promise<BacklitError['info']> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(BacklitError);
  return (err as BacklitError).info;
}

/** A 3-d "encoder": the normalised mean colour of the image (hand-computable projections). */
const meanColour: ImageEncoder = {
  space: 'toy:rgb',
  dim: 3,
  label: 'mean colour',
  encodeImages: (images) => tf.tidy(() => {
    const m = tf.mean(images, [1, 2]) as tf.Tensor2D;
    return tf.div(m, tf.norm(m, 'euclidean', 1, true)) as tf.Tensor2D;
  }),
  dispose: () => {},
};

const constant = (h: number, w: number, rgb: number[]) => tf.tidy(() => tf.tile(tf.tensor3d(rgb, [1, 1, 3]), [h, w, 1]) as tf.Tensor3D);

describe('metrics node: full-reference scores equal the cv2/skimage fixtures (≤ 1e-3)', () => {
  for (const [name, r] of Object.entries(refs)) {
    it(`${name}: ${r.gt} vs ${r.enhanced}`, async () => {
      const [gt, enh] = await Promise.all([load(r.gt), load(r.enhanced)]);
      // Paired by name, the extension may differ (enhanced PNG vs ground-truth JPEG).
      const { report } = await score({ images: batch([`${name}.png`, enh]), groundTruth: batch([`${name}.jpg`, gt]) });
      const [row, mean] = report.rows;
      expect(row.name).toBe(`${name}.png`);
      expect(Math.abs((row.PSNR as number) - r.rave_psnr)).toBeLessThan(1e-3);
      expect(Math.abs((row.SSIM as number) - r.rave_ssim)).toBeLessThan(1e-3);
      expect(Math.abs((row['PSNR rgb'] as number) - r.color_psnr)).toBeLessThan(1e-3);
      expect(Math.abs((row['SSIM rgb'] as number) - r.color_ssim)).toBeLessThan(1e-3);
      expect(mean).toMatchObject({ name: 'mean', PSNR: row.PSNR, SSIM: row.SSIM });
      tf.dispose([gt, enh]);
    });
  }

  it('pairs several images by name whatever their order; the mean row averages them', async () => {
    const [g1, e1, g2, e2] = await Promise.all([load(refs.bluebells.gt), load(refs.bluebells.enhanced), load(refs.leuven.gt), load(refs.leuven.enhanced)]);
    const { report } = await score({ images: batch(['b.jpg', e1], ['l.jpg', e2]), groundTruth: batch(['l.jpg', g2], ['b.jpg', g1]) });
    expect(report.rows.map((r) => r.name)).toEqual(['b.jpg', 'l.jpg', 'mean']);
    expect(report.rows[0].PSNR).toBeCloseTo(refs.bluebells.rave_psnr, 3);
    expect(report.rows[1].PSNR).toBeCloseTo(refs.leuven.rave_psnr, 3);
    expect(report.rows[2].SSIM).toBeCloseTo((refs.bluebells.rave_ssim + refs.leuven.rave_ssim) / 2, 3);
    expect(report.title).toMatch(/vs ground truth/);
    tf.dispose([g1, e1, g2, e2]);
  });
});

describe('metrics node: no-reference scores', () => {
  it('<E(x), r> and <E(x), r> − thr; P(well-lit) = softmax(100·cos)[positive] (hand-computed)', async () => {
    const img = constant(4, 4, [0.6, 0.8, 0]); // E = (0.6, 0.8, 0)
    const residual: ResidualValue = { kind: 'Residual', space: 'toy:rgb', r: tf.tensor1d([1, 0, 0]), vPos: tf.tensor1d([1, 0, 0]), vNeg: tf.tensor1d([0, 1, 0]), thr: 0.5 };
    // Row 0 = negative (backlit) = e2, row 1 = positive (well-lit) = e1: cos 0.8 and 0.6.
    const prompts: PromptPairValue = { kind: 'PromptPair', space: 'toy:rgb', mode: 'latent', prompts: tf.tensor2d([[0, 1, 0], [1, 0, 0]]) };
    const { report } = await score({ images: batch(['x.png', img]), residual, prompts, encoder: meanColour });
    const row = report.rows[0];
    expect(row['<E,r>']).toBeCloseTo(0.6, 5);
    expect(row['<E,r>−thr']).toBeCloseTo(0.1, 5);
    expect(row['P(well-lit)']).toBeCloseTo(1 / (1 + Math.exp(100 * (0.8 - 0.6))), 12);
    expect(row.PSNR).toBeUndefined();
    expect(report.title).toMatch(/<E\(x\), r> vs thr 0\.5000 \(spread 0\.600…0\.600, std 0\.000\); P\(well-lit\)/);
    tf.dispose([img, residual.r, residual.vPos, residual.vNeg, prompts.prompts]);
  });

  it('the spread of <E(x), r> over the batch, images ≥ thr, and the well-lit percentile (hand-computed)', async () => {
    // E = normalised mean colour; r = e1, so <E, r> = R / ‖(R, G, B)‖: 0.6 for (0.6, 0.8, 0), 1 for (1, 0, 0), 0 for (0, 1, 0).
    const imgs = [constant(2, 2, [0.6, 0.8, 0]), constant(2, 2, [1, 0, 0]), constant(2, 2, [0, 1, 0])];
    const residual = {
      kind: 'Residual', space: 'toy:rgb', r: tf.tensor1d([2, 0, 0]), vPos: tf.tensor1d([1, 0, 0]), vNeg: tf.tensor1d([0, 1, 0]), thr: 0.5,
      thrPaper: 0.9,
      // Three well-lit embeddings projecting to 0.2, 0.7 and 0.9 on the unit r.
      calibration: { wellLitRows: new Float32Array([0.2, 0, 0, 0.7, 0, 0, 0.9, 0, 0]) },
    } as ResidualValue;
    const { report } = await score({ images: batch(['a.png', imgs[0]], ['b.png', imgs[1]], ['c.png', imgs[2]]), residual, encoder: meanColour });
    const by = Object.fromEntries(report.rows.map((r) => [r.name, r]));
    expect([by['a.png']['<E,r>'], by['b.png']['<E,r>'], by['c.png']['<E,r>']].map((v) => Math.round((v as number) * 1e5) / 1e5)).toEqual([0.6, 1, 0]);
    // mean 1.6/3; population std sqrt(((0.6−m)² + (1−m)² + m²)/3); median 0.6.
    const m = 1.6 / 3;
    expect(by.mean['<E,r>']).toBeCloseTo(m, 5);
    expect(by['<E,r> std']['<E,r>']).toBeCloseTo(Math.sqrt(((0.6 - m) ** 2 + (1 - m) ** 2 + m ** 2) / 3), 5);
    expect(by['<E,r> min']['<E,r>']).toBeCloseTo(0, 5);
    expect(by['<E,r> median']['<E,r>']).toBeCloseTo(0.6, 5);
    expect(by['<E,r> max']['<E,r>']).toBeCloseTo(1, 5);
    expect(by['images ≥ thr']['<E,r>']).toBe(2);
    // Well-lit projections 0.2, 0.7, 0.9: 0.6 is above one of three, 1 above all, 0 above none.
    expect([by['a.png'], by['b.png'], by['c.png']].map((r) => r['well-lit percentile'])).toEqual([expect.closeTo(100 / 3, 9), 100, 0]);
    expect(by['well-lit <E,r> (p25 | median | p75)']).toMatchObject({ p25: expect.closeTo(0.45, 5), p75: expect.closeTo(0.8, 5) });
    expect(by['well-lit <E,r> (p25 | median | p75)']['<E,r>']).toBeCloseTo(0.7, 5);
    expect(by["paper's thr"]['<E,r>']).toBe(0.9);
    tf.dispose([...imgs, residual.r, residual.vPos, residual.vNeg]);
  });
});

describe('metrics node: exposure statistics (no reference needed)', () => {
  it('clipped, dark, mean luma, local contrast and well-exposed contrast of a hand-made image; changes from the input', async () => {
    // 4×4, left half luma 1 (white: clipped), right half black (dark); one box radius k = max(1, round(4/64)) = 1.
    const pix = (x: number) => (x < 2 ? [1, 1, 1] : [0, 0, 0]);
    const after = tf.tidy(() => tf.tensor3d(Array.from({ length: 16 }, (_, i) => pix(i % 4)).flat(), [4, 4, 3]) as tf.Tensor3D);
    // Before: the same with the white half at 0.9 (not clipped, luma 0.9).
    const before = tf.tidy(() => tf.tensor3d(Array.from({ length: 16 }, (_, i) => (i % 4 < 2 ? [0.9, 0.9, 0.9] : [0, 0, 0])).flat(), [4, 4, 3]) as tf.Tensor3D);
    const { report } = await score({ images: batch(['x.png', after]), before: batch(['x.jpg', before]) });
    const row = report.rows[0];
    expect(row['clipped %']).toBeCloseTo(50, 6);
    expect(row['dark %']).toBeCloseTo(50, 6);
    expect(row['mean luma']).toBeCloseTo(0.5, 6);
    // Local std per column (3×3 box clipped at borders; rows do not matter): column 0 sees columns 0–1
    // (all 1): 0; column 1 sees 0–2: two thirds 1 → std sqrt(2/9); column 2 sees 1–3: one third 1 →
    // sqrt(2/9); column 3 sees 2–3: 0. Mean = sqrt(2)/6.
    const lc = Math.sqrt(2) / 6;
    expect(row['local contrast']).toBeCloseTo(lc, 6);
    expect(row['well-exposed contrast']).toBeCloseTo(0, 6); // nothing is neither blown nor crushed
    expect(row['Δ clipped %']).toBeCloseTo(50, 6);
    expect(row['newly clipped %']).toBeCloseTo(50, 6);
    expect(row['Δ dark %']).toBeCloseTo(0, 6);
    expect(row['contrast ratio']).toBeCloseTo(1 / 0.9, 5); // every std scales with the 0.9 → 1 step
    expect(report.title).toMatch(/^Metrics of 1 image\(s\): clipped\/dark %, local contrast; change from the input$/);
    tf.dispose([after, before]);
  });

  it('needs no other input, and fails on "before" when names or sizes do not pair', async () => {
    const a = constant(8, 8, [0.5, 0.5, 0.5]);
    const small = constant(6, 8, [0.5, 0.5, 0.5]);
    const { report } = await score({ images: batch(['a.png', a]) });
    expect(report.rows[0]).toMatchObject({ name: 'a.png', 'clipped %': 0, 'dark %': 0, 'mean luma': expect.closeTo(0.5, 6), 'local contrast': expect.closeTo(0, 6) });
    let e = await failure(score({ images: batch(['a.png', a]), before: batch(['b.png', a]) }));
    expect(e).toMatchObject({ field: 'before' });
    expect(e.message).toMatch(/No input image named like "a\.png"/);
    e = await failure(score({ images: batch(['a.png', a]), before: batch(['a.png', small]) }));
    expect(e.message).toMatch(/"a\.png" is 8×8 but its input "a\.png" is 8×6/);
    tf.dispose([a, small]);
  });
});

describe('metrics node: files and errors', () => {
  it('saveAs writes <name>.csv and <name>.json and lists them as written files', async () => {
    const a = constant(8, 8, [0.5, 0.5, 0.5]);
    const b = constant(8, 8, [0.4, 0.5, 0.6]);
    const { report, host } = await score({ images: batch(['p, "q".png', b]), groundTruth: batch(['p, "q".png', a]) }, { saveAs: 'eval' });
    expect([...host.written.keys()].sort()).toEqual(['eval.csv', 'eval.json']);
    const csv = new TextDecoder().decode(host.written.get('eval.csv'));
    expect(csv.split('\n')[0]).toBe('name,mean luma,clipped %,dark %,local contrast,well-exposed contrast,PSNR,SSIM,PSNR rgb,SSIM rgb');
    expect(csv.split('\n')[1].startsWith('"p, ""q"".png",')).toBe(true);
    expect(csv.split('\n')[2].startsWith('mean,')).toBe(true);
    const json = JSON.parse(new TextDecoder().decode(host.written.get('eval.json')));
    expect(json.rows[0].PSNR).toBe(report.rows[0].PSNR);
    expect(report.rows.slice(-2).map((r) => r.location)).toEqual(['memory:eval.csv', 'memory:eval.json']);
    expect(metrics.params.safeParse({ saveAs: '../x' }).success).toBe(false);
    tf.dispose([a, b]);
  });

  it('fails clearly on the field at fault', async () => {
    const a = constant(8, 8, [0.5, 0.5, 0.5]);
    const small = constant(6, 8, [0.5, 0.5, 0.5]);
    let e = await failure(score({ images: batch(['a.png', a], ['b.png', a]), groundTruth: batch(['a.jpg', a], ['c.jpg', a]) }));
    expect(e).toMatchObject({ field: 'groundTruth' });
    expect(e.message).toMatch(/No ground truth named like "b\.png"/);
    expect(e.fix).toMatch(/matched by file name/);
    e = await failure(score({ images: batch(['a.png', small]), groundTruth: batch(['a.png', a]) }));
    expect(e.field).toBe('groundTruth');
    expect(e.message).toMatch(/"a\.png" is 8×6 but its ground truth "a\.png" is 8×8/);
    const residual: ResidualValue = { kind: 'Residual', space: 'toy:rgb', r: tf.tensor1d([1, 0, 0]), vPos: tf.tensor1d([1, 0, 0]), vNeg: tf.tensor1d([0, 1, 0]), thr: 0.5 };
    e = await failure(score({ images: batch(['a.png', a]), residual }));
    expect(e.field).toBe('encoder');
    e = await failure(score({ images: batch(['a.png', a]), residual: { ...residual, space: 'stats:v1' }, encoder: meanColour }));
    expect(e.field).toBe('residual');
    expect(e.message).toMatch(/"stats:v1" but the encoder is "toy:rgb"/);
    e = await failure(score({ images: batch(['a.png', a]), residual: { ...residual, r: tf.tensor1d([1, 0]) }, encoder: meanColour }));
    expect(e.message).toMatch(/2 dimensions but the encoder's embeddings have 3/);
    tf.dispose([a, small, residual.r, residual.vPos, residual.vNeg]);
  });

  it('says LPIPS is not computed, and why', () => {
    expect(metrics.description).toMatch(/LPIPS is not computed/);
  });
});
