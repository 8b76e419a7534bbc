import { describe, expect, it } from 'vitest';
import { graph, node, wire } from '../engine/testing/build';
import { describeChanges } from './runHistory';

describe('describeChanges', () => {
  it('names changed params, added/removed nodes, bypass and rewiring', () => {
    const a = graph([node('load', 'image-loader', { source: 'a.jpg' }), node('x', 'exposure', { stops: 1 })], [wire('load.images', 'x.images')]);
    const b = graph([node('load', 'image-loader', { source: 'a.jpg' }), node('x', 'exposure', { stops: 2.5 }, { bypass: true }), node('y', 'output')], [wire('load.images', 'x.images'), wire('x.images', 'y.images')]);
    expect(describeChanges(a, b)).toEqual(['x.stops: 1 → 2.5', 'x bypassed', '+ y', '1 wire change(s)']);
    expect(describeChanges(undefined, b)).toEqual([]);
    expect(describeChanges(b, b)).toEqual([]);
  });
});
