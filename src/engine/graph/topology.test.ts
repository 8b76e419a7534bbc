import { describe, expect, it } from 'vitest';
import { pathExists, topologicalOrder, upstreamClosure } from './topology';
import { graph, node, wire } from '../testing/build';
import type { Graph } from './model';

const g = (ids: string[], edges: Array<[string, string]>): Graph =>
  graph(ids.map((id) => node(id, 't')), edges.map(([a, b]) => wire(`${a}.out`, `${b}.in`)));

/** Asserts `cycle` is a closed walk along real edges of `graph`. */
function expectRealCycle(graphValue: Graph, cycle: string[] | undefined) {
  expect(cycle).toBeDefined();
  expect(cycle!.length).toBeGreaterThanOrEqual(3);
  expect(cycle![0]).toBe(cycle![cycle!.length - 1]);
  for (let i = 0; i + 1 < cycle!.length; i++) {
    expect(graphValue.edges.some((e) => e.from.node === cycle![i] && e.to.node === cycle![i + 1]), `${cycle![i]} → ${cycle![i + 1]} is an edge`).toBe(true);
  }
}

describe('topologicalOrder', () => {
  it('puts every node after the nodes it depends on', () => {
    const gr = g(['out', 'mid2', 'mid1', 'src'], [['src', 'mid1'], ['src', 'mid2'], ['mid1', 'out'], ['mid2', 'out']]);
    const { order, cycle } = topologicalOrder(gr);
    expect(cycle).toBeUndefined();
    expect(order).toHaveLength(4);
    for (const e of gr.edges) expect(order.indexOf(e.from.node)).toBeLessThan(order.indexOf(e.to.node));
  });

  it('keeps file order among independent nodes (deterministic runs)', () => {
    expect(topologicalOrder(g(['c', 'a', 'b'], [])).order).toEqual(['c', 'a', 'b']);
    expect(topologicalOrder(g(['b', 'a', 'c'], [['a', 'c']])).order).toEqual(['b', 'a', 'c']);
  });

  it('copes with duplicate ids (validation reports them; ordering must not crash or invent a cycle)', () => {
    expect(topologicalOrder(g(['a', 'b', 'b'], [['a', 'b']]))).toEqual({ order: ['a', 'b'] });
    expect(topologicalOrder(g(['a', 'a'], []))).toEqual({ order: ['a'] });
  });

  it('ignores edges that name missing nodes', () => {
    expect(topologicalOrder(g(['a', 'b'], [['a', 'ghost'], ['ghost', 'b'], ['a', 'b']])).order).toEqual(['a', 'b']);
  });

  it('returns a three-node cycle as a closed path', () => {
    const gr = g(['a', 'b', 'c'], [['a', 'b'], ['b', 'c'], ['c', 'a']]);
    const { cycle } = topologicalOrder(gr);
    expectRealCycle(gr, cycle);
    expect(new Set(cycle)).toEqual(new Set(['a', 'b', 'c']));
  });

  it('returns only the cycle, not the nodes around it', () => {
    // src feeds the loop, sink hangs below it; sink is listed first (walking forwards from it finds no loop).
    const gr = g(['sink', 'src', 'x', 'y'], [['src', 'x'], ['x', 'y'], ['y', 'x'], ['y', 'sink']]);
    const { order, cycle } = topologicalOrder(gr);
    expect(order).toEqual(['src']);
    expectRealCycle(gr, cycle);
    expect(new Set(cycle)).toEqual(new Set(['x', 'y']));
  });

  it('finds a two-node cycle whatever the file order', () => {
    for (const ids of [['a', 'b', 'c'], ['c', 'b', 'a'], ['b', 'c', 'a']]) {
      const gr = g(ids, [['a', 'b'], ['b', 'a'], ['b', 'c']]);
      const { cycle } = topologicalOrder(gr);
      expectRealCycle(gr, cycle);
      expect(new Set(cycle)).toEqual(new Set(['a', 'b']));
    }
  });
});

describe('upstreamClosure', () => {
  const gr = g(['a', 'b', 'c', 'd', 'e'], [['a', 'b'], ['b', 'c'], ['d', 'c'], ['c', 'e']]);

  it('holds the targets and everything they depend on, nothing downstream or beside', () => {
    expect(upstreamClosure(gr, ['b'])).toEqual(new Set(['a', 'b']));
    expect(upstreamClosure(gr, ['c'])).toEqual(new Set(['a', 'b', 'c', 'd']));
    expect(upstreamClosure(gr, ['a'])).toEqual(new Set(['a']));
  });

  it('unions several targets', () => {
    expect(upstreamClosure(gr, ['b', 'd'])).toEqual(new Set(['a', 'b', 'd']));
    expect(upstreamClosure(gr, ['e'])).toEqual(new Set(['a', 'b', 'c', 'd', 'e']));
  });
});

describe('pathExists', () => {
  const gr = g(['a', 'b', 'c', 'd'], [['a', 'b'], ['b', 'c'], ['a', 'd']]);

  it('returns the path from → … → to when one exists', () => {
    expect(pathExists(gr, 'a', 'c')).toEqual(['a', 'b', 'c']);
    expect(pathExists(gr, 'a', 'd')).toEqual(['a', 'd']);
    expect(pathExists(gr, 'b', 'b')).toEqual(['b']);
  });

  it('returns undefined against the direction of the edges or between branches', () => {
    expect(pathExists(gr, 'c', 'a')).toBeUndefined();
    expect(pathExists(gr, 'd', 'c')).toBeUndefined();
  });

  it('returns a shortest path', () => {
    const diamond = g(['a', 'b', 'c', 'd'], [['a', 'b'], ['b', 'c'], ['c', 'd'], ['a', 'd']]);
    expect(pathExists(diamond, 'a', 'd')).toEqual(['a', 'd']);
  });
});
