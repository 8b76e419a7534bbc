import { useEditor } from '../store';

const STATUS_CLASS: Record<string, string> = { queued: 'queued', running: 'running', done: 'done', error: 'error', cancelled: 'cancelled' };

/** Run queue and history: each run's changes, time and status; reopen its results or cancel it while queued. */
export function RunHistory({ onClose }: { onClose(): void }) {
  const runs = useEditor((s) => s.runs);
  const shown = useEditor((s) => s.shownRunId);
  const { cancelQueued, showRun, cancel } = useEditor.getState();
  return (
    <aside className="run-history" data-testid="run-history" aria-label="Run queue and history">
      <div className="run-history-head">
        <h3>Runs</h3>
        <span className="spacer" />
        <button type="button" onClick={onClose} aria-label="Close the run history">×</button>
      </div>
      {!runs.length && <p className="muted">No runs yet. Run (Ctrl+Enter) while a run is going queues another, with the graph as it is then.</p>}
      <ol className="run-list">
        {[...runs].reverse().map((r) => (
          <li key={r.id} className={`run-row ${r.id === shown ? 'shown' : ''}`} data-testid={`run-${r.id}`}>
            <div className="run-row-head">
              <b>#{r.id}</b>
              <span className={`badge badge-${STATUS_CLASS[r.status]}`} data-testid={`run-status-${r.id}`}>{r.status}</span>
              <span className="muted">{new Date(r.queuedAt).toLocaleTimeString()}</span>
              {r.elapsedMs !== undefined && <span className="muted">{(r.elapsedMs / 1000).toFixed(1)} s</span>}
              <span className="spacer" />
              {r.status === 'queued' && <button type="button" onClick={() => cancelQueued(r.id)} data-testid={`run-cancel-${r.id}`}>Cancel</button>}
              {r.status === 'running' && <button type="button" onClick={cancel}>Cancel</button>}
              {r.runState && r.id !== shown && <button type="button" onClick={() => showRun(r.id)} data-testid={`run-show-${r.id}`} title="Show this run's statuses and previews on the nodes">Show</button>}
            </div>
            <div className="run-detail">
              {r.targets ? `to ${r.targets.join(', ')}` : 'whole graph'}
              {r.changes.length ? ` · ${r.changes.slice(0, 4).join('; ')}${r.changes.length > 4 ? ` (+${r.changes.length - 4})` : ''}` : ''}
              {r.failed?.length ? <span className="run-failed"> · failed: {r.failed.join(', ')}</span> : null}
            </div>
          </li>
        ))}
      </ol>
    </aside>
  );
}
