import { useEffect, useRef, useState } from 'react';
import type { Thumbnail } from '../../engine';
import { worker } from '../workerClient';

export interface CompareRequest {
  after: { nodeId: string; port: string; index: number };
  /** The image that went in (upstream output), when there is one. */
  before?: { nodeId: string; port: string; index: number };
}

const ZOOM_STEPS = [0.125, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 12, 16];

/**
 * Large image viewer: pixels 1:1 by default (small outputs are no longer stretched blurrily), zoom
 * with the wheel or buttons, drag to pan; magnified pixels are drawn as crisp squares. With a
 * "before" image the slider reveals before (left) against after (right) at the same zoom and pan.
 */
export function CompareViewer({ request, onClose }: { request: CompareRequest; onClose(): void }) {
  const [after, setAfter] = useState<Thumbnail>();
  const [before, setBefore] = useState<Thumbnail>();
  const [split, setSplit] = useState(0.5);
  const [view, setView] = useState({ zoom: 1, x: 0, y: 0 });
  const stage = useRef<HTMLDivElement>(null);
  const drag = useRef<{ x: number; y: number; vx: number; vy: number } | undefined>(undefined);
  useEffect(() => {
    void worker.image(request.after.nodeId, request.after.port, request.after.index).then(setAfter);
    if (request.before) void worker.image(request.before.nodeId, request.before.port, request.before.index).then(setBefore);
  }, [request]);

  const box = () => stage.current?.getBoundingClientRect() ?? { width: 800, height: 600, left: 0, top: 0 };
  /** Zoom to `zoom` keeping the image point under (cx, cy) (stage px) where it is. */
  const zoomTo = (zoom: number, cx = box().width / 2, cy = box().height / 2) =>
    setView((v) => ({ zoom, x: cx - ((cx - v.x) * zoom) / v.zoom, y: cy - ((cy - v.y) * zoom) / v.zoom }));
  const centred = (zoom: number, img: Thumbnail) => {
    const b = box();
    return { zoom, x: Math.round((b.width - img.thumbWidth * zoom) / 2), y: Math.round((b.height - img.thumbHeight * zoom) / 2) };
  };
  const fitZoom = (img: Thumbnail) => Math.min(box().width / img.thumbWidth, box().height / img.thumbHeight);
  useEffect(() => {
    // 1:1 when it fits; larger images start fitted (zoom 1:1 is one click away).
    if (after) setView(centred(Math.min(1, fitZoom(after)), after));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [after]);

  const step = (dir: 1 | -1) => {
    const i = ZOOM_STEPS.findIndex((z) => z >= view.zoom - 1e-6);
    const next = dir > 0 ? ZOOM_STEPS.find((z) => z > view.zoom + 1e-6) : [...ZOOM_STEPS].reverse().find((z) => z < view.zoom - 1e-6);
    zoomTo(next ?? ZOOM_STEPS[Math.max(0, Math.min(ZOOM_STEPS.length - 1, i))]);
  };
  const layer = (img: Thumbnail) => (
    <div className={`viewer-layer ${view.zoom > 1 ? 'magnified' : ''}`} style={{ transform: `translate(${view.x}px, ${view.y}px) scale(${view.zoom})` }}>
      <ImageCanvas image={img} />
    </div>
  );
  return (
    <div className="modal-backdrop" onClick={onClose}>
      <div className="modal viewer" onClick={(e) => e.stopPropagation()} data-testid="viewer">
        <div className="viewer-head">
          <strong>{after?.name ?? '…'}</strong>
          {after && <span className="muted"> {after.width}×{after.height}{after.thumbWidth !== after.width ? ` (shown from a ${after.thumbWidth}×${after.thumbHeight} copy)` : ''}{before ? ' · left: before, right: after' : ''}</span>}
          <span className="spacer" />
          <button type="button" onClick={() => step(-1)} aria-label="Zoom out" data-testid="viewer-zoom-out">−</button>
          <span className="viewer-zoom" data-testid="viewer-zoom">{Math.round(view.zoom * 100)}%</span>
          <button type="button" onClick={() => step(1)} aria-label="Zoom in" data-testid="viewer-zoom-in">+</button>
          <button type="button" onClick={() => after && setView(centred(1, after))} data-testid="viewer-1to1">1:1</button>
          <button type="button" onClick={() => after && setView(centred(fitZoom(after), after))} data-testid="viewer-fit">Fit</button>
          <button type="button" onClick={onClose}>Close</button>
        </div>
        <div
          ref={stage}
          className="viewer-stage zoomable"
          data-testid="viewer-stage"
          onWheel={(e) => {
            const b = box();
            const factor = Math.exp(-e.deltaY * 0.0015);
            zoomTo(Math.min(16, Math.max(0.05, view.zoom * factor)), e.clientX - b.left, e.clientY - b.top);
          }}
          onPointerDown={(e) => {
            e.currentTarget.setPointerCapture(e.pointerId);
            drag.current = { x: e.clientX, y: e.clientY, vx: view.x, vy: view.y };
          }}
          onPointerMove={(e) => {
            const d = drag.current;
            if (d && e.buttons === 1) setView((v) => ({ ...v, x: d.vx + e.clientX - d.x, y: d.vy + e.clientY - d.y }));
          }}
          onPointerUp={() => (drag.current = undefined)}
        >
          {after && layer(after)}
          {before && after && (
            <div className="viewer-before" style={{ clipPath: `inset(0 ${100 - split * 100}% 0 0)` }}>
              {layer(before)}
            </div>
          )}
          {before && <div className="viewer-split" style={{ left: `${split * 100}%` }} />}
        </div>
        {before && <input type="range" min={0} max={1} step={0.001} value={split} onChange={(e) => setSplit(Number(e.target.value))} aria-label="before/after split" />}
      </div>
    </div>
  );
}

function ImageCanvas({ image }: { image: Thumbnail }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = ref.current!;
    c.width = image.thumbWidth;
    c.height = image.thumbHeight;
    c.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(image.rgba), image.thumbWidth, image.thumbHeight), 0, 0);
  }, [image]);
  return <canvas ref={ref} className="viewer-canvas" width={image.thumbWidth} height={image.thumbHeight} />;
}
