import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { checkConnection, type ConnectionCheck, type RefusalCode } from './checkConnection';
import { inferSpaces } from './spaces';
import { defineNode, type AnyNodeDefinition } from '../nodes/defineNode';
import { NodeRegistry } from '../registry/registry';
import { graph, node, wire } from '../testing/build';
import type { Graph } from '../graph/model';

const noRun = async () => ({});

const source = defineNode({
  type: 't-source', title: 'Test Source', category: 'Input', description: '',
  inputs: {},
  outputs: { images: { kind: 'ImageBatch', label: 'Pictures' } },
  params: z.object({}),
  run: noRun,
});
const pass = defineNode({
  type: 't-pass', title: 'Test Pass', category: 'Image', description: '',
  inputs: { images: { kind: 'ImageBatch', label: 'In pictures' } },
  outputs: { images: { kind: 'ImageBatch', label: 'Out pictures' } },
  params: z.object({}),
  run: noRun,
});
/** An encoder: its Embeddings live in the space its params name. */
const encoder = defineNode({
  type: 't-encoder', title: 'Test Encoder', category: 'Embedding', description: '',
  inputs: { images: { kind: 'ImageBatch', label: 'Pictures' } },
  outputs: { embeddings: { kind: 'Embeddings', label: 'Codes' } },
  params: z.object({ space: z.string().default('clip') }),
  spaceOf: (p) => p.space,
  run: noRun,
});
/** No spaceOf: its output inherits its input's space. */
const mean = defineNode({
  type: 't-mean', title: 'Test Mean', category: 'Embedding', description: '',
  inputs: { embeddings: { kind: 'Embeddings', label: 'Codes' } },
  outputs: { embeddings: { kind: 'Embeddings', label: 'Mean codes' } },
  params: z.object({}),
  run: noRun,
});
/** Two spaced inputs that must share one space. */
const compare = defineNode({
  type: 't-compare', title: 'Test Compare', category: 'Analysis', description: '',
  inputs: { left: { kind: 'Embeddings', label: 'Left codes' }, right: { kind: 'Embeddings', label: 'Right codes' } },
  outputs: { score: { kind: 'Scalar', label: 'Score' } },
  params: z.object({}),
  run: noRun,
});

const registry = new NodeRegistry([source, pass, encoder, mean, compare] as AnyNodeDefinition[]);

function expectRefused(check: ConnectionCheck, code: RefusalCode): string {
  expect(check.ok).toBe(false);
  if (check.ok) throw new Error('unreachable');
  expect(check.code).toBe(code);
  return check.reason;
}

/** src → encA(clip) → cmp.left; encB(stats), encC(clip), meanB (fed by encB) are free to wire. */
function spacedGraph(): Graph {
  return graph(
    [
      node('src', 't-source'),
      node('encA', 't-encoder', { space: 'clip' }),
      node('encB', 't-encoder', { space: 'stats' }),
      node('encC', 't-encoder', { space: 'clip' }),
      node('meanB', 't-mean'),
      node('cmp', 't-compare'),
    ],
    [wire('src.images', 'encA.images'), wire('src.images', 'encB.images'), wire('src.images', 'encC.images'), wire('encB.embeddings', 'meanB.embeddings'), wire('encA.embeddings', 'cmp.left')],
  );
}

describe('checkConnection', () => {
  const chain = () => graph([node('p1', 't-pass'), node('p2', 't-pass'), node('p3', 't-pass'), node('src', 't-source'), node('odd', 'no-such-type')], [wire('p1.images', 'p2.images'), wire('p2.images', 'p3.images')]);

  it('accepts a matching wire', () => {
    expect(checkConnection(chain(), registry, wire('src.images', 'p1.images'))).toEqual({ ok: true });
    expect(checkConnection(spacedGraph(), registry, wire('encC.embeddings', 'cmp.right'))).toEqual({ ok: true });
  });

  it('refuses a wire from or to a node that does not exist (unknown-node)', () => {
    expect(expectRefused(checkConnection(chain(), registry, wire('ghost.images', 'p1.images')), 'unknown-node')).toContain('"ghost"');
    const reason = expectRefused(checkConnection(chain(), registry, wire('src.images', 'phantom.images')), 'unknown-node');
    expect(reason).toContain('"phantom"');
    expect(reason).toMatch(/wire into/);
  });

  it('refuses a node of an unregistered type (unknown-node-type)', () => {
    const reason = expectRefused(checkConnection(chain(), registry, wire('odd.images', 'p1.images')), 'unknown-node-type');
    expect(reason).toContain('"odd"');
    expect(reason).toContain('"no-such-type"');
    expectRefused(checkConnection(chain(), registry, wire('src.images', 'odd.images')), 'unknown-node-type');
  });

  it('refuses an output port the node does not have and lists the real ones (unknown-output)', () => {
    const reason = expectRefused(checkConnection(chain(), registry, wire('src.image', 'p1.images')), 'unknown-output');
    expect(reason).toContain('Test Source');
    expect(reason).toContain('"image"');
    expect(reason).toContain('outputs: images');
  });

  it('refuses an input port the node does not have and lists the real ones (unknown-input)', () => {
    const reason = expectRefused(checkConnection(chain(), registry, wire('src.images', 'p1.pictures')), 'unknown-input');
    expect(reason).toContain('Test Pass');
    expect(reason).toContain('"pictures"');
    expect(reason).toContain('inputs: images');
    // A source has no inputs at all.
    expect(expectRefused(checkConnection(chain(), registry, wire('p1.images', 'src.images')), 'unknown-input')).toContain('inputs: none');
  });

  it('refuses a node feeding itself (self-loop)', () => {
    const reason = expectRefused(checkConnection(chain(), registry, wire('p1.images', 'p1.images')), 'self-loop');
    expect(reason).toContain('"p1"');
  });

  it('refuses ports of different kinds and names both (kind-mismatch)', () => {
    const reason = expectRefused(checkConnection(spacedGraph(), registry, wire('src.images', 'cmp.right')), 'kind-mismatch');
    expect(reason).toContain('Test Source → Pictures is ImageBatch');
    expect(reason).toContain('Test Compare → Right codes expects Embeddings');
  });

  it('refuses embeddings from a different encoder space (space-mismatch)', () => {
    const reason = expectRefused(checkConnection(spacedGraph(), registry, wire('encB.embeddings', 'cmp.right')), 'space-mismatch');
    expect(reason).toContain('"stats"');
    expect(reason).toContain('"clip"');
    expect(reason).toContain('"cmp"');
    expect(reason).toContain('Codes');
  });

  it('follows spaces through nodes without spaceOf (inherited space still refused)', () => {
    const gr = spacedGraph();
    expect(inferSpaces(gr, registry).get('meanB')).toBe('stats');
    expect(inferSpaces(gr, registry).get('encA')).toBe('clip');
    const reason = expectRefused(checkConnection(gr, registry, wire('meanB.embeddings', 'cmp.right')), 'space-mismatch');
    expect(reason).toContain('Mean codes');
    expect(reason).toContain('"stats"');
  });

  it('accepts the second space once the first wire is gone', () => {
    const gr = spacedGraph();
    gr.edges = gr.edges.filter((e) => e.to.node !== 'cmp');
    expect(checkConnection(gr, registry, wire('encB.embeddings', 'cmp.right'))).toEqual({ ok: true });
  });

  it('refuses a second wire into one input and names the existing source (input-taken)', () => {
    const gr = chain();
    gr.edges.push(wire('src.images', 'p1.images'));
    gr.nodes.push(node('src2', 't-source'));
    const reason = expectRefused(checkConnection(gr, registry, wire('src2.images', 'p1.images')), 'input-taken');
    expect(reason).toContain('"src"');
    expect(reason).toContain('In pictures');
  });

  it('refuses a wire that closes a loop and spells the loop out (cycle)', () => {
    const reason = expectRefused(checkConnection(chain(), registry, wire('p3.images', 'p1.images')), 'cycle');
    expect(reason).toContain('p1 → p2 → p3 → p1');
  });
});
