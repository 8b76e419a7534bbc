import { registry } from '../../worker/nodes';
import { formatError, type ParamJsonSchema } from '../../engine';
import { useEditor } from '../store';
import { GroupPanel } from './GroupPanel';

/** Form for the selected node's params, generated from its zod schema (via JSON schema). */
export function ParamsPanel() {
  const selectedId = useEditor((s) => s.selectedId);
  const node = useEditor((s) => s.nodes.find((n) => n.id === s.selectedId));
  const problems = useEditor((s) => (s.selectedId ? s.problems[s.selectedId] : undefined));
  const run = useEditor((s) => (s.selectedId ? s.runState[s.selectedId] : undefined));
  const setParam = useEditor((s) => s.setParam);
  const graphProblems = useEditor((s) => s.problems['']);
  if (!selectedId || !node) {
    return (
      <aside className="params" data-testid="params">
        <h3>Graph</h3>
        <p className="muted">Select a node to edit its params. Drag from an output to an input to wire; wires of the wrong kind are refused with the reason.</p>
        {graphProblems?.map((p, i) => <div key={i} className="node-error">{formatError(p)}</div>)}
      </aside>
    );
  }
  if (node.type === 'subgraph') return <GroupPanel node={node} />;
  if (node.type === 'group-io') {
    return (
      <aside className="params" data-testid="params">
        <h3>{node.data.io === 'input' ? 'Group inputs' : 'Group outputs'}</h3>
        <p className="muted">The group's ports, seen from inside. Drag from “+ new” to add one; rename them on the group node's panel (one level up).</p>
      </aside>
    );
  }
  if (node.type === 'note' || node.type === 'frame') {
    return (
      <aside className="params" data-testid="params">
        <h3>{node.type === 'note' ? 'Note' : 'Frame'}</h3>
        <p className="muted">Edit the text on the canvas; drag the corners to resize. Saved with the graph (meta.annotations); the engine ignores it.</p>
      </aside>
    );
  }
  const def = registry.get(node.data.type);
  if (!def) return <aside className="params">Unknown node type “{node.data.type}”.</aside>;
  const schema = registry.paramsJsonSchema(node.data.type);
  return (
    <aside className="params" data-testid="params">
      <h3>{def.title}</h3>
      <p className="muted">{def.description}</p>
      {Object.entries(schema.properties).map(([key, prop]) => {
        const problem = problems?.find((p) => p.field === key);
        return (
          <label key={key} className={`field ${problem ? 'field-bad' : ''}`}>
            <span className="field-name">{key}</span>
            <ParamInput prop={prop} value={node.data.params[key] ?? prop.default} onChange={(v) => setParam(node.id, key, v)} testId={`param-${key}`} />
            {prop.description && <span className="field-help">{prop.description}</span>}
            {problem && <span className="field-error">{problem.message} {problem.fix}</span>}
          </label>
        );
      })}
      {run?.error && <div className="node-error">{formatError(run.error)}</div>}
    </aside>
  );
}

function ParamInput({ prop, value, onChange, testId }: { prop: ParamJsonSchema; value: unknown; onChange(v: unknown): void; testId: string }) {
  if (prop.enum) {
    return (
      <select value={String(value)} onChange={(e) => onChange(e.target.value)} data-testid={testId}>
        {prop.enum.map((o) => <option key={String(o)} value={String(o)}>{String(o)}</option>)}
      </select>
    );
  }
  if (prop.type === 'boolean') return <input type="checkbox" checked={Boolean(value)} onChange={(e) => onChange(e.target.checked)} data-testid={testId} />;
  if (prop.type === 'number' || prop.type === 'integer') {
    return (
      <input
        type="number"
        value={value === undefined ? '' : String(value)}
        min={prop.minimum}
        max={prop.maximum}
        step={prop.type === 'integer' ? 1 : 'any'}
        // Keep what was typed even when invalid, so the schema can say what is wrong with it.
        onChange={(e) => onChange(e.target.value === '' ? undefined : Number(e.target.value))}
        data-testid={testId}
      />
    );
  }
  return <input type="text" value={String(value ?? '')} onChange={(e) => onChange(e.target.value)} data-testid={testId} />;
}
