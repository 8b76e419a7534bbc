import { useEffect, useRef } from 'react';
import type { Thumbnail } from '../../engine';

/** Draws a worker-made RGBA thumbnail onto a canvas (no image encoding round trip). */
export function Thumb({ thumb, onClick }: { thumb: Thumbnail; onClick?: () => void }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const canvas = ref.current;
    if (!canvas) return;
    canvas.width = thumb.thumbWidth;
    canvas.height = thumb.thumbHeight;
    canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(thumb.rgba), thumb.thumbWidth, thumb.thumbHeight), 0, 0);
  }, [thumb]);
  return <canvas ref={ref} className="thumb" title={`${thumb.name} (${thumb.width}×${thumb.height})`} onClick={onClick} data-testid="thumb" />;
}
