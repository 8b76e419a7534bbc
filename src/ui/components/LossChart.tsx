import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const COLORS = ['#f2b94b', '#7aa2f7', '#9ece6a', '#f7768e', '#bb9af7', '#4fd1c5'];

/** Live loss curves of a training node (one line per metric), drawn with uPlot. */
export function LossChart({ series }: { series: Array<Record<string, number>> }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const names = series.length ? Object.keys(series[series.length - 1]).filter((k) => k !== 'step') : [];
  const key = names.join('|');

  useEffect(() => {
    if (!host.current || !names.length) return;
    plot.current = new uPlot(
      {
        width: 260,
        height: 120,
        legend: { show: true, live: false },
        cursor: { show: false },
        scales: { x: { time: false } },
        axes: [
          { stroke: '#8b90a0', grid: { stroke: '#2d313b' }, size: 24, font: '10px sans-serif' },
          { stroke: '#8b90a0', grid: { stroke: '#2d313b' }, size: 40, font: '10px sans-serif' },
        ],
        series: [{ label: 'step' }, ...names.map((n, i) => ({ label: n, stroke: COLORS[i % COLORS.length], width: 1.5 }))],
      },
      [[], ...names.map(() => [])],
      host.current,
    );
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
    // Rebuild only when the set of metrics changes; data updates go through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);

  useEffect(() => {
    plot.current?.setData([series.map((p) => p.step), ...names.map((n) => series.map((p) => p[n] ?? null))] as uPlot.AlignedData);
  }, [series, key]); // eslint-disable-line react-hooks/exhaustive-deps

  return <div className="loss-chart nodrag" ref={host} data-testid="loss-chart" />;
}
