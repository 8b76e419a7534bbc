import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BacklitError, writeFileGroup } from '../engine';
import { MemoryHost } from '../engine/testing/memoryHost';
import { NodeHost } from './nodeHost';

/** Issue 15 regressions at the CLI host: path confinement, atomic claims, groups, header-first decode. */
let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'backlit-harden-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const bytes = (s: string) => new TextEncoder().encode(s);
const code = (c: string) => (e: unknown) => e instanceof BacklitError && e.info.code === c;

/** Every file under `dir` (relative paths), following no symlinks. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) if (!e.isDirectory()) out.push(path.relative(dir, path.join(e.parentPath, e.name)));
  return out.sort();
}

/** A PNG whose header claims width×height but whose pixel data is a few bytes: a decompression bomb's header. */
export function pngHeaderOnly(width: number, height: number): Uint8Array {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf: Uint8Array) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Uint8Array) => {
    const out = new Uint8Array(12 + data.length);
    const v = new DataView(out.buffer);
    v.setUint32(0, data.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(data, 8);
    v.setUint32(8 + data.length, crc(out.subarray(4, 8 + data.length)));
    return out;
  };
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const parts = [new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(new Uint8Array(1 + width * 3))), chunk('IEND', new Uint8Array())];
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return all;
}

describe('NodeHost hardening (issue 15)', () => {
  it('refuses names that climb out of the output folder (Output suffix "/../../../../x/victim"), also with overwrite', async () => {
    const outDir = path.join(tmp, 'a/out');
    const host = new NodeHost({ baseDirs: [], outDir });
    for (const overwrite of [false, true]) {
      await expect(host.writeFile('', 'img/../../../../x/victim.png', bytes('x'), { overwrite })).rejects.toSatisfy(code('path-outside-output'));
      await expect(host.writeFile('sub', '../../victim.png', bytes('x'), { overwrite })).rejects.toSatisfy(code('path-outside-output'));
      await expect(host.writeFile('/etc', 'victim.png', bytes('x'), { overwrite })).rejects.toSatisfy(code('path-outside-output'));
    }
    await expect(host.readFile('..', 'x')).rejects.toSatisfy(code('path-outside-output'));
    expect(await tree(tmp)).toEqual([]);
  });

  it('refuses a symlinked sub-folder that points outside, and one at the file itself; a link that stays inside is fine', async () => {
    const outDir = path.join(tmp, 'b/out');
    const victim = path.join(tmp, 'b/victim');
    await fs.mkdir(outDir, { recursive: true });
    await fs.mkdir(victim, { recursive: true });
    await fs.symlink(victim, path.join(outDir, 'escape'));
    await fs.mkdir(path.join(outDir, 'real'));
    await fs.symlink(path.join(outDir, 'real'), path.join(outDir, 'inner'));
    await fs.writeFile(path.join(victim, 'secret.safetensors'), 'secret');
    await fs.symlink(path.join(victim, 'secret.safetensors'), path.join(outDir, 'ckpt.safetensors'));
    const host = new NodeHost({ baseDirs: [], outDir });
    await expect(host.writeFile('escape', 'a.png', bytes('x'), { overwrite: true })).rejects.toSatisfy(code('path-outside-output'));
    await expect(host.writeFile('escape/deeper/still', 'a.png', bytes('x'), { overwrite: false })).rejects.toSatisfy(code('path-outside-output'));
    await expect(host.readFile('', 'ckpt.safetensors')).rejects.toSatisfy(code('path-outside-output'));
    await expect(host.writeFile('', 'ckpt.safetensors', bytes('x'), { overwrite: true })).rejects.toSatisfy(code('path-outside-output'));
    expect((await fs.readdir(victim)).sort()).toEqual(['secret.safetensors']);
    expect(await fs.readFile(path.join(victim, 'secret.safetensors'), 'utf8')).toBe('secret');
    const ok = await host.writeFile('inner', 'a.png', bytes('in'), { overwrite: false });
    expect(await fs.readFile(path.join(outDir, 'real/a.png'), 'utf8')).toBe('in');
    expect(ok.name).toBe('a.png');
  });

  it('claims names atomically: 12 concurrent writes of one name keep 12 files', async () => {
    const outDir = path.join(tmp, 'c/out');
    const hosts = Array.from({ length: 12 }, () => new NodeHost({ baseDirs: [], outDir }));
    const written = await Promise.all(hosts.map((h, i) => h.writeFile('', 'same.png', bytes(`run ${i}`), { overwrite: false })));
    const names = written.map((w) => w.name);
    expect(new Set(names).size).toBe(12);
    expect(await tree(outDir)).toEqual([...names].sort());
    for (let i = 0; i < 12; i++) expect(await fs.readFile(written[i].location, 'utf8')).toBe(`run ${i}`);
  });

  it('writes an export group under one stem, never half over an old export', async () => {
    const outDir = path.join(tmp, 'd/out');
    const host = new NodeHost({ baseDirs: [], outDir });
    const group = (tag: string) => [
      { rest: '.safetensors', bytes: bytes(`st ${tag}`) },
      { rest: '-tfjs/model.json', bytes: bytes(`mj ${tag}`) },
      { rest: '-tfjs/weights.bin', bytes: bytes(`wb ${tag}`) },
    ];
    const first = await host.writeGroup('', 'm', group('1'), { overwrite: false });
    expect(first.map((w) => w.name)).toEqual(['m.safetensors', 'm-tfjs/model.json', 'm-tfjs/weights.bin']);
    // Someone removed only the safetensors: the next export must not reuse the old tfjs folder.
    await fs.rm(path.join(outDir, 'm.safetensors'));
    const second = await host.writeGroup('', 'm', group('2'), { overwrite: false });
    expect(second.map((w) => w.name)).toEqual(['m-1.safetensors', 'm-1-tfjs/model.json', 'm-1-tfjs/weights.bin']);
    expect(await fs.readFile(path.join(outDir, 'm-tfjs/weights.bin'), 'utf8')).toBe('wb 1');
    expect(await tree(outDir)).toEqual(['m-1-tfjs/model.json', 'm-1-tfjs/weights.bin', 'm-1.safetensors', 'm-tfjs/model.json', 'm-tfjs/weights.bin']);
    // The engine helper falls back to check-then-write on hosts without writeGroup.
    const mem = new MemoryHost();
    await mem.writeFile('', 'k.csv', bytes('old'), { overwrite: false });
    const g = await writeFileGroup(mem, '', 'k', [{ rest: '.csv', bytes: bytes('a') }, { rest: '.json', bytes: bytes('b') }], { overwrite: false });
    expect(g.map((w) => w.name)).toEqual(['k-1.csv', 'k-1.json']);
  });

  it('refuses a decompression bomb from its header before decoding (16000² PNG of a few hundred bytes)', async () => {
    const host = new NodeHost({ baseDirs: [], outDir: tmp });
    const bomb = pngHeaderOnly(16000, 16000);
    expect(bomb.byteLength).toBeLessThan(200_000);
    const rss0 = process.memoryUsage().rss;
    const c0 = process.cpuUsage();
    await expect(host.decodeImage(bomb, 'bomb.png', { maxPixels: 50e6 })).rejects.toSatisfy(
      (e: unknown) => code('image-too-large')(e) && /bomb\.png is 16000×16000/.test((e as Error).message),
    );
    // Without a loader limit the host's own cap (16383², sharp's) still applies from the header.
    await expect(host.decodeImage(pngHeaderOnly(20000, 20000), 'huge.png')).rejects.toSatisfy(code('image-too-large'));
    expect(cpuMs(c0)).toBeLessThan(1500); // CPU time, not wall: steady on a loaded machine
    expect(process.memoryUsage().rss - rss0).toBeLessThan(200 * 2 ** 20);
  });
});

/** CPU milliseconds this process used since `start` (all threads; unaffected by other processes' load). */
function cpuMs(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}
