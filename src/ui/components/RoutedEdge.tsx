import { memo, useRef } from 'react';
import { BaseEdge, getBezierPath, useReactFlow, type EdgeProps } from '@xyflow/react';
import { useEditor } from '../store';

export type RoutePoint = { x: number; y: number };

/**
 * A wire, optionally routed through reroute points (dots you can drag; saved in meta.reroutes).
 * Points only change how the wire is drawn: the engine sees the same source → target edge.
 * Each dot takes the colour of the kind the wire carries, i.e. what feeds it.
 */
export const RoutedEdge = memo(function RoutedEdge(props: EdgeProps) {
  const { id, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, style, data, selected, interactionWidth } = props;
  const points = (data?.points as RoutePoint[] | undefined) ?? [];
  const flow = useReactFlow();
  const dragging = useRef<number | undefined>(undefined);
  let path: string;
  if (!points.length) {
    [path] = getBezierPath({ sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition });
  } else {
    // Horizontal-tangent cubic segments through each point, like the plain wire between two nodes.
    const all = [{ x: sourceX, y: sourceY }, ...points, { x: targetX, y: targetY }];
    path = `M ${all[0].x},${all[0].y}`;
    for (let i = 1; i < all.length; i++) {
      const a = all[i - 1];
      const b = all[i];
      const dx = Math.max(30, Math.abs(b.x - a.x) / 2);
      path += ` C ${a.x + dx},${a.y} ${b.x - dx},${b.y} ${b.x},${b.y}`;
    }
  }
  const color = (style?.stroke as string | undefined) ?? '#888';
  return (
    <>
      <BaseEdge id={id} path={path} style={style} interactionWidth={interactionWidth} className={selected ? 'selected' : undefined} />
      {points.map((p, i) => (
        <circle
          key={i}
          className="reroute nodrag nopan"
          data-testid={`reroute-${id}-${i}`}
          aria-label="Reroute point (drag to move, double-click to remove)"
          cx={p.x}
          cy={p.y}
          r={7}
          fill={color}
          stroke="#111"
          strokeWidth={2}
          onPointerDown={(e) => {
            e.stopPropagation();
            (e.target as Element).setPointerCapture(e.pointerId);
            useEditor.getState().checkpoint();
            dragging.current = i;
          }}
          onPointerMove={(e) => {
            if (dragging.current !== i) return;
            const at = flow.screenToFlowPosition({ x: e.clientX, y: e.clientY });
            useEditor.getState().setReroutePoints(id, points.map((q, j) => (j === i ? { x: Math.round(at.x), y: Math.round(at.y) } : q)), false);
          }}
          onPointerUp={() => (dragging.current = undefined)}
          onDoubleClick={(e) => {
            e.stopPropagation();
            useEditor.getState().setReroutePoints(id, points.filter((_, j) => j !== i));
          }}
        />
      ))}
    </>
  );
});
