/**
 * Streaming batches: a folder streams through the per-image part of a graph in chunks, so peak
 * memory follows the chunk size, not the folder size. Measured on the real CLI process (VmHWM).
 * Exposure is the per-image node here: Enhance runs at ~4 images/s on this 2-core machine (with
 * the stats encoder), too slow for 2,000 images in CI; both go through the same BatchRunner path.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchGraph, cli, listOutputs, makeImages } from './batchFixtures';

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'backlit-stream-'));
  await makeImages(path.join(tmp, 'big'), 2000);
  // The first 200 of the same images, for the small run.
  await fs.mkdir(path.join(tmp, 'small'));
  for (const sub of ['a', 'b/c']) {
    await fs.mkdir(path.join(tmp, 'small', sub), { recursive: true });
  }
  for (let i = 0; i < 200; i++) {
    const rel = `${['a', 'b/c'][i % 2]}/img-${String(i).padStart(5, '0')}.png`;
    await fs.copyFile(path.join(tmp, 'big', rel), path.join(tmp, 'small', rel));
  }
}, 180_000);
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

interface Run {
  ok: boolean;
  batch: { images: number; processed: number; resumedImages: number; failed: number; failures: Array<{ name: string; message: string }>; writtenCounts: Record<string, number> };
}

describe('streaming batch (backlit run on a folder)', () => {
  it('2,000 images stream with flat peak RSS (vs 200), mirror sub-folders, and a re-run resumes', async () => {
    const runOf = async (name: string) => {
      const graph = path.join(tmp, `${name}.json`);
      await fs.writeFile(graph, JSON.stringify(batchGraph({ source: path.join(tmp, name), op: 'exposure', chunkSize: 16 })));
      const r = await cli(['run', graph, '--out', path.join(tmp, `out-${name}`), '--json', '--quiet']);
      expect(r.code, r.stderr).toBe(0);
      return { r, json: JSON.parse(r.stdout) as Run };
    };
    const small = await runOf('small');
    const big = await runOf('big');
    console.log(`peak RSS: 200 images ${small.r.peakRssMiB.toFixed(0)} MiB (${small.r.ms} ms), 2,000 images ${big.r.peakRssMiB.toFixed(0)} MiB (${big.r.ms} ms)`);
    expect(small.json.batch.images).toBe(200);
    expect(big.json.batch.images).toBe(2000);
    expect(big.json.batch.writtenCounts.save).toBe(2000);
    expect(small.r.peakRssMiB).toBeGreaterThan(50);
    // Flat: 10× the images may not cost more than 25% more peak memory (a whole-folder load of
    // 2,000 32×32 images would hold ~25 MiB of float tensors more, plus their PNG bytes and JS objects).
    expect(big.r.peakRssMiB).toBeLessThan(small.r.peakRssMiB * 1.25);

    // Output mirrors the relative sub-folders; the same bytes as a plain run would write.
    const outs = await listOutputs(path.join(tmp, 'out-small'));
    expect(outs.filter((f) => f.endsWith('.png'))).toHaveLength(200);
    expect(outs).toContain(path.join('out', 'b', 'c', 'img-00001.png'));
    const meta = await sharp(path.join(tmp, 'out-small', 'out', 'a', 'img-00000.png')).metadata();
    expect([meta.width, meta.height]).toEqual([32, 32]);

    // Re-run: every chunk's outputs still hash the same, so nothing is recomputed and nothing is duplicated.
    const again = await runOf('small');
    expect(again.json.batch.resumedImages).toBe(200);
    expect(again.json.batch.processed).toBe(0);
    expect(await listOutputs(path.join(tmp, 'out-small'))).toEqual(outs);

    // A changed output is redone (content hash differs), the rest resume.
    await fs.writeFile(path.join(tmp, 'out-small', 'out', 'a', 'img-00000.png'), 'corrupted');
    const repaired = await runOf('small');
    expect(repaired.json.batch.processed).toBe(16);
    expect(repaired.json.batch.resumedImages).toBe(184);
    const fixed = await sharp(path.join(tmp, 'out-small', 'out', 'a', 'img-00000.png')).metadata();
    expect(fixed.width).toBe(32);
  }, 420_000);

  it('a broken image is reported and skipped; the rest of its chunk still runs', async () => {
    const dir = path.join(tmp, 'broken');
    await makeImages(dir, 10, 16, ['x']);
    await fs.writeFile(path.join(dir, 'x', 'img-00003.png'), 'not a png');
    const graph = path.join(tmp, 'broken.json');
    await fs.writeFile(graph, JSON.stringify(batchGraph({ source: dir, op: 'exposure', chunkSize: 4 })));
    const r = await cli(['run', graph, '--out', path.join(tmp, 'out-broken'), '--json', '--quiet']);
    const json = JSON.parse(r.stdout) as Run;
    expect(json.batch.failed).toBe(1);
    expect(json.batch.failures[0].name).toBe('x/img-00003.png');
    expect(r.stderr).toMatch(/skipped x\/img-00003\.png/);
    expect(json.batch.writtenCounts.save).toBe(9);
  }, 180_000);

  it('refuses a graph whose streamed images reach a whole-set node, naming it and the fix', async () => {
    const g = batchGraph({ source: path.join(tmp, 'small'), op: 'exposure' }) as { nodes: object[]; edges: object[] };
    g.nodes.push({ id: 'bl', type: 'synthetic-backlight', params: {}, position: { x: 0, y: 0 } });
    g.edges.push({ from: { node: 'op', port: 'images' }, to: { node: 'bl', port: 'images' } });
    const graph = path.join(tmp, 'refused.json');
    await fs.writeFile(graph, JSON.stringify(g));
    const r = await cli(['run', graph, '--out', path.join(tmp, 'out-refused'), '--quiet']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bl.*whole image set/i);
    expect(r.stderr).toMatch(/per-image nodes/);
  }, 180_000);
});
