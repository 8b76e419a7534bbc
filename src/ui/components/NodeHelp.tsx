import { registry } from '../../worker/nodes';
import { PORT_KINDS } from '../../engine';

/** What a node type does: its description, ports and params (from the one registry the CLI's `nodes` reads too). */
export function NodeHelp({ type, onClose }: { type: string; onClose(): void }) {
  const def = registry.get(type);
  if (!def) return null;
  const schema = registry.paramsJsonSchema(type);
  return (
    <div className="modal-backdrop" onClick={onClose}>
      <div className="modal help node-help" onClick={(e) => e.stopPropagation()} data-testid="node-help" role="dialog" aria-label={`${def.title} help`}>
        <h3>{def.title} <span className="muted">({def.type}, {def.category})</span></h3>
        <p>{def.description}</p>
        <table>
          <tbody>
            {Object.entries(def.inputs).map(([port, spec]) => (
              <tr key={`in-${port}`}><td>in <b>{spec.label}</b>{spec.optional ? ' (optional)' : ''}</td><td>{spec.kind}: {PORT_KINDS[spec.kind].contract}</td></tr>
            ))}
            {Object.entries(def.outputs).map(([port, spec]) => (
              <tr key={`out-${port}`}><td>out <b>{spec.label}</b></td><td>{spec.kind}: {PORT_KINDS[spec.kind].contract}</td></tr>
            ))}
            {Object.entries(schema.properties).map(([key, prop]) => (
              <tr key={`p-${key}`}><td>param <b>{key}</b></td><td>{prop.description ?? ''}{prop.default !== undefined ? ` (default ${JSON.stringify(prop.default)})` : ''}</td></tr>
            ))}
          </tbody>
        </table>
        <button type="button" onClick={onClose}>Close</button>
      </div>
    </div>
  );
}
