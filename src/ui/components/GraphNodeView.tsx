import { memo, useEffect, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { Handle, Position, type NodeProps } from '@xyflow/react';
import { PORT_KINDS, formatError, type PortView } from '../../engine';
import { registry } from '../../worker/nodes';
import type { EditorNode } from '../graphConvert';
import { useEditor } from '../store';
import { Thumb } from './Thumb';
import { ImageDrop } from './ImageDrop';
import { ModelDrop } from '../models/ModelDrop';
import { OutputFiles } from './OutputFiles';
import { LossChart } from './LossChart';
import { InlineRename } from './InlineRename';

const STATUS_LABEL: Record<string, string> = {
  queued: 'queued',
  running: 'running',
  done: 'done',
  cached: 'cached',
  error: 'error',
  blocked: 'blocked',
  cancelled: 'cancelled',
  bypassed: 'bypassed',
};

/** One node on the canvas: typed handles, status, progress, problems and output previews. */
export const GraphNodeView = memo(function GraphNodeView({ id, data, selected }: NodeProps<EditorNode>) {
  const def = registry.get(data.type);
  const run = useEditor((s) => s.runState[id]);
  const views = useEditor((s) => s.views[id]);
  const problems = useEditor((s) => s.problems[id]);
  // While a wire is dragged, each handle of this node says whether it would accept it.
  const compat = useEditor(useShallow((s) => {
    const from = s.dragFrom;
    if (!from || !def) return undefined;
    const ports = from.handleType === 'source' ? Object.keys(def.inputs) : Object.keys(def.outputs);
    return Object.fromEntries(ports.map((p) => [p, from.nodeId !== id && s.canWire(from, id, p)]));
  }));
  const upstream = useEditor(useShallow((s) => {
    const e = s.edges.find((x) => x.target === id && x.targetHandle === 'images');
    return e ? { nodeId: e.source, port: e.sourceHandle ?? '' } : undefined;
  }));
  const upstreamViews = useEditor((s) => (upstream ? s.views[upstream.nodeId]?.[upstream.port] : undefined));
  const openViewer = useEditor((s) => s.openViewer);
  const renaming = useEditor((s) => s.renamingId === id);
  if (!def) {
    return (
      <div className="node node-missing">
        <div className="node-header">Unknown node “{data.type}”</div>
      </div>
    );
  }
  const status = run?.status;
  const dragType = useEditor.getState().dragFrom?.handleType;
  const error = run?.error ?? problems?.[0];
  const missingInputs = new Set((problems ?? []).filter((p) => p.code === 'input-missing').map((p) => p.field));
  const title = data.label ?? def.title;
  return (
    <div className={`node ${selected ? 'selected' : ''} status-${status ?? 'idle'} ${data.bypass ? 'bypassed' : ''}`} data-testid={`node-${id}`}>
      <div className="node-lod" aria-hidden="true">
        <div className="node-lod-title">{title}</div>
        {status && <div className={`node-lod-status badge-${status}`}>{STATUS_LABEL[status]}{run?.progress && status === 'running' ? ` ${Math.round((100 * run.progress.step) / Math.max(1, run.progress.total))}%` : ''}</div>}
        {error && <div className="node-lod-error">{error.message}</div>}
      </div>
      <div className="node-header" style={{ borderTopColor: categoryColor(def.category) }}>
        {renaming ? <InlineRename id={id} initial={title} label="Node title" onCommit={(v) => useEditor.getState().renameNode(id, v)} /> : <span className="node-title" title="Double-click to zoom to this node">{title}</span>}
        <span className="node-id">{id}</span>
        {data.bypass && <span className="badge badge-bypass" data-testid={`bypass-${id}`} title="Bypassed: inputs pass straight to outputs of the same kind (Ctrl+B)">bypassed</span>}
        {status && <StatusBadge id={id} status={status} run={run} />}
      </div>
      <div className="node-ports">
        <div className="ports-in">
          {Object.entries(def.inputs).map(([port, spec]) => (
            <div className={`port port-in ${missingInputs.has(port) ? 'port-missing' : ''}`} key={port} title={`${spec.kind}: ${PORT_KINDS[spec.kind].contract}${missingInputs.has(port) ? ' (required, not connected)' : ''}`}>
              <Handle
                type="target"
                position={Position.Left}
                id={port}
                aria-label={`${title}: input ${spec.label} (${spec.kind}${spec.optional ? ', optional' : ''})`}
                className={`handle ${compatClass(compat, port, 'target', dragType)}`}
                style={{ background: PORT_KINDS[spec.kind].color }}
              />
              <span>{spec.label}{spec.optional ? <span className="muted"> (optional)</span> : ''}</span>
              <span className="port-kind">{spec.kind}</span>
            </div>
          ))}
        </div>
        <div className="ports-out">
          {Object.entries(def.outputs).map(([port, spec]) => (
            <div className="port port-out" key={port} title={`${spec.kind}: ${PORT_KINDS[spec.kind].contract}`}>
              <span className="port-kind">{spec.kind}</span>
              <span>{spec.label}</span>
              <Handle
                type="source"
                position={Position.Right}
                id={port}
                aria-label={`${title}: output ${spec.label} (${spec.kind})`}
                className={`handle ${compatClass(compat, port, 'source', dragType)}`}
                style={{ background: PORT_KINDS[spec.kind].color }}
              />
            </div>
          ))}
        </div>
      </div>
      {status === 'running' && run?.progress && (
        <div className="progress" title={run.progress.message} data-testid={`progress-${id}`} role="progressbar" aria-valuemin={0} aria-valuemax={run.progress.total} aria-valuenow={run.progress.step}>
          <div className="progress-bar" style={{ width: `${(100 * run.progress.step) / Math.max(1, run.progress.total)}%` }} />
          <span>{run.progress.step}/{run.progress.total} {run.progress.message ?? ''}</span>
        </div>
      )}
      {data.type === 'image-loader' && <ImageDrop nodeId={id} source={String(data.params.source ?? '')} />}
      {data.type === 'enhance' && <ModelDrop nodeId={id} nodeType="enhance" value={String(data.params.weights ?? '')} />}
      {data.type === 'encoder' && <ModelDrop nodeId={id} nodeType="encoder" value={String(data.params.model === 'clip' ? (data.params.source ?? '') : '')} />}
      {error && (
        <div className={`node-error ${!run?.error && error.code === 'input-missing' ? 'node-warning' : ''}`} data-testid={`error-${id}`}>
          {formatError({ ...error, nodeId: undefined, nodeType: undefined })}
        </div>
      )}
      {run?.series && run.series.length > 1 && <LossChart series={run.series} />}
      {run?.logs?.length ? <div className="node-logs">{run.logs.slice(-3).map((l, i) => <div key={i}>{l}</div>)}</div> : null}
      {views &&
        Object.entries(views).map(([port, view]) => (
          <PortPreview key={port} view={view} onOpen={(index) => openViewer({ after: { nodeId: id, port, index }, before: upstream && upstreamViews?.kind === 'ImageBatch' ? { ...upstream, index } : undefined })} />
        ))}
      {data.type === 'output' && upstream && upstreamViews?.kind === 'ImageBatch' && <PortPreview view={upstreamViews} onOpen={(index) => openViewer({ after: { ...upstream, index } })} />}
    </div>
  );
});

/** Status with the node's time; while it runs the time ticks every 0.5 s (the worker only reports it at the end). */
function StatusBadge({ id, status, run }: { id: string; status: string; run?: { elapsedMs?: number; startedAt?: number } }) {
  const [, tick] = useState(0);
  useEffect(() => {
    if (status !== 'running') return;
    const timer = setInterval(() => tick((n) => n + 1), 500);
    return () => clearInterval(timer);
  }, [status]);
  const ms = status === 'running' && run?.startedAt ? Date.now() - run.startedAt : run?.elapsedMs;
  return (
    <span className={`badge badge-${status}`} data-testid={`status-${id}`}>
      {STATUS_LABEL[status] ?? status}
      {ms !== undefined && status !== 'queued' ? ` · ${formatMs(ms)}` : ''}
    </span>
  );
}

function PortPreview({ view, onOpen }: { view: PortView; onOpen(index: number): void }) {
  switch (view.kind) {
    case 'ImageBatch':
      return (
        <div className="thumbs" data-testid="preview">
          {view.thumbs.map((t, i) => (
            <Thumb key={i} thumb={t} onClick={() => onOpen(i)} />
          ))}
          {view.count > view.thumbs.length && <span className="more">+{view.count - view.thumbs.length}</span>}
        </div>
      );
    case 'Embedding':
      return <div className="kv">‖v‖ = {view.norm.toFixed(4)} · D = {view.dim} · {view.space}{view.count !== undefined ? ` · n = ${view.count}` : ''}</div>;
    case 'Embeddings':
      return <div className="kv">{view.shape[0]} × {view.shape[1]} · {view.space}</div>;
    case 'Residual':
      return (
        <div className="kv" title="thr = <v_pos, r>; cos(v_pos, v_neg) near 1 means the two sets look alike to this encoder">
          r: D = {view.dim} · thr = {view.thr.toFixed(4)} · cos(v₊,v₋) = {view.cosPosNeg.toFixed(4)} · ‖v₊−v₋‖ = {view.gap.toFixed(4)}
        </div>
      );
    case 'PromptPair':
      return (
        <div className="kv" data-testid="prompt-pair" title="accuracy: backlit scored negative / well-lit scored positive; histogram of P(positive) per set (0 left, 1 right)">
          {view.mode} prompts · D = {view.dim} · cos(g₋,g₊) = {view.cosNegPos.toFixed(3)}
          {view.accuracy && <div>acc backlit {(100 * view.accuracy.backlit).toFixed(0)}% · well-lit {(100 * view.accuracy.wellLit).toFixed(0)}%</div>}
          {view.histogram && <ScoreHistogram histogram={view.histogram} />}
        </div>
      );
    case 'Scalar':
      return <div className="kv">{view.value.toPrecision(5)}</div>;
    case 'Text':
      return <div className="kv">{view.value}</div>;
    case 'Report': {
      // Rows that name a written file become download links; the rest is a small table.
      const files = view.rows.filter((r) => typeof r.location === 'string');
      const table = view.rows.filter((r) => typeof r.location !== 'string');
      return (
        <>
          {table.length > 0 && <ReportTable rows={table} />}
          {files.length > 0 && <OutputFiles rows={files} />}
        </>
      );
    }
    default:
      return <div className="kv">{view.summary}</div>;
  }
}

const HISTOGRAM_SETS = [
  ['backlit', '#ff9e64'],
  ['wellLit', '#7aa2f7'],
  ['previous', '#9ece6a'],
  ['previous2', '#bb9af7'],
] as const;

/** P(positive) histograms per set as a tiny inline SVG: one thin bar per set in each bin. */
function ScoreHistogram({ histogram }: { histogram: NonNullable<Extract<PortView, { kind: 'PromptPair' }>['histogram']> }) {
  const sets = HISTOGRAM_SETS.filter(([k]) => histogram[k]);
  const max = Math.max(1, ...sets.flatMap(([k]) => histogram[k]!));
  const w = 160;
  const h = 32;
  const binW = w / histogram.bins;
  const barW = (binW - 1) / sets.length;
  return (
    <svg width={w} height={h + 8} viewBox={`0 0 ${w} ${h + 8}`} role="img" aria-label="P(positive) histogram">
      {sets.map(([k, color], si) =>
        histogram[k]!.map((c, b) => (c > 0 ? <rect key={`${k}${b}`} x={b * binW + si * barW} y={h - (h * c) / max} width={Math.max(1, barW)} height={(h * c) / max} fill={color}><title>{`${k}: ${c} in [${(b / histogram.bins).toFixed(1)}, ${((b + 1) / histogram.bins).toFixed(1)})`}</title></rect> : null)),
      )}
      <line x1={0} y1={h + 0.5} x2={w} y2={h + 0.5} stroke="#565f89" />
      <text x={0} y={h + 8} fontSize={7} fill="#565f89">0</text>
      <text x={w} y={h + 8} fontSize={7} fill="#565f89" textAnchor="end">P(pos) 1</text>
    </svg>
  );
}

function ReportTable({ rows }: { rows: Array<Record<string, string | number>> }) {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))].slice(0, 8);
  const fmt = (v: string | number | undefined) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : (v ?? ''));
  return (
    <div className="report nodrag nowheel" data-testid="report">
      <table>
        <thead>
          <tr>{columns.map((c) => <th key={c}>{c}</th>)}</tr>
        </thead>
        <tbody>
          {rows.slice(0, 12).map((r, i) => (
            <tr key={i}>{columns.map((c) => <td key={c} title={typeof r[c] === 'string' ? (r[c] as string) : undefined}>{fmt(r[c])}</td>)}</tr>
          ))}
        </tbody>
      </table>
      {rows.length > 12 && <div className="more">+{rows.length - 12} rows</div>}
    </div>
  );
}

function compatClass(compat: Record<string, boolean> | undefined, port: string, handleType: 'source' | 'target', dragType?: 'source' | 'target'): string {
  if (!compat || dragType === handleType) return '';
  return compat[port] ? 'compatible' : 'incompatible';
}

function categoryColor(category: string): string {
  return { Input: '#f2b94b', Image: '#e0af68', Embedding: '#7aa2f7', Training: '#ff9e64', Analysis: '#bb9af7', Output: '#9ece6a' }[category] ?? '#888';
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
