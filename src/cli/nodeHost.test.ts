import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BacklitError } from '../engine';
import { NodeHost, REPO_ROOT } from './nodeHost';

let tmp: string;

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'backlit-host-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('NodeHost', () => {
  it('resolves a file, a folder and a glob, relative to its base folders and then the bundled samples', async () => {
    const host = new NodeHost({ baseDirs: [tmp], outDir: path.join(tmp, 'out') });
    const folder = await host.listImageFiles('samples/well-lit');
    expect(folder.length).toBeGreaterThanOrEqual(3);
    expect(folder.map((f) => f.name)).toEqual([...folder.map((f) => f.name)].sort());
    expect((await host.listImageFiles('samples/well-lit/skimage_*.jpg')).every((f) => f.name.startsWith('skimage_'))).toBe(true);
    const [one] = await host.listImageFiles('samples/pairs/imagemagick_bluebells_darker.jpg');
    expect(one.name).toBe('imagemagick_bluebells_darker.jpg');
    expect((await one.read()).byteLength).toBeGreaterThan(1000);
    expect(await host.listImageFiles('samples/nowhere/*')).toEqual([]);
    // A file in the first base folder wins over the samples.
    await fs.mkdir(path.join(tmp, 'mine'), { recursive: true });
    await fs.copyFile(path.join(REPO_ROOT, 'public/samples/pairs/imagemagick_bluebells_darker.jpg'), path.join(tmp, 'mine/x.jpg'));
    await fs.writeFile(path.join(tmp, 'mine/notes.txt'), 'not an image');
    // Every visible file is listed, so the Image Loader can warn about the ones it skips, with why.
    const listed = await host.listImageFiles('mine');
    expect(listed.map((f) => f.name)).toEqual(['notes.txt', 'x.jpg']);
    await expect(listed[0].read()).rejects.toThrow(/not an image type this loader reads \(\.txt;/);
  });

  it('decodes a JPEG to RGBA and refuses garbage with image-unreadable', async () => {
    const host = new NodeHost({ baseDirs: [], outDir: tmp });
    const [file] = await host.listImageFiles('samples/pairs/imagemagick_bluebells_darker.jpg');
    const img = await host.decodeImage(await file.read(), file.name);
    expect(img.width).toBeGreaterThan(0);
    expect(img.data.byteLength).toBe(img.width * img.height * 4);
    await expect(host.decodeImage(new Uint8Array([1, 2, 3]), 'junk.png')).rejects.toSatisfy(
      (e: unknown) => e instanceof BacklitError && e.info.code === 'image-unreadable' && e.message.includes('junk.png'),
    );
  });

  it('never overwrites unless asked, and refuses folders outside the output root', async () => {
    const outDir = path.join(tmp, 'out');
    const host = new NodeHost({ baseDirs: [], outDir });
    const bytes = (s: string) => new TextEncoder().encode(s);
    const a = await host.writeFile('sub', 'a.png', bytes('one'), { overwrite: false });
    const b = await host.writeFile('sub', 'a.png', bytes('two'), { overwrite: false });
    expect([a.name, b.name, b.renamedFrom]).toEqual(['a.png', 'a-1.png', 'a.png']);
    expect(await fs.readFile(path.join(outDir, 'sub/a.png'), 'utf8')).toBe('one');
    const c = await host.writeFile('sub', 'a.png', bytes('three'), { overwrite: true });
    expect([c.name, c.renamedFrom]).toEqual(['a.png', undefined]);
    expect(await fs.readFile(path.join(outDir, 'sub/a.png'), 'utf8')).toBe('three');
    expect((await fs.readdir(path.join(outDir, 'sub'))).sort()).toEqual(['a-1.png', 'a.png']); // no temp files left

    await expect(host.writeFile(`${outDir}-evil`, 'x.png', bytes('x'), { overwrite: false })).rejects.toThrow(/leaves the output folder/);
    await expect(host.writeFile('/elsewhere', 'x.png', bytes('x'), { overwrite: false })).rejects.toThrow(/leaves the output folder/);
    await expect(fs.stat(`${outDir}-evil`)).rejects.toThrow();
    expect((await host.writeFile('', 'top.png', bytes('t'), { overwrite: false })).location).toBe(path.join(outDir, 'top.png'));
  });

  it('changes the fingerprint when a file behind the source changes', async () => {
    await fs.mkdir(path.join(tmp, 'fp'), { recursive: true });
    const file = path.join(tmp, 'fp/a.png');
    await fs.writeFile(file, 'v1');
    const host = new NodeHost({ baseDirs: [tmp], outDir: tmp });
    const first = await host.fingerprint('fp');
    expect(await host.fingerprint('fp')).toBe(first);
    await fs.writeFile(file, 'version 2');
    expect(await host.fingerprint('fp')).not.toBe(first);
  });
});
