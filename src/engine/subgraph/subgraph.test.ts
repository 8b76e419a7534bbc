import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { Executor, type ExecutorEvent } from '../executor/executor';
import { CURRENT_GRAPH_VERSION, type Graph } from '../graph/model';
import { checkConnection } from '../connect/checkConnection';
import { loadGraph } from '../schema/loadGraph';
import { MemoryHost, pixelAt } from '../testing/memoryHost';
import { realNodeRegistry } from '../testing/realNodes';
import { useTestBackend } from '../../ml/testing';
import { expandSubgraphs, findNode, nodeSpec, subgraphPorts } from './subgraph';
import { groupNodes, pruneSubgraphs, subgraphsUsedBy, ungroupNode } from './group';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const registry = realNodeRegistry();
const read = (file: string): Graph => loadGraph(readFileSync(path.join(root, file), 'utf8'), registry).graph!;

function exampleGraphs(dir = 'graphs'): string[] {
  return readdirSync(path.join(root, dir)).flatMap((f) => {
    const rel = `${dir}/${f}`;
    if (statSync(path.join(root, rel)).isDirectory()) return exampleGraphs(rel);
    return f.endsWith('.json') ? [rel] : [];
  });
}

/** Nodes without positions and edges as sorted strings: what group → ungroup must give back. */
function shape(g: Graph) {
  return {
    nodes: g.nodes.map(({ position: _p, ...n }) => n).sort((a, b) => a.id.localeCompare(b.id)),
    edges: g.edges.map((e) => `${e.from.node}.${e.from.port}->${e.to.node}.${e.to.port}`).sort(),
  };
}

beforeAll(async () => {
  await useTestBackend('wasm');
});

describe('groupNodes / ungroupNode', () => {
  it('groups brighten into one node whose ports are the cut wires, named after the inner ports', () => {
    const g = read('graphs/brighten.json');
    const { graph: grouped, groupId, subgraphId } = groupNodes(g, ['brighten']);
    expect(groupId).toBe('group-1');
    expect(grouped.nodes.map((n) => n.id)).toEqual(['load', 'group-1', 'save']);
    expect(grouped.nodes[1]).toMatchObject({ type: 'subgraph', subgraph: subgraphId, position: { x: 380, y: 80 } });
    expect(grouped.edges).toEqual([
      { from: { node: 'load', port: 'images' }, to: { node: 'group-1', port: 'images' } },
      { from: { node: 'group-1', port: 'images' }, to: { node: 'save', port: 'images' } },
    ]);
    const def = grouped.subgraphs![0];
    expect(def.inputs).toEqual([{ name: 'images' }]);
    expect(def.outputs).toEqual([{ name: 'images' }]);
    expect(def.edges).toEqual([
      { from: { node: '@in', port: 'images' }, to: { node: 'brighten', port: 'images' } },
      { from: { node: 'brighten', port: 'images' }, to: { node: '@out', port: 'images' } },
    ]);
    const ports = subgraphPorts(grouped, def, registry);
    expect(ports.inputs).toEqual([{ name: 'images', label: 'Images', kind: 'ImageBatch', optional: false }]);
    expect(ports.outputs[0]).toMatchObject({ name: 'images', kind: 'ImageBatch' });
    // The input graph is untouched.
    expect(g.nodes.map((n) => n.id)).toEqual(['load', 'brighten', 'save']);
  });

  it('one outside source feeding two grouped nodes becomes one input; one inner source feeding two outside nodes one output', () => {
    const g = read('graphs/residual-vector.json');
    // encoder feeds both encode nodes; they are grouped together with the means.
    const { graph: grouped } = groupNodes(g, ['encode-well-lit', 'encode-backlit', 'v-pos', 'v-neg']);
    const def = grouped.subgraphs![0];
    const fromEncoder = grouped.edges.filter((e) => e.from.node === 'encoder');
    expect(fromEncoder).toHaveLength(1);
    const encoderPort = fromEncoder[0].to.port;
    expect(def.edges.filter((e) => e.from.node === '@in' && e.from.port === encoderPort).map((e) => e.to.node).sort()).toEqual(['encode-backlit', 'encode-well-lit']);
    // Two image inputs from different loaders get distinct names.
    expect(new Set(def.inputs.map((p) => p.name)).size).toBe(def.inputs.length);
    expect(def.inputs.map((p) => p.name)).toContain('images_2');
  });

  it.each(exampleGraphs())('group then ungroup gives back %s (modulo positions)', (file) => {
    const g = read(file);
    // The middle third of the nodes: cut wires on both sides.
    const ids = g.nodes.slice(Math.floor(g.nodes.length / 3), Math.max(Math.floor(g.nodes.length / 3) + 1, Math.floor((2 * g.nodes.length) / 3))).map((n) => n.id);
    const { graph: grouped, groupId } = groupNodes(g, ids);
    expect(loadGraph(JSON.parse(JSON.stringify(grouped)), registry).errors).toEqual([]);
    const back = pruneSubgraphs(ungroupNode(grouped, groupId).graph);
    expect(back.subgraphs).toBeUndefined();
    expect(shape(back)).toEqual(shape(g));
    // Not moved: positions come back exactly too.
    expect(back.nodes.map((n) => [n.id, n.position]).sort()).toEqual(g.nodes.map((n) => [n.id, n.position]).sort());
  });

  it.each(exampleGraphs())('the grouped %s expands to the original graph with namespaced ids', (file) => {
    const g = read(file);
    const ids = g.nodes.slice(1, -1).map((n) => n.id);
    const { graph: grouped, groupId } = groupNodes(g, ids);
    const { graph: flat, errors } = expandSubgraphs(grouped);
    expect(errors).toEqual([]);
    const strip = (id: string) => id.replace(`${groupId}/`, '');
    const renamed: Graph = { ...flat, nodes: flat.nodes.map((n) => ({ ...n, id: strip(n.id) })), edges: flat.edges.map((e) => ({ from: { ...e.from, node: strip(e.from.node) }, to: { ...e.to, node: strip(e.to.node) } })) };
    expect(shape(renamed)).toEqual(shape(g));
    expect(flat.nodes.filter((n) => n.id.startsWith(`${groupId}/`)).map((n) => n.id).sort()).toEqual(ids.map((id) => `${groupId}/${id}`).sort());
  });

  it('moving the group node moves the ungrouped nodes with it; taken ids are renamed', () => {
    const g = read('graphs/brighten.json');
    const { graph: grouped, groupId } = groupNodes(g, ['brighten']);
    const moved: Graph = { ...grouped, nodes: [...grouped.nodes.map((n) => (n.id === groupId ? { ...n, position: { x: 500, y: 300 } } : n)), { id: 'brighten', type: 'exposure', params: {}, position: { x: 0, y: 0 } }] };
    const { graph: back, nodeIds } = ungroupNode(moved, groupId);
    expect(nodeIds).toEqual(['brighten-1']);
    expect(back.nodes.find((n) => n.id === 'brighten-1')!.position).toEqual({ x: 500, y: 300 });
    expect(back.edges.map((e) => `${e.from.node}->${e.to.node}`)).toEqual(['load->brighten-1', 'brighten-1->save']);
  });

  it('nested groups expand with nested ids and ungroup level by level', () => {
    const g = read('graphs/residual-vector.json');
    const inner = groupNodes(g, ['v-pos', 'v-neg'], { groupId: 'means' });
    // Inside the outer group the inner one sits beside the encode nodes.
    const outer = groupNodes(inner.graph, ['encode-well-lit', 'encode-backlit', 'means'], { groupId: 'embed' });
    const { graph: flat, errors } = expandSubgraphs(outer.graph);
    expect(errors).toEqual([]);
    expect(flat.nodes.map((n) => n.id)).toEqual(expect.arrayContaining(['embed/means/v-pos', 'embed/means/v-neg', 'embed/encode-well-lit']));
    expect(flat.edges).toContainEqual({ from: { node: 'embed/means/v-pos', port: 'mean' }, to: { node: 'residual', port: 'wellLit' } });
    expect(loadGraph(JSON.parse(JSON.stringify(outer.graph)), registry).errors).toEqual([]);
    expect(findNode(outer.graph, 'embed/means/v-pos')?.type).toBe('mean-embedding');
    expect(subgraphsUsedBy(outer.graph, outer.graph.nodes.filter((n) => n.id === 'embed')).map((d) => d.id).sort()).toEqual([inner.subgraphId, outer.subgraphId].sort());
    const once = ungroupNode(outer.graph, 'embed').graph;
    const twice = pruneSubgraphs(ungroupNode(once, 'means').graph);
    expect(shape(twice)).toEqual(shape(g));
  });
});

describe('expandSubgraphs errors name the group node and field', () => {
  const grouped = () => groupNodes(read('graphs/brighten.json'), ['brighten']).graph;

  it('unknown definition', () => {
    const g = grouped();
    g.nodes[1] = { ...g.nodes[1], subgraph: 'nope' };
    const { errors } = loadGraph(JSON.parse(JSON.stringify(g)), registry);
    expect(errors[0]).toMatchObject({ code: 'subgraph-invalid', nodeId: 'group-1', field: 'subgraph' });
    expect(errors[0].message).toContain('"nope"');
    expect(errors[0].fix).toContain('subgraph-1');
  });

  it('a wire to a port the group does not have', () => {
    const g = grouped();
    g.edges[0] = { ...g.edges[0], to: { node: 'group-1', port: 'pictures' } };
    const { errors } = loadGraph(JSON.parse(JSON.stringify(g)), registry);
    expect(errors[0]).toMatchObject({ code: 'edge-unknown-port', nodeId: 'group-1', field: 'load.images → group-1.pictures' });
    expect(errors[0].message).toBe('Group "Subgraph" has no input "pictures" (inputs: images).');
  });

  it('a group that contains itself', () => {
    const g = grouped();
    const def = g.subgraphs![0];
    def.nodes.push({ id: 'again', type: 'subgraph', subgraph: def.id, params: {}, position: { x: 0, y: 0 } });
    const { errors } = loadGraph(JSON.parse(JSON.stringify(g)), registry);
    expect(errors.some((e) => e.code === 'subgraph-invalid' && e.nodeId === 'group-1/again' && e.message.includes('contains itself'))).toBe(true);
  });

  it('an output not wired inside', () => {
    const g = grouped();
    g.subgraphs![0].edges.pop();
    const { errors } = loadGraph(JSON.parse(JSON.stringify(g)), registry);
    expect(errors[0]).toMatchObject({ code: 'subgraph-invalid', nodeId: 'group-1', field: 'outputs.images' });
  });

  it('schema: a group node without "subgraph", a reserved inner id', () => {
    const g = JSON.parse(JSON.stringify(grouped()));
    delete g.nodes[1].subgraph;
    let [e] = loadGraph(g, registry).errors;
    expect(e).toMatchObject({ code: 'graph-shape', nodeId: 'group-1', field: 'nodes.1.subgraph' });
    expect(e.message).toContain('group node "group-1" names no subgraph definition');
    const h = JSON.parse(JSON.stringify(grouped()));
    h.subgraphs[0].nodes[0].id = '@in';
    [e] = loadGraph(h, registry).errors;
    expect(e).toMatchObject({ code: 'graph-shape', field: 'subgraphs.0.nodes.0.id' });
    expect(e.message).toContain('reserved');
  });

  it('an inner node error names the namespaced inner node', () => {
    const g = grouped();
    g.subgraphs![0].nodes[0].params = { stops: 'bright' };
    const { errors } = loadGraph(JSON.parse(JSON.stringify(g)), registry);
    expect(errors[0]).toMatchObject({ code: 'node-param-invalid', nodeId: 'group-1/brighten', field: 'stops' });
  });
});

describe('hostile subgraphs', () => {
  it('mutual recursion, fan-out nesting and dangling refs are reported, never thrown, and stay fast', () => {
    const def = (id: string, inner: string | undefined, copies: number) => ({
      id,
      name: id,
      inputs: [{ name: 'images' }],
      outputs: [{ name: 'images' }],
      nodes: inner
        ? Array.from({ length: copies }, (_, i) => ({ id: `n${i}`, type: 'subgraph', subgraph: inner, params: {}, position: { x: 0, y: 0 } }))
        : [{ id: 'e', type: 'exposure', params: {}, position: { x: 0, y: 0 } }],
      edges: (inner ? Array.from({ length: copies }, (_, i) => `n${i}`) : ['e']).flatMap((n) => [
        { from: { node: '@in', port: 'images' }, to: { node: n, port: 'images' } },
        { from: { node: n, port: 'images' }, to: { node: '@out', port: 'ghost' } },
      ]),
    });
    const top = (subgraphs: unknown[]) => ({ format: 'backlit-graph', version: 2, nodes: [{ id: 'g', type: 'subgraph', subgraph: 'd0', params: {}, position: { x: 0, y: 0 } }], edges: [{ from: { node: 'g', port: 'images' }, to: { node: 'g', port: 'nope' } }], subgraphs });
    // d0 → d1 → d0 …
    const mutual = top([def('d0', 'd1', 2), def('d1', 'd0', 2)]);
    // 10 copies per level, 12 levels: 10^12 nodes if expanded blindly.
    const fan = top(Array.from({ length: 12 }, (_, i) => def(`d${i}`, i < 11 ? `d${i + 1}` : undefined, 10)));
    const messages: string[][] = [];
    for (const g of [mutual, fan]) {
      const t0 = performance.now();
      const { graph, errors } = loadGraph(JSON.parse(JSON.stringify(g)), registry);
      expect(performance.now() - t0).toBeLessThan(15_000); // ~2 s here; exponential would be hours
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.length).toBeLessThan(50);
      for (const e of errors) expect(e.message.length).toBeGreaterThan(10);
      expect(() => nodeSpec(graph!, graph!.nodes[0], registry)).not.toThrow();
      messages.push(errors.map((e) => e.message));
    }
    expect(messages[0].some((m) => m.includes('contains itself'))).toBe(true);
    expect(messages[1].some((m) => m.includes('more than 100000 nodes'))).toBe(true);
  });
});

describe('wires to group nodes', () => {
  it('are typed like the inner ports', () => {
    const g = groupNodes(read('graphs/residual-vector.json'), ['v-pos', 'v-neg']).graph;
    const spec = nodeSpec(g, g.nodes.find((n) => n.id === 'group-1')!, registry)!;
    expect(Object.values(spec.inputs).map((p) => p.kind)).toEqual(['Embeddings', 'Embeddings']);
    const bad = checkConnection({ ...g, edges: g.edges.filter((e) => e.to.node !== 'group-1' || e.to.port !== 'embeddings') }, registry, { from: { node: 'well-lit', port: 'images' }, to: { node: 'group-1', port: 'embeddings' } });
    expect(bad).toMatchObject({ ok: false, code: 'kind-mismatch' });
    expect((bad as { reason: string }).reason).toContain('expects Embeddings');
  });
});

describe('format version 2', () => {
  it('a v1 graph migrates to v2 unchanged but for the version', () => {
    const raw = JSON.parse(readFileSync(path.join(root, 'graphs/brighten.json'), 'utf8'));
    expect(raw.version).toBe(1);
    const { graph, errors } = loadGraph(raw, registry);
    expect(errors).toEqual([]);
    expect(CURRENT_GRAPH_VERSION).toBe(2);
    expect(graph!.version).toBe(2);
    expect(graph!.subgraphs).toBeUndefined();
    expect(graph!.nodes.map((n) => n.id)).toEqual(['load', 'brighten', 'save']);
  });
});

describe('running a grouped graph', () => {
  it('gives the same pixels as the ungrouped graph; events, errors and run-to-here name inner nodes', async () => {
    const host = () => new MemoryHost().addImage('samples/pairs/imagemagick_bluebells_darker.jpg', 3, 2, () => [40, 20, 100]);
    const plain = read('graphs/brighten.json');
    const h1 = host();
    const e1 = new Executor(registry, h1);
    expect((await e1.run(plain)).ok).toBe(true);
    e1.dispose();

    const grouped = groupNodes(read('graphs/brighten.json'), ['brighten', 'save'], { groupId: 'g' }).graph;
    const h2 = host();
    const e2 = new Executor(registry, h2);
    const events: ExecutorEvent[] = [];
    const summary = await e2.run(grouped, { onEvent: (e) => events.push(e) });
    expect(summary.errors).toEqual([]);
    expect(Object.keys(summary.nodes).sort()).toEqual(['g/brighten', 'g/save', 'load']);
    expect(events.find((e) => e.type === 'run-start')).toMatchObject({ nodeIds: ['load', 'g/brighten', 'g/save'] });
    const key = 'brightened/imagemagick_bluebells_darker.png';
    expect(pixelAt(h2.readWritten(key), 2, 1)).toEqual(pixelAt(h1.readWritten(key), 2, 1));
    // A re-run is cached under the namespaced ids; run-to-here on the group runs its inside.
    const again = await e2.run(grouped, { targets: ['g'] });
    expect(Object.values(again.nodes).map((r) => r.status)).toEqual(['cached', 'cached', 'cached']);
    // An inner param error fails that inner node, named.
    grouped.subgraphs![0].nodes[0].params = { stops: 99 };
    const bad = await e2.run(grouped);
    expect(bad.nodes['g/brighten']).toMatchObject({ status: 'error', error: { nodeId: 'g/brighten', field: 'stops' } });
    e2.dispose();
  });

  it('grouping and ungrouping keep the cache: after prune, nothing is recomputed', async () => {
    const host = new MemoryHost().addImage('samples/pairs/imagemagick_bluebells_darker.jpg', 3, 2, () => [40, 20, 100]);
    const ex = new Executor(registry, host);
    const plain = read('graphs/brighten.json');
    plain.nodes[2].params = { ...plain.nodes[2].params, overwrite: true };
    expect((await ex.run(plain)).ok).toBe(true);
    const { graph: grouped, groupId } = groupNodes(plain, ['brighten', 'save'], { groupId: 'g' });
    ex.prune(grouped);
    const second = await ex.run(grouped);
    expect(Object.fromEntries(Object.entries(second.nodes).map(([id, r]) => [id, r.status]))).toEqual({ load: 'cached', 'g/brighten': 'cached', 'g/save': 'cached' });
    const back = ungroupNode(grouped, groupId).graph;
    ex.prune(back);
    expect(Object.values((await ex.run(back)).nodes).map((r) => r.status)).toEqual(['cached', 'cached', 'cached']);
    // A node deleted for good is still freed.
    ex.prune({ ...back, nodes: back.nodes.slice(0, 1), edges: [] });
    expect(ex.outputsOf('brighten')).toBeUndefined();
    ex.dispose();
  });
});
