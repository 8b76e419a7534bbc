import { describe, expect, it } from 'vitest';
import { loadGraph } from './loadGraph';
import { outputPathProblem } from './paths';
import { CURRENT_GRAPH_VERSION } from '../graph/model';
import { realNodeRegistry } from '../testing/realNodes';

/** Issue 15 regressions in graph loading and validation. */
const registry = realNodeRegistry();

function graphJson(nodes: unknown[], edges: unknown[] = [], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { format: 'backlit-graph', version: CURRENT_GRAPH_VERSION, meta: {}, nodes, edges, ...extra };
}
const loader = { id: 'load', type: 'image-loader', params: { source: 'a.png' } };
const save = (params: Record<string, unknown>) => ({ id: 'save', type: 'output', params });
const toSave = [{ from: { node: 'load', port: 'images' }, to: { node: 'save', port: 'images' } }];

describe('graph hardening (issue 15)', () => {
  it('validate refuses output params that would leave the output folder, naming node and field', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ suffix: '/../../../../x/victim', overwrite: true }, 'suffix'],
      [{ suffix: '..\\..\\victim' }, 'suffix'],
      [{ folder: '/etc' }, 'folder'],
      [{ folder: 'a/../../b' }, 'folder'],
    ];
    for (const [params, field] of cases) {
      const r = loadGraph(graphJson([loader, save(params)], toSave), registry);
      expect(r.errors.length, JSON.stringify(params)).toBeGreaterThan(0);
      expect(r.errors[0]).toMatchObject({ code: 'node-param-invalid', nodeId: 'save', field });
      expect(r.errors[0].message).toMatch(/output/);
    }
    expect(loadGraph(graphJson([loader, save({ folder: 'a/b', suffix: '-x' })], toSave), registry).errors).toEqual([]);
    expect(outputPathProblem('run.safetensors', 'file')).toBeUndefined();
    expect(outputPathProblem('..', 'file')).toMatch(/not a file name/);
    expect(outputPathProblem('a/b', 'file')).toMatch(/"\/"/);
  });

  it('refuses __proto__/constructor/prototype as node ids, param keys and nested keys', () => {
    const texts = [
      JSON.stringify(graphJson([{ ...loader, id: '__proto__' }])),
      JSON.stringify(graphJson([{ ...loader, id: 'constructor' }])),
      '{"format":"backlit-graph","version":1,"nodes":[{"id":"load","type":"image-loader","params":{"__proto__":{"source":"x"}}}],"edges":[]}',
      '{"format":"backlit-graph","version":1,"nodes":[{"id":"load","type":"image-loader","params":{"source":{"prototype":1}}}],"edges":[]}',
      JSON.stringify(graphJson([loader], [{ from: { node: 'load', port: 'images' }, to: { node: 'prototype', port: 'images' } }])),
    ];
    for (const text of texts) {
      const r = loadGraph(text, registry);
      expect(r.errors.length, text).toBeGreaterThan(0);
      expect(r.errors[0].message, text).toMatch(/__proto__|constructor|prototype/);
    }
  });

  it('reports 100k-deep nesting in a param and a v0 file with nodes:[null] by path, without a raw JS error', () => {
    const deep = `{"format":"backlit-graph","version":1,"nodes":[{"id":"load","type":"image-loader","params":{"source":${'['.repeat(100_000)}${']'.repeat(100_000)}}}],"edges":[]}`;
    const r = loadGraph(deep, registry);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatchObject({ code: 'graph-shape', nodeId: 'load' });
    expect(r.errors[0].message).toMatch(/nesting deeper than 64/);
    expect(r.errors[0].field!.length).toBeLessThan(200);

    const v0 = loadGraph('{"format":"backlit-graph","version":0,"nodes":[null],"links":[]}', registry);
    expect(v0.errors).toHaveLength(1);
    expect(v0.errors[0]).toMatchObject({ code: 'graph-shape', field: 'nodes.0' });
    expect(v0.errors[0].message).not.toMatch(/Cannot (destructure|read)/);
  });

  it('cuts a 1 MB param value in messages', () => {
    const big = 'x'.repeat(1_000_000);
    const errors = [
      ...loadGraph(graphJson([{ ...loader, params: { source: 'a.png', maxCount: big } }]), registry).errors,
      ...loadGraph(graphJson([{ id: 'b', type: 'exposure', params: { [big]: 1 } }]), registry).errors,
    ];
    expect(errors.length).toBe(2);
    for (const e of errors) {
      const text = `${e.message} ${e.fix} ${e.field}`;
      expect(text.length).toBeLessThan(1000);
      expect(text).toMatch(/…/);
    }
  });

  it('validates a 30k-node chain in linear time', () => {
    const n = 30_000;
    const nodes: unknown[] = [loader];
    const edges: unknown[] = [];
    let prev = 'load';
    for (let i = 0; i < n - 1; i++) {
      nodes.push({ id: `e${i}`, type: 'exposure', params: {} });
      edges.push({ from: { node: prev, port: 'images' }, to: { node: `e${i}`, port: 'images' } });
      prev = `e${i}`;
    }
    const text = JSON.stringify(graphJson(nodes, edges));
    const c0 = process.cpuUsage();
    const r = loadGraph(text, registry);
    const ms = cpuMs(c0);
    expect(r.errors).toEqual([]);
    // CPU time (not wall, which a loaded machine stretches): was 107 s (quadratic), now ~1.5 s.
    expect(ms).toBeLessThan(15_000);
  }, 60_000);
});

/** CPU milliseconds this process used since `start` (all threads; unaffected by other processes' load). */
function cpuMs(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}
