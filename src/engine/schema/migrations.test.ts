import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadGraph } from './loadGraph';
import { MIGRATIONS, migrateGraph } from './migrations';
import { CURRENT_GRAPH_VERSION } from '../graph/model';
import { Executor } from '../executor/executor';
import { MemoryHost, pixelAt } from '../testing/memoryHost';
import { realNodeRegistry } from '../testing/realNodes';
import { useTestBackend } from '../../ml/testing';

const fixturesDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const readFixture = (name: string) => readFileSync(path.join(fixturesDir, name), 'utf8');
const registry = realNodeRegistry();

beforeAll(async () => {
  await useTestBackend('wasm');
});

describe('graph migrations', () => {
  it('has one migration per format version, each going one step up', () => {
    expect(MIGRATIONS).toHaveLength(CURRENT_GRAPH_VERSION);
    MIGRATIONS.forEach((m, i) => {
      expect(m.to).toBe(i + 1);
      expect(m.why.length).toBeGreaterThan(10);
    });
  });

  it('v0 → v1 moves x/y into position and links into edges, keeping meta', () => {
    const v0 = JSON.parse(readFixture('v0-brighten.json'));
    const up = MIGRATIONS[0].up(v0);
    expect(up.version).toBe(1);
    expect(up).not.toHaveProperty('links');
    expect(up.edges).toEqual([
      { from: { node: 'load', port: 'images' }, to: { node: 'brighten', port: 'images' } },
      { from: { node: 'brighten', port: 'images' }, to: { node: 'save', port: 'images' } },
    ]);
    const nodes = up.nodes as Array<Record<string, unknown>>;
    expect(nodes[1]).toEqual({ id: 'brighten', type: 'exposure', params: { ev: 2, gamma: 1.4 }, position: { x: 320, y: 80 } });
    expect(up.meta).toEqual(v0.meta);
    // The input is not modified.
    expect(v0.links).toHaveLength(2);
  });

  it('v0 goes all the way up to the current version', () => {
    expect(migrateGraph(JSON.parse(readFixture('v0-brighten.json')), 0).version).toBe(CURRENT_GRAPH_VERSION);
  });

  it('v1 → v2 (subgraphs) only bumps the version: a v1 graph has no group nodes', () => {
    const v1 = JSON.parse(readFixture('v1-brighten.json'));
    expect(v1.version).toBe(1);
    expect(MIGRATIONS[1].up(v1)).toEqual({ ...v1, version: 2 });
  });

  it('loads the v2 fixture with a group node and runs nothing differently', () => {
    const { graph, errors } = loadGraph(readFixture('v2-brighten-grouped.json'), registry);
    expect(errors).toEqual([]);
    expect(graph!.nodes.find((n) => n.type === 'subgraph')).toMatchObject({ id: 'brighten-group', subgraph: 'brighten-block' });
    expect(graph!.subgraphs![0].nodes[0].params).toEqual({ stops: 1, gamma: 1.4 });
  });

  it('leaves a current graph alone', () => {
    const g = { format: 'backlit-graph', version: CURRENT_GRAPH_VERSION, nodes: [], edges: [] };
    expect(migrateGraph(g, CURRENT_GRAPH_VERSION)).toBe(g);
  });

  it('loads the v0 fixture as a current graph with node params migrated (ev → stops)', () => {
    const { graph, errors } = loadGraph(readFixture('v0-brighten.json'), registry);
    expect(errors).toEqual([]);
    expect(graph!.version).toBe(CURRENT_GRAPH_VERSION);
    const brighten = graph!.nodes.find((n) => n.id === 'brighten')!;
    expect(brighten.params).toEqual({ stops: 2, gamma: 1.4 });
    expect(brighten.version).toBe(1);
    expect(brighten.position).toEqual({ x: 320, y: 80 });
    expect(graph!.edges).toHaveLength(2);
  });

  it('runs the migrated v0 fixture with the migrated param in effect', async () => {
    const { graph } = loadGraph(readFixture('v0-brighten.json'), registry);
    const host = new MemoryHost().addImage('samples/pairs/imagemagick_bluebells_darker.jpg', 3, 2, () => [40, 20, 100]);
    const executor = new Executor(registry, host);
    const summary = await executor.run(graph!);
    expect(summary.errors).toEqual([]);
    expect(Object.fromEntries(Object.entries(summary.nodes).map(([id, r]) => [id, r.status]))).toEqual({ load: 'done', brighten: 'done', save: 'done' });
    const out = host.readWritten('brightened/imagemagick_bluebells_darker.png');
    expect([out.width, out.height]).toEqual([3, 2]);
    // stops 2 (from "ev") → ×4, then gamma 1.4; 100/255·4 > 1 clamps to 255.
    const expected = [40, 20].map((v) => Math.round(Math.min(1, (v / 255) * 4) ** (1 / 1.4) * 255));
    expect(pixelAt(out, 2, 1)).toEqual([...expected, 255, 255]);
    expect(expected).toEqual([183, 111]); // had "ev" been dropped (stops = default 1), these would be 111 and 68
    executor.dispose();
  });

  it('does not re-apply node migrations a node has already seen', () => {
    const g = {
      format: 'backlit-graph',
      version: 1,
      nodes: [{ id: 'b', type: 'exposure', version: 1, params: { ev: 2 } }],
      edges: [],
    };
    const [e] = loadGraph(g, registry).errors;
    expect(e).toMatchObject({ code: 'node-param-invalid', nodeId: 'b', field: 'ev' });
  });

  it('refuses a node saved with a newer node version than this release knows', () => {
    const g = {
      format: 'backlit-graph',
      version: 1,
      nodes: [{ id: 'b', type: 'exposure', version: 7, params: { stops: 1 } }],
      edges: [],
    };
    const { graph, errors } = loadGraph(g, registry);
    expect(graph).toBeDefined();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'node-version-newer', nodeId: 'b', nodeType: 'Exposure / Gamma', field: 'version' });
    expect(errors[0].message).toContain('node version 7');
    expect(errors[0].message).toContain('knows 1');
    expect(errors[0].fix).toMatch(/update/i);
    // Params are left untouched rather than half-migrated.
    expect(graph!.nodes[0].params).toEqual({ stops: 1 });
  });

  it('refuses a graph format version newer than this release with a clear message', () => {
    const v = CURRENT_GRAPH_VERSION + 1;
    const { graph, errors } = loadGraph(JSON.stringify({ format: 'backlit-graph', version: v, nodes: [], edges: [] }), registry);
    expect(graph).toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(errors[0].code).toBe('graph-version-newer');
    expect(errors[0].message).toBe(`The graph is format version ${v}, newer than this Backlit Studio understands (${CURRENT_GRAPH_VERSION}).`);
    expect(errors[0].fix).toBe('update Backlit Studio.');
  });

  describe('every shipped fixture keeps loading', () => {
    const files = readdirSync(fixturesDir).filter((f) => f.endsWith('.json'));
    it('has fixtures', () => expect(files.length).toBeGreaterThan(0));
    it.each(files)('%s', (file) => {
      const { graph, errors } = loadGraph(readFixture(file), registry);
      expect(errors).toEqual([]);
      expect(graph!.version).toBe(CURRENT_GRAPH_VERSION);
    });
  });
});
