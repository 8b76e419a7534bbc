import { describe, expect, it } from 'vitest';
import { loadGraph, requireGraph, validateGraph, closest } from './loadGraph';
import { BacklitError, type ErrorCode, type ErrorInfo } from '../errors/BacklitError';
import { CURRENT_GRAPH_VERSION } from '../graph/model';
import { realNodeRegistry } from '../testing/realNodes';

const registry = realNodeRegistry();

/** A valid current-format graph (the shape of graphs/brighten.json); tests break one thing at a time. */
function good(): Record<string, any> {
  return {
    format: 'backlit-graph',
    version: CURRENT_GRAPH_VERSION,
    meta: { name: 'test' },
    nodes: [
      { id: 'load', type: 'image-loader', params: { source: 'a.png' }, position: { x: 0, y: 0 } },
      { id: 'brighten', type: 'exposure', params: { stops: 1, gamma: 1.4 }, position: { x: 1, y: 0 } },
      { id: 'save', type: 'output', params: { folder: 'out' }, position: { x: 2, y: 0 } },
    ],
    edges: [
      { from: { node: 'load', port: 'images' }, to: { node: 'brighten', port: 'images' } },
      { from: { node: 'brighten', port: 'images' }, to: { node: 'save', port: 'images' } },
    ],
  };
}

function onlyError(input: unknown, code: ErrorCode): ErrorInfo {
  const result = loadGraph(input, registry);
  expect(result.errors.map((e) => e.code)).toEqual([code]);
  const [e] = result.errors;
  expect(e.message.length).toBeGreaterThan(10);
  expect(e.fix.length).toBeGreaterThan(5);
  return e;
}

describe('loadGraph: whole-file problems', () => {
  it('accepts the good graph, as text and parsed', () => {
    for (const input of [good(), JSON.stringify(good())]) {
      const r = loadGraph(input, registry);
      expect(r.errors).toEqual([]);
      expect(r.graph!.nodes.map((n) => n.id)).toEqual(['load', 'brighten', 'save']);
      expect(r.graph!.edges).toHaveLength(2);
    }
  });

  it('refuses truncated JSON text (graph-not-json) and returns no graph', () => {
    const text = JSON.stringify(good(), null, 2);
    const r = loadGraph(text.slice(0, Math.floor(text.length / 2)), registry);
    expect(r.graph).toBeUndefined();
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0].code).toBe('graph-not-json');
    expect(r.errors[0].message).toMatch(/not valid JSON/);
    expect(r.errors[0].fix).toMatch(/truncated/);
  });

  it('refuses JSON that is not one object (graph-not-object)', () => {
    for (const input of ['[1,2]', '"hello"', 'null', '42']) {
      expect(loadGraph(input, registry).graph).toBeUndefined();
      onlyError(input, 'graph-not-object');
    }
  });

  it('refuses another format (graph-format, field "format")', () => {
    const e = onlyError({ ...good(), format: 'litegraph' }, 'graph-format');
    expect(e.field).toBe('format');
    expect(e.message).toContain('"litegraph"');
    const missing = good();
    delete missing.format;
    expect(onlyError(missing, 'graph-format').message).toContain('undefined');
  });

  it('refuses a missing, fractional, string or negative version (graph-version-invalid, field "version")', () => {
    for (const version of [undefined, 1.5, '1', -1]) {
      const e = onlyError({ ...good(), version }, 'graph-version-invalid');
      expect(e.field).toBe('version');
      expect(e.fix).toContain(String(CURRENT_GRAPH_VERSION));
    }
  });

  it('refuses a newer version with a clear message (graph-version-newer)', () => {
    const newer = CURRENT_GRAPH_VERSION + 1;
    const r = loadGraph({ ...good(), version: newer }, registry);
    expect(r.graph).toBeUndefined();
    const e = onlyError({ ...good(), version: newer }, 'graph-version-newer');
    expect(e.field).toBe('version');
    expect(e.message).toContain(`version ${newer}`);
    expect(e.message).toContain(`(${CURRENT_GRAPH_VERSION})`);
    expect(e.message).toMatch(/newer/);
    expect(e.fix).toMatch(/update/i);
  });

  it('refuses a wrongly shaped graph with the JSON path (graph-shape)', () => {
    expect(onlyError({ ...good(), nodes: 'all of them' }, 'graph-shape').field).toBe('nodes');
    const noType = good();
    delete noType.nodes[1].type;
    const e = onlyError(noType, 'graph-shape');
    expect(e.field).toBe('nodes.1.type');
    expect(e.message).toContain('nodes.1.type');
    const badEdge = good();
    badEdge.edges[0].to = { node: 'brighten' };
    expect(onlyError(badEdge, 'graph-shape').field).toBe('edges.0.to.port');
  });

  it('fills defaults for optional fields (position, params, edges, meta)', () => {
    const r = loadGraph({ format: 'backlit-graph', version: 1, nodes: [{ id: 'b', type: 'exposure' }] }, registry);
    expect(r.errors).toEqual([]);
    expect(r.graph!.nodes[0].position).toEqual({ x: 0, y: 0 });
    expect(r.graph!.edges).toEqual([]);
    expect(r.graph!.meta).toEqual({});
  });
});

describe('loadGraph: node, param and edge problems', () => {
  it('refuses an unknown node type and suggests the nearest one', () => {
    const g = good();
    g.nodes[1].type = 'exposre';
    const r = loadGraph(g, registry);
    expect(r.graph).toBeDefined(); // the rest of the graph is still shown
    const e = r.errors.find((x) => x.code === 'node-unknown-type')!;
    expect(e).toMatchObject({ nodeId: 'brighten', field: 'type' });
    expect(e.message).toContain('"exposre"');
    expect(e.fix).toContain('did you mean "exposure"');
  });

  it('gives no suggestion for a type that is nothing like a known one', () => {
    const g = good();
    g.nodes[1].type = 'quantum-denoiser';
    const e = loadGraph(g, registry).errors.find((x) => x.code === 'node-unknown-type')!;
    expect(e.fix).not.toContain('did you mean');
    expect(e.fix).toContain('backlit nodes');
  });

  it('refuses an edge whose node is missing (edge-dangling-node), naming the wire', () => {
    const g = good();
    g.edges.push({ from: { node: 'ghost', port: 'images' }, to: { node: 'save', port: 'images' } });
    const errors = loadGraph(g, registry).errors;
    expect(errors).toHaveLength(1);
    expect(errors[0].code).toBe('edge-dangling-node');
    expect(errors[0].field).toBe('ghost.images → save.images');
    expect(errors[0].message).toContain('"ghost"');
  });

  it('refuses an edge to a port that does not exist (edge-unknown-port)', () => {
    const g = good();
    g.edges[1].to.port = 'pictures';
    const [e] = loadGraph(g, registry).errors;
    expect(e.code).toBe('edge-unknown-port');
    expect(e.nodeId).toBe('save');
    expect(e.field).toBe('brighten.images → save.pictures');
    expect(e.message).toContain('"pictures"');
    expect(e.message).toContain('inputs: images');
  });

  it('refuses a wire between different kinds (edge-refused)', () => {
    const g = good();
    g.edges[1] = { from: { node: 'save', port: 'files' }, to: { node: 'brighten', port: 'images' } };
    g.edges.splice(0, 1); // keep brighten.images free so only the kind is wrong
    const [e] = loadGraph(g, registry).errors;
    expect(e.code).toBe('edge-refused');
    expect(e.message).toContain('Report');
    expect(e.message).toContain('ImageBatch');
  });

  it('refuses a graph with a cycle and names it', () => {
    const g = good();
    g.nodes.push({ id: 'again', type: 'exposure', params: {}, position: { x: 0, y: 0 } });
    g.edges[0] = { from: { node: 'again', port: 'images' }, to: { node: 'brighten', port: 'images' } };
    g.edges.push({ from: { node: 'brighten', port: 'images' }, to: { node: 'again', port: 'images' } });
    const errors = loadGraph(g, registry).errors;
    const e = errors.find((x) => x.field === 'edges')!;
    expect(e.code).toBe('edge-refused');
    expect(e.message).toMatch(/cycle: (brighten → again → brighten|again → brighten → again)/);
  });

  it('refuses an out-of-range param and says the allowed range', () => {
    const g = good();
    g.nodes[1].params.stops = 99;
    const [e] = loadGraph(g, registry).errors;
    expect(e).toMatchObject({ code: 'node-param-invalid', nodeId: 'brighten', nodeType: 'Exposure / Gamma', field: 'stops' });
    expect(e.message).toContain('99');
    expect(e.fix).toContain('≤ 8');
    expect(e.fix).toContain('≥ -8');
  });

  it('refuses a param of the wrong type', () => {
    const g = good();
    g.nodes[1].params.gamma = 'bright';
    g.nodes[2].params.format = 'gif';
    const errors = loadGraph(g, registry).errors;
    expect(errors.map((e) => [e.code, e.nodeId, e.field])).toEqual([
      ['node-param-invalid', 'brighten', 'gamma'],
      ['node-param-invalid', 'save', 'format'],
    ]);
    expect(errors[0].message).toContain('"bright"');
    expect(errors[0].fix).toContain('a number');
    expect(errors[1].fix).toContain('one of "png", "jpeg"');
  });

  it('refuses an unknown param key and suggests the nearest', () => {
    const g = good();
    g.nodes[1].params = { stop: 2 };
    const [e] = loadGraph(g, registry).errors;
    expect(e).toMatchObject({ code: 'node-param-invalid', nodeId: 'brighten', field: 'stop' });
    expect(e.message).toContain('no param "stop"');
    expect(e.fix).toBe('did you mean "stops"?');
  });

  it('lists the known params when an unknown key is nothing like one', () => {
    const g = good();
    g.nodes[1].params = { brightness: 2 };
    const [e] = loadGraph(g, registry).errors;
    expect(e.field).toBe('brightness');
    expect(e.fix).toContain('stops, gamma');
  });

  it('refuses duplicate node ids', () => {
    const g = good();
    g.nodes[2].id = 'brighten';
    g.edges.pop();
    const errors = loadGraph(g, registry).errors;
    const dup = errors.filter((e) => e.code === 'node-duplicate-id');
    expect(dup).toHaveLength(1);
    expect(dup[0]).toMatchObject({ nodeId: 'brighten', field: 'id' });
  });

  it('reports every problem of a file, not just the first', () => {
    const g = good();
    g.nodes[0].params.maxCount = 0;
    g.nodes[1].params.stops = 'x';
    g.edges.push({ from: { node: 'nope', port: 'images' }, to: { node: 'save', port: 'images' } });
    expect(loadGraph(g, registry).errors.map((e) => e.code).sort()).toEqual(['edge-dangling-node', 'node-param-invalid', 'node-param-invalid']);
  });

  it('requireGraph throws the first problem as a BacklitError', () => {
    const g = good();
    g.nodes[1].params.stops = 99;
    let thrown: unknown;
    try {
      requireGraph(loadGraph(g, registry));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(BacklitError);
    expect((thrown as BacklitError).message).toMatch(/^node "brighten" \(Exposure \/ Gamma\), field "stops": /);
    expect(requireGraph(loadGraph(good(), registry)).nodes).toHaveLength(3);
  });

  it('validateGraph re-checks an in-memory graph (edits after load)', () => {
    const graph = requireGraph(loadGraph(good(), registry));
    graph.nodes[2].params.quality = 0;
    expect(validateGraph(graph, registry).map((e) => [e.code, e.field])).toEqual([['node-param-invalid', 'quality']]);
  });
});

describe('closest', () => {
  it('suggests near typos only', () => {
    expect(closest('exposre', ['exposure', 'output'])).toBe('exposure');
    expect(closest('OUTPUT', ['exposure', 'output'])).toBe('output');
    expect(closest('zzzzzz', ['exposure', 'output'])).toBeUndefined();
  });
});
