import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { graphFromPng } from '../engine/schema/pngWorkflow';
import { runBacklit } from './testing';

/** Workflows inside PNGs, end to end through the real `backlit` command (as a user runs it). */

const cli = (...args: string[]) => runBacklit(args);

describe('backlit run photo.png', () => {
  it('Output PNGs carry the graph; running the PNG reruns that graph; a PNG without one is refused with the fix', async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'backlit-png-'));
    const first = await cli('run', 'graphs/brighten.json', '--out', path.join(tmp, 'a'), '--backend', 'wasm', '--quiet', '--set', 'brighten.stops=1.5');
    expect(first.code, first.stderr).toBe(0);
    const png = path.join(tmp, 'a', 'brightened', 'imagemagick_bluebells_darker.png');
    const embedded = JSON.parse(graphFromPng(new Uint8Array(await fs.readFile(png)))!);
    expect(embedded.nodes.map((n: { id: string }) => n.id)).toEqual(['load', 'brighten', 'save']);
    expect(embedded.nodes[1].params.stops).toBe(1.5); // the graph as run, --set included

    const again = await cli('run', png, '--out', path.join(tmp, 'b'), '--backend', 'wasm', '--quiet');
    expect(again.code, again.stderr).toBe(0);
    const rerun = await fs.readFile(path.join(tmp, 'b', 'brightened', 'imagemagick_bluebells_darker.png'));
    expect(graphFromPng(new Uint8Array(rerun))).toBe(graphFromPng(new Uint8Array(await fs.readFile(png))));

    const plain = path.join(tmp, 'plain.png');
    await fs.writeFile(plain, Buffer.from('89504e470d0a1a0a0000000049454e44ae426082', 'hex'));
    const refused = await cli('validate', plain);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/carries no Backlit Studio workflow.*use a PNG written by an Output node/s);
    await fs.rm(tmp, { recursive: true, force: true });
  }, 120_000);
});
