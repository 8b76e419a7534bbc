import { describe, expect, it } from 'vitest';
import { groupNodes, type Graph } from '../engine';
import { canvasToDefinition, freePortName, groupRunSummary, innerTitle, levelToCanvas, mergeDefinitions } from './subgraphs';

const g: Graph = {
  format: 'backlit-graph',
  version: 2,
  meta: {},
  nodes: [
    { id: 'load', type: 'image-loader', params: {}, position: { x: 0, y: 0 } },
    { id: 'a', type: 'exposure', params: { stops: 1 }, position: { x: 300, y: 0 } },
    { id: 'b', type: 'exposure', params: { stops: 2 }, position: { x: 600, y: 0 } },
    { id: 'save', type: 'output', params: {}, position: { x: 900, y: 0 } },
  ],
  edges: [
    { from: { node: 'load', port: 'images' }, to: { node: 'a', port: 'images' } },
    { from: { node: 'a', port: 'images' }, to: { node: 'b', port: 'images' } },
    { from: { node: 'b', port: 'images' }, to: { node: 'save', port: 'images' } },
  ],
};

describe('an open group on the canvas', () => {
  const grouped = groupNodes(g, ['a', 'b'], { groupId: 'grp' }).graph;
  const def = grouped.subgraphs![0];

  it('shows inner nodes under expanded ids, with the two port nodes', () => {
    const canvas = levelToCanvas({ nodes: def.nodes, edges: def.edges, meta: def.meta ?? {} }, 'grp/', def);
    expect(canvas.nodes.map((n) => n.id)).toEqual(['grp/@in', 'grp/a', 'grp/b', 'grp/@out']);
    expect(canvas.nodes[0]).toMatchObject({ type: 'group-io', deletable: false, data: { io: 'input' } });
    expect(canvas.edges.map((e) => e.id)).toEqual(['grp/@in.images->grp/a.images', 'grp/a.images->grp/b.images', 'grp/b.images->grp/@out.images']);
  });

  it('folds back into the same definition; a wire from "+"-named ports adds a port', () => {
    const canvas = levelToCanvas({ nodes: def.nodes, edges: def.edges, meta: def.meta ?? {} }, 'grp/', def);
    expect(canvasToDefinition(canvas.nodes, canvas.edges, 'grp/', def)).toEqual(def);
    const edges = [...canvas.edges, { id: 'x', source: 'grp/a', sourceHandle: 'images', target: 'grp/@out', targetHandle: 'images_2' }];
    const more = canvasToDefinition(canvas.nodes, edges, 'grp/', def);
    expect(more.outputs).toEqual([{ name: 'images' }, { name: 'images_2' }]);
  });
});

describe('helpers', () => {
  it('progress of a running group: finished nodes plus the running one\'s fraction', () => {
    const s = groupRunSummary(
      {
        load: { status: 'done' },
        'grp/a': { status: 'done' },
        'grp/b': { status: 'running', progress: { step: 1, total: 4, message: 'step 1' } },
        'grp/c': { status: 'queued' },
        'grp/d': { status: 'queued' },
      },
      'grp',
    );
    expect(s).toEqual({ status: 'running', finished: 1, total: 4, runningId: 'grp/b', fraction: (1 + 0.25) / 4, message: 'step 1' });
    expect(groupRunSummary({ 'grp/a': { status: 'cached' }, 'grp/b': { status: 'done' } }, 'grp').status).toBe('done');
    expect(groupRunSummary({ 'grp/a': { status: 'error' }, 'grp/b': { status: 'blocked' } }, 'grp').status).toBe('error');
    expect(groupRunSummary({ 'grpx/a': { status: 'done' } }, 'grp')).toEqual({ finished: 0, total: 0, fraction: 0 });
  });

  it('names: free port names, inner titles through nested groups, pasted definitions renamed only on a clash', () => {
    expect(freePortName('images', ['images', 'images_2'])).toBe('images_3');
    const inner = groupNodes(g, ['a'], { groupId: 'in', subgraphId: 'inner' }).graph;
    const outer = groupNodes(inner, ['in', 'b'], { groupId: 'out', subgraphId: 'outer' }).graph;
    expect(innerTitle(outer.subgraphs!, 'outer', 'in/a', (t) => (t === 'exposure' ? 'Exposure / Gamma' : undefined))).toBe('Exposure / Gamma');
    expect(innerTitle(outer.subgraphs!, 'outer', 'in', () => undefined)).toBe('Subgraph');
    const same = mergeDefinitions(outer.subgraphs!, outer.subgraphs!);
    expect(same.merged).toHaveLength(2);
    const changed = outer.subgraphs!.map((d) => (d.id === 'inner' ? { ...d, name: 'Other' } : d));
    const clash = mergeDefinitions(outer.subgraphs!, changed);
    // The changed inner definition is renamed, and so is the outer one holding it.
    expect(clash.rename).toEqual(new Map([['inner', 'inner-2'], ['outer', 'outer-2']]));
    expect(clash.merged.map((d) => d.id)).toEqual(['inner', 'outer', 'inner-2', 'outer-2']);
    expect(clash.merged[3].nodes.find((n) => n.id === 'in')!.subgraph).toBe('inner-2');
  });
});
