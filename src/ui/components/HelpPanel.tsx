import { actions, BUILTIN_SHORTCUTS } from '../actions';

const isMac = typeof navigator !== 'undefined' && /Mac/.test(navigator.platform);
const show = (k: string) => k.replace('Mod', isMac ? '⌘' : 'Ctrl');

export function HelpPanel({ onClose }: { onClose(): void }) {
  const rows = [...actions.map((a) => ({ label: a.label, keys: a.keys })), ...BUILTIN_SHORTCUTS];
  return (
    <div className="modal-backdrop" onClick={onClose}>
      <div className="modal help" onClick={(e) => e.stopPropagation()} data-testid="help">
        <h3>Keyboard shortcuts</h3>
        <table>
          <tbody>
            {rows.map((r) => (
              <tr key={r.label}>
                <td>{r.label}</td>
                <td>{r.keys.map((k) => <kbd key={k}>{show(k)}</kbd>)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <button type="button" onClick={onClose}>Close</button>
      </div>
    </div>
  );
}
