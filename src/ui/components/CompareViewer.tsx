import { useEffect, useRef, useState } from 'react';
import type { Thumbnail } from '../../engine';
import { worker } from '../workerClient';

export interface CompareRequest {
  after: { nodeId: string; port: string; index: number };
  /** The image that went in (upstream output), when there is one. */
  before?: { nodeId: string; port: string; index: number };
}

/** Large image viewer; with a "before" it is a before/after slider (drag to compare). */
export function CompareViewer({ request, onClose }: { request: CompareRequest; onClose(): void }) {
  const [after, setAfter] = useState<Thumbnail>();
  const [before, setBefore] = useState<Thumbnail>();
  const [split, setSplit] = useState(0.5);
  useEffect(() => {
    void worker.image(request.after.nodeId, request.after.port, request.after.index).then(setAfter);
    if (request.before) void worker.image(request.before.nodeId, request.before.port, request.before.index).then(setBefore);
  }, [request]);
  return (
    <div className="modal-backdrop" onClick={onClose}>
      <div className="modal viewer" onClick={(e) => e.stopPropagation()} data-testid="viewer">
        <div className="viewer-head">
          <strong>{after?.name ?? '…'}</strong>
          {after && <span className="muted"> {after.width}×{after.height}{before ? ' · left: before, right: after' : ''}</span>}
          <span className="spacer" />
          <button type="button" onClick={onClose}>Close</button>
        </div>
        <div
          className="viewer-stage"
          onPointerMove={(e) => {
            if (e.buttons !== 1 || !before) return;
            const r = e.currentTarget.getBoundingClientRect();
            setSplit(Math.min(1, Math.max(0, (e.clientX - r.left) / r.width)));
          }}
        >
          {after && <ImageCanvas image={after} />}
          {before && after && (
            <div className="viewer-before" style={{ clipPath: `inset(0 ${100 - split * 100}% 0 0)` }}>
              <ImageCanvas image={before} />
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
  return <canvas ref={ref} className="viewer-canvas" />;
}
