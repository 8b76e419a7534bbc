import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupNodes, loadGraph } from '../engine';
import { graphFromPng } from '../engine/schema/pngWorkflow';
import { realNodeRegistry } from '../engine/testing/realNodes';
import { REPO_ROOT } from './nodeHost';
import { runBacklit, type CliResult } from './testing';

/** `backlit` runs a grouped graph exactly like the graph it was grouped from (spawned as a user runs it). */

const registry = realNodeRegistry();
const cli = (...args: string[]) => runBacklit(args);
let tmp: string;

interface RunJson {
  ok: boolean;
  nodes: Record<string, { status: string }>;
  written: Record<string, Array<{ location: string }>>;
  values: Record<string, Record<string, unknown>>;
  errors: Array<{ nodeId?: string; field?: string }>;
}
const parse = (r: CliResult): RunJson => {
  try {
    return JSON.parse(r.stdout) as RunJson;
  } catch {
    throw new Error(`no JSON (exit ${r.code}): ${r.stderr}`);
  }
};
const pixels = async (file: string) => (await sharp(file).removeAlpha().raw().toBuffer()).toString('base64');

async function groupedCopy(example: string, ids: string[], name: string): Promise<string> {
  const graph = loadGraph(readFileSync(path.join(REPO_ROOT, example), 'utf8'), registry).graph!;
  const file = path.join(tmp, name);
  // Beside the example's folder paths: the copy lives in tmp, so sources resolve from the repo root (cwd).
  await fs.writeFile(file, JSON.stringify(groupNodes(graph, ids, { groupId: 'g', name: 'Grouped' }).graph, null, 2));
  return file;
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'backlit-subgraphs-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('backlit and grouped graphs', () => {
  it('brighten grouped gives the same pixels as brighten; --set reaches inside a group; the PNG keeps the group', async () => {
    const grouped = await groupedCopy('graphs/brighten.json', ['brighten', 'save'], 'brighten-grouped.json');
    const [plain, inGroup] = await Promise.all([
      cli('run', 'graphs/brighten.json', '--out', path.join(tmp, 'plain'), '--backend', 'wasm', '--json', '--quiet', '--set', 'brighten.stops=1.5'),
      cli('run', grouped, '--out', path.join(tmp, 'grouped'), '--backend', 'wasm', '--json', '--quiet', '--set', 'g/brighten.stops=1.5'),
    ]);
    const a = parse(plain);
    const b = parse(inGroup);
    expect(a.ok, plain.stderr).toBe(true);
    expect(b.ok, inGroup.stderr).toBe(true);
    expect(Object.keys(b.nodes).sort()).toEqual(['g/brighten', 'g/save', 'load']);
    expect(b.written['g/save']).toHaveLength(1);
    expect(await pixels(b.written['g/save'][0].location)).toBe(await pixels(a.written.save[0].location));
    // The workflow in the PNG is the grouped graph, with the --set value inside the definition.
    const embedded = JSON.parse(graphFromPng(new Uint8Array(await fs.readFile(b.written['g/save'][0].location)))!);
    expect(embedded.nodes.map((n: { id: string }) => n.id)).toEqual(['load', 'g']);
    expect(embedded.subgraphs[0].nodes[0].params.stops).toBe(1.5);
  }, 120_000);

  it('residual vector grouped gives the same residual numbers', async () => {
    const grouped = await groupedCopy('graphs/residual-vector.json', ['encode-well-lit', 'encode-backlit', 'v-pos', 'v-neg'], 'residual-grouped.json');
    const [plain, inGroup] = await Promise.all([
      cli('run', 'graphs/residual-vector.json', '--out', path.join(tmp, 'rv-plain'), '--backend', 'wasm', '--json', '--quiet'),
      cli('run', grouped, '--out', path.join(tmp, 'rv-grouped'), '--backend', 'wasm', '--json', '--quiet'),
    ]);
    const a = parse(plain);
    const b = parse(inGroup);
    expect(a.ok, plain.stderr).toBe(true);
    expect(b.ok, inGroup.stderr).toBe(true);
    expect(b.values.residual).toEqual(a.values.residual);
    expect(b.values['g/v-pos']).toEqual(a.values['v-pos']);
  }, 300_000);

  it('validate reports group problems naming the group node and field; ok lists groups', async () => {
    const grouped = await groupedCopy('graphs/brighten.json', ['brighten'], 'ok.json');
    const ok = await cli('validate', grouped);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('ok (3 nodes, 2 wires, 1 group node(s) over 3 nodes inside and out)');
    const g = JSON.parse(await fs.readFile(grouped, 'utf8'));
    g.nodes[1].subgraph = 'missing';
    await fs.writeFile(path.join(tmp, 'bad.json'), JSON.stringify(g));
    const refused = await cli('validate', path.join(tmp, 'bad.json'));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('node "g" (Group), field "subgraph": Group "g" names the subgraph "missing", which this graph does not define. Fix: add a definition with id "missing" to "subgraphs", or point "subgraph" at one of: subgraph-1.');
  }, 60_000);
});
