import { useState } from 'react';
import { subgraphPorts, type GroupPort } from '../../engine';
import { registry } from '../../worker/nodes';
import type { EditorNode } from '../graphConvert';
import { useEditor } from '../store';

/** Params panel of a group node: its name, its ports (renamable) and what is inside. */
export function GroupPanel({ node }: { node: EditorNode }) {
  const def = useEditor((s) => s.subgraphs.find((d) => d.id === node.data.subgraph));
  const portsJson = useEditor((s) => (def ? JSON.stringify(subgraphPorts(s, def, registry)) : ''));
  if (!def) return <aside className="params" data-testid="params"><h3>Group</h3><p className="node-error">Its subgraph “{node.data.subgraph}” is missing from the graph.</p></aside>;
  const ports = JSON.parse(portsJson) as { inputs: GroupPort[]; outputs: GroupPort[] };
  const { openGroup, ungroup, renamePort, renameSubgraph } = useEditor.getState();
  const others = useEditor.getState().graph().nodes.filter((n) => n.subgraph === def.id).length - 1;
  return (
    <aside className="params group-panel" data-testid="params">
      <h3>Group</h3>
      <p className="muted">
        A subgraph of {def.nodes.length} node(s). Its ports are the wires cut when it was made. Open it to edit the nodes inside{others > 0 ? ` (shared with ${others} other group node(s) of this subgraph)` : ''}.
      </p>
      <div className="group-actions">
        <button type="button" data-testid="group-panel-open" onClick={() => openGroup(node.id)}>Open</button>
        <button type="button" data-testid="group-panel-ungroup" onClick={() => ungroup(node.id)}>Ungroup</button>
      </div>
      <label className="field">
        <span className="field-name">name</span>
        <LazyText value={def.name} testId="group-name" onCommit={(v) => renameSubgraph(def.id, v)} />
      </label>
      {(['inputs', 'outputs'] as const).map((dir) => (
        <div key={dir}>
          <h4 className="group-ports-head">{dir}</h4>
          {ports[dir].length === 0 && <p className="muted">none</p>}
          {ports[dir].map((p) => (
            <label key={p.name} className="field">
              <span className="field-name">{p.name} <span className="port-kind">{p.kind ?? 'not wired inside'}</span></span>
              <LazyText value={def[dir].find((x) => x.name === p.name)?.label ?? ''} placeholder={p.label} testId={`port-label-${dir}-${p.name}`} onCommit={(v) => renamePort(def.id, dir, p.name, v)} />
            </label>
          ))}
        </div>
      ))}
      <h4 className="group-ports-head">inside</h4>
      <ul className="group-inner">
        {def.nodes.map((n) => (
          <li key={n.id}>
            {n.label ?? (n.subgraph ? `▣ ${useEditor.getState().subgraphs.find((d) => d.id === n.subgraph)?.name ?? n.id}` : registry.get(n.type)?.title ?? n.type)} <span className="muted">{n.id}</span>
          </li>
        ))}
      </ul>
    </aside>
  );
}

/** A text field that commits on Enter or blur (one undo step per rename, not one per key). */
function LazyText({ value, onCommit, testId, placeholder }: { value: string; onCommit(v: string): void; testId: string; placeholder?: string }) {
  const [text, setText] = useState(value);
  const [seen, setSeen] = useState(value);
  if (seen !== value) {
    setSeen(value);
    setText(value);
  }
  return (
    <input
      type="text"
      value={text}
      placeholder={placeholder}
      data-testid={testId}
      onChange={(e) => setText(e.target.value)}
      onBlur={() => text !== value && onCommit(text)}
      onKeyDown={(e) => {
        if (e.key === 'Enter') (e.target as HTMLInputElement).blur();
      }}
    />
  );
}

/** Where the canvas is: the top graph › open groups; a crumb goes back up to that level. */
export function Breadcrumbs() {
  const path = useEditor((s) => s.openPath);
  const subgraphs = useEditor((s) => s.subgraphs);
  const name = useEditor((s) => s.meta.name ?? 'Graph');
  if (!path.length) return null;
  const { closeGroups } = useEditor.getState();
  return (
    <nav className="breadcrumbs" aria-label="Open groups" data-testid="breadcrumbs">
      <button type="button" className="crumb" data-testid="crumb-0" onClick={() => closeGroups(0)} title="Back to the top graph">
        ⬑ {name}
      </button>
      {path.map((level, i) => {
        const label = level.parent.nodes.find((n) => n.id === level.groupId)?.data.label ?? subgraphs.find((d) => d.id === level.subgraphId)?.name ?? level.groupId;
        const last = i === path.length - 1;
        return (
          <span key={level.groupId} className="crumb-step">
            <span className="crumb-sep" aria-hidden="true">›</span>
            {last ? (
              <span className="crumb crumb-current" aria-current="location" data-testid={`crumb-${i + 1}`}>▣ {label}</span>
            ) : (
              <button type="button" className="crumb" data-testid={`crumb-${i + 1}`} onClick={() => closeGroups(i + 1)}>▣ {label}</button>
            )}
          </span>
        );
      })}
      <span className="crumb-hint muted">editing inside a group · Esc or ⬑ to go up</span>
    </nav>
  );
}
