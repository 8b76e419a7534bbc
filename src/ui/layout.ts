import { Graph, layout } from '@dagrejs/dagre';

export interface Box {
  id: string;
  width: number;
  height: number;
}

export interface Point {
  x: number;
  y: number;
}

/**
 * Layered left-to-right layout (dagre's Sugiyama implementation): sources on the left, each node one
 * layer right of what feeds it, crossings reduced, no two boxes overlapping. Returns top-left corners.
 */
export function layeredLayout(boxes: Box[], edges: Array<{ source: string; target: string }>, opts: { nodeGap?: number; layerGap?: number; origin?: Point } = {}): Map<string, Point> {
  const g = new Graph({ multigraph: true });
  g.setGraph({ rankdir: 'LR', nodesep: opts.nodeGap ?? 40, ranksep: opts.layerGap ?? 90, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  const ids = new Set(boxes.map((b) => b.id));
  for (const b of boxes) g.setNode(b.id, { width: b.width, height: b.height });
  edges.forEach((e, i) => {
    if (ids.has(e.source) && ids.has(e.target)) g.setEdge(e.source, e.target, {}, `e${i}`);
  });
  layout(g);
  const origin = opts.origin ?? { x: 0, y: 0 };
  const out = new Map<string, Point>();
  for (const b of boxes) {
    const n = g.node(b.id) as { x: number; y: number };
    // dagre places centres; the canvas wants top-left corners.
    out.set(b.id, { x: Math.round(origin.x + n.x - b.width / 2), y: Math.round(origin.y + n.y - b.height / 2) });
  }
  return out;
}

/** Do any two boxes (at these top-left corners) overlap, with `margin` px of air required between them? */
export function overlapping(boxes: Array<Box & Point>, margin = 0): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i];
      const b = boxes[j];
      if (a.x < b.x + b.width + margin && b.x < a.x + a.width + margin && a.y < b.y + b.height + margin && b.y < a.y + a.height + margin) pairs.push([a.id, b.id]);
    }
  }
  return pairs;
}
