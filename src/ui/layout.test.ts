import { describe, expect, it } from 'vitest';
import { layeredLayout, overlapping } from './layout';

describe('layeredLayout', () => {
  it('puts each node right of what feeds it and overlaps nothing, whatever the sizes', () => {
    const boxes = [
      { id: 'load', width: 260, height: 180 },
      { id: 'encode', width: 240, height: 90 },
      { id: 'train', width: 300, height: 420 },
      { id: 'enhance', width: 260, height: 200 },
      { id: 'metrics', width: 320, height: 260 },
      { id: 'compare', width: 320, height: 260 },
    ];
    const edges = [
      { source: 'load', target: 'encode' },
      { source: 'load', target: 'train' },
      { source: 'encode', target: 'train' },
      { source: 'train', target: 'enhance' },
      { source: 'load', target: 'enhance' },
      { source: 'enhance', target: 'metrics' },
      { source: 'enhance', target: 'compare' },
    ];
    const at = layeredLayout(boxes, edges);
    const placed = boxes.map((b) => ({ ...b, ...at.get(b.id)! }));
    expect(overlapping(placed, 20)).toEqual([]);
    for (const e of edges) expect(at.get(e.source)!.x + boxes.find((b) => b.id === e.source)!.width).toBeLessThanOrEqual(at.get(e.target)!.x);
  });

  it('overlapping() finds a pair that touches within the margin and none that do not', () => {
    const a = { id: 'a', x: 0, y: 0, width: 100, height: 100 };
    expect(overlapping([a, { id: 'b', x: 110, y: 0, width: 50, height: 50 }], 0)).toEqual([]);
    expect(overlapping([a, { id: 'b', x: 110, y: 0, width: 50, height: 50 }], 20)).toEqual([['a', 'b']]);
  });
});
