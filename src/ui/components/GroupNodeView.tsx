import { memo } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { Handle, Position, type NodeProps } from '@xyflow/react';
import { PORT_KINDS, formatError, subgraphPorts, type GroupPort } from '../../engine';
import { registry } from '../../worker/nodes';
import type { EditorNode } from '../graphConvert';
import { useEditor } from '../store';
import { groupRunSummary, innerTitle } from '../subgraphs';
import { InlineRename } from './InlineRename';

/**
 * A group node (subgraph instance): its ports are the wires cut when it was made, typed like the
 * inner ports. While it runs it shows which inner node is running and the progress over all of them.
 */
export const GroupNodeView = memo(function GroupNodeView({ id, data, selected }: NodeProps<EditorNode>) {
  const def = useEditor((s) => s.subgraphs.find((d) => d.id === data.subgraph));
  const portsJson = useEditor((s) => (def ? JSON.stringify(subgraphPorts(s, def, registry)) : ''));
  const ports = portsJson ? (JSON.parse(portsJson) as { inputs: GroupPort[]; outputs: GroupPort[] }) : { inputs: [], outputs: [] };
  const run = useEditor(useShallow((s) => groupRunSummary(s.runState, id)));
  const problem = useEditor((s) => s.problems[id]?.[0] ?? Object.entries(s.problems).find(([k]) => k.startsWith(`${id}/`))?.[1][0]);
  const renaming = useEditor((s) => s.renamingId === id);
  const compat = useEditor(useShallow((s) => {
    const from = s.dragFrom;
    if (!from) return undefined;
    const list = from.handleType === 'source' ? ports.inputs : ports.outputs;
    return Object.fromEntries(list.map((p) => [p.name, from.nodeId !== id && s.canWire(from, id, p.name)]));
  }));
  const dragType = useEditor.getState().dragFrom?.handleType;
  const title = data.label ?? def?.name ?? 'Missing subgraph';
  const count = def?.nodes.length ?? 0;
  const runningTitle = run.runningId && def ? innerTitle(useEditor.getState().subgraphs, def.id, run.runningId.slice(id.length + 1), (t) => registry.get(t)?.title) : undefined;
  const pct = Math.round(100 * run.fraction);
  const handleClass = (port: string, type: 'source' | 'target') => (!compat || dragType === type ? 'handle' : `handle ${compat[port] ? 'compatible' : 'incompatible'}`);
  return (
    <div className={`node node-group ${selected ? 'selected' : ''} status-${run.status ?? 'idle'} ${data.bypass ? 'bypassed' : ''}`} data-testid={`node-${id}`}>
      <div className="node-lod" aria-hidden="true">
        <div className="node-lod-title">▣ {title}</div>
        {run.status && <div className={`node-lod-status badge-${run.status}`}>{run.status}{run.status === 'running' ? ` ${pct}%` : ''}</div>}
        {run.status === 'running' && runningTitle && <div className="node-lod-status">{runningTitle}</div>}
        {problem && <div className="node-lod-error">{problem.message}</div>}
      </div>
      <div className="node-header" style={{ borderTopColor: '#bb9af7' }}>
        {renaming ? (
          <InlineRename id={id} initial={title} label="Group name" onCommit={(v) => v.trim() && useEditor.getState().renameSubgraph(data.subgraph ?? '', v)} />
        ) : (
          <span className="node-title" title="Double-click to open this group">
            <span className="group-glyph" aria-hidden="true">▣</span> {title}
          </span>
        )}
        <span className="node-id">{count} node{count === 1 ? '' : 's'}</span>
        {data.bypass && <span className="badge badge-bypass">bypassed</span>}
        {run.status && (
          <span className={`badge badge-${run.status}`} data-testid={`status-${id}`}>
            {run.status === 'running' || run.status === 'queued' ? `${run.finished}/${run.total}` : run.status}
          </span>
        )}
        <button type="button" className="group-open nodrag" data-testid={`open-${id}`} title="Open the group to edit inside (double-click)" onClick={() => useEditor.getState().openGroup(id)}>
          Open
        </button>
      </div>
      <div className="node-ports">
        <div className="ports-in">
          {ports.inputs.map((p) => (
            <div className="port port-in" key={p.name} title={p.kind ? `${p.kind}: ${PORT_KINDS[p.kind].contract}` : 'not wired inside'}>
              <Handle type="target" position={Position.Left} id={p.name} aria-label={`${title}: input ${p.label} (${p.kind ?? 'unwired'})`} className={handleClass(p.name, 'target')} style={{ background: p.kind ? PORT_KINDS[p.kind].color : '#555' }} />
              <span>{p.label}{p.optional ? <span className="muted"> (optional)</span> : ''}</span>
              <span className="port-kind">{p.kind ?? '—'}</span>
            </div>
          ))}
        </div>
        <div className="ports-out">
          {ports.outputs.map((p) => (
            <div className="port port-out" key={p.name} title={p.kind ? `${p.kind}: ${PORT_KINDS[p.kind].contract}` : 'not wired inside'}>
              <span className="port-kind">{p.kind ?? '—'}</span>
              <span>{p.label}</span>
              <Handle type="source" position={Position.Right} id={p.name} aria-label={`${title}: output ${p.label} (${p.kind ?? 'unwired'})`} className={handleClass(p.name, 'source')} style={{ background: p.kind ? PORT_KINDS[p.kind].color : '#555' }} />
            </div>
          ))}
        </div>
      </div>
      {run.status === 'running' && (
        <div className="progress" data-testid={`progress-${id}`} role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(1000 * run.fraction) / 10} title={run.message}>
          <div className="progress-bar" style={{ width: `${pct}%` }} />
          <span data-testid={`group-running-${id}`}>{runningTitle ? `${runningTitle} · ` : ''}{pct}%</span>
        </div>
      )}
      {problem && (
        <div className="node-error" data-testid={`error-${id}`}>
          {problem.nodeId && problem.nodeId !== id ? `${problem.nodeId.slice(id.length + 1)}: ` : ''}
          {formatError({ ...problem, nodeId: undefined, nodeType: undefined })}
        </div>
      )}
    </div>
  );
});


/** Inside an open group: the node standing for its inputs (left) or outputs (right); "+" makes a new port. */
export const GroupPortsView = memo(function GroupPortsView({ id, data }: NodeProps<EditorNode>) {
  const isInput = data.io === 'input';
  const portsJson = useEditor((s) => {
    const level = s.openPath[s.openPath.length - 1];
    if (!level) return '[]';
    const whole = s.graph();
    const def = whole.subgraphs?.find((d) => d.id === level.subgraphId);
    return JSON.stringify(def ? subgraphPorts(whole, def, registry)[isInput ? 'inputs' : 'outputs'] : []);
  });
  const ports = JSON.parse(portsJson) as GroupPort[];
  const type = isInput ? 'source' : 'target';
  const position = isInput ? Position.Right : Position.Left;
  return (
    <div className={`node node-group-ports ${isInput ? 'ports-node-in' : 'ports-node-out'}`} data-testid={`node-${id}`}>
      <div className="node-lod" aria-hidden="true">
        <div className="node-lod-title">{isInput ? 'Group inputs' : 'Group outputs'}</div>
        {ports.map((p) => <div key={p.name} className="node-lod-status">{p.label}</div>)}
      </div>
      <div className="node-header" style={{ borderTopColor: '#bb9af7' }}>
        <span className="node-title">{isInput ? 'Group inputs' : 'Group outputs'}</span>
      </div>
      <div className="node-ports group-ports-list">
        {ports.map((p) => (
          <div className={`port ${isInput ? 'port-out' : 'port-in'}`} key={p.name} title={p.kind ? `${p.kind}: ${PORT_KINDS[p.kind].contract}` : 'not wired'}>
            {!isInput && <Handle type={type} position={position} id={p.name} aria-label={`group output ${p.label}`} className="handle" style={{ background: p.kind ? PORT_KINDS[p.kind].color : '#555' }} />}
            <span>{p.label}</span>
            <span className="port-kind">{p.kind ?? '—'}</span>
            {isInput && <Handle type={type} position={position} id={p.name} aria-label={`group input ${p.label}`} className="handle" style={{ background: p.kind ? PORT_KINDS[p.kind].color : '#555' }} />}
          </div>
        ))}
        <div className={`port ${isInput ? 'port-out' : 'port-in'} port-new`} title={isInput ? 'Drag from here to an inner input to add a group input' : 'Drag an inner output here to add a group output'}>
          {!isInput && <Handle type={type} position={position} id="+" aria-label="new group output" className="handle handle-new" />}
          <span className="muted">+ new {isInput ? 'input' : 'output'}</span>
          {isInput && <Handle type={type} position={position} id="+" aria-label="new group input" className="handle handle-new" />}
        </div>
      </div>
    </div>
  );
});
