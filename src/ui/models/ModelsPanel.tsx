import { useEffect, useMemo, useState } from 'react';
import { useEditor } from '../store';
import { deleteModel, formatBytes, useModels } from './library';
import { findSet, isModelRef, parseModelRef, type ParsedRef } from '../../worker/storedModels';
import './models.css';

/**
 * The Models panel: every model file stored in this browser (name, kind/format, size, sha256,
 * where it came from, delete), and the models the open graph refers to but this browser lacks,
 * with the node that needs each and how to add it.
 */
export function ModelsPanel() {
  const [open, setOpen] = useState(false);
  const sets = useModels((s) => s.sets);
  const busy = useModels((s) => s.busy);
  const error = useModels((s) => s.error);
  const nodes = useEditor((s) => s.nodes);
  useEffect(() => {
    void useModels.getState().refresh();
  }, []);
  const needed = useMemo(() => {
    const out: Array<{ nodeId: string; field: string; ref: ParsedRef }> = [];
    for (const n of nodes) {
      const params = (n.data as { params?: Record<string, unknown> }).params ?? {};
      for (const field of ['weights', 'source']) {
        const v = params[field];
        if (typeof v !== 'string' || !isModelRef(v)) continue;
        const ref = parseModelRef(v);
        if (ref) out.push({ nodeId: n.id, field, ref });
      }
    }
    return out;
  }, [nodes]);
  const missing = needed.filter((n) => !findSet(sets, n.ref));
  const usedBy = (id: string) => needed.filter((n) => id.startsWith(n.ref.hash)).map((n) => n.nodeId);

  return (
    <>
      <button type="button" className={`models-toggle ${missing.length ? 'models-toggle-missing' : ''}`} onClick={() => setOpen(!open)} data-testid="models-toggle" title="Model files stored in this browser">
        Models ({sets.length}){missing.length ? ` · ${missing.length} missing` : ''}
      </button>
      {open && (
        <section className="models-panel" data-testid="models-panel" aria-label="Models">
          <header>
            <h3>Models in this browser</h3>
            <button type="button" onClick={() => setOpen(false)} aria-label="Close">×</button>
          </header>
          <p className="muted">
            Add weights on an Enhance node (Weights… or drop a .pth, .safetensors, or model.json with its .bin) and CLIP models on an Encoder (CLIP folder… or CLIP files…). Files stay in this browser (IndexedDB) until deleted here; graphs refer to them by name and sha256, never upload them.
          </p>
          {busy && <p className="models-busy">{busy.label} {Math.round(100 * busy.progress)}%</p>}
          {error && <p className="node-error">{error}</p>}
          {missing.length > 0 && (
            <div className="models-missing" data-testid="models-missing">
              <h4>Needed by this graph, not stored here</h4>
              <ul>
                {missing.map((m) => (
                  <li key={`${m.nodeId}-${m.field}`}>
                    <b>{m.ref.file ?? m.ref.name}</b> (sha256 {m.ref.hash}…) for node <code>{m.nodeId}</code> ({m.field}): {m.ref.kind === 'clip' ? 'use "CLIP folder…" on that Encoder' : 'drop the file on that Enhance node or use its "Weights…"'}.
                  </li>
                ))}
              </ul>
            </div>
          )}
          {sets.length === 0 ? (
            <p className="muted">No models stored yet.</p>
          ) : (
            <table className="models-table">
              <thead>
                <tr><th>name</th><th>format</th><th>size</th><th>sha256</th><th>source</th><th>used by</th><th /></tr>
              </thead>
              <tbody>
                {sets.map((s) => (
                  <tr key={s.id} data-testid={`model-row-${s.name}`}>
                    <td title={s.files.map((f) => `${f.name} (${formatBytes(f.size)}, ${f.sha256})`).join('\n')}>
                      {s.name}
                      {s.files.length > 1 && <span className="muted"> · {s.files.map((f) => f.name).join(', ')}</span>}
                    </td>
                    <td>{s.kind === 'clip' ? 'CLIP' : s.format}</td>
                    <td>{formatBytes(s.files.reduce((a, f) => a + f.size, 0))}</td>
                    <td className="models-hash" title={s.id}>{s.id.slice(0, 16)}…</td>
                    <td>{s.source}, {new Date(s.addedAt).toLocaleString()}</td>
                    <td>{usedBy(s.id).join(', ') || '—'}</td>
                    <td>
                      <button
                        type="button"
                        data-testid={`model-delete-${s.name}`}
                        onClick={() => {
                          if (window.confirm(`Delete ${s.name} from this browser? Graphs that use it will ask for it again.`)) void deleteModel(s.id);
                        }}
                      >
                        Delete
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      )}
    </>
  );
}
