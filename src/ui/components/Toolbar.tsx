import { useEffect, useRef, useState } from 'react';
import { actions } from '../actions';
import { worker } from '../workerClient';
import { examples } from '../examples';
import { useEditor } from '../store';

/** Open/save/examples, run/cancel, undo/redo and the backend indicator. */
export function Toolbar({ onToggleHistory, historyOpen }: { onToggleHistory(): void; historyOpen: boolean }) {
  const queued = useEditor((s) => s.runs.filter((r) => r.status === 'queued').length);
  const running = useEditor((s) => s.running);
  const waiting = useEditor((s) => s.waitingForBackend);
  const backend = useEditor((s) => s.backend);
  const backendError = useEditor((s) => s.backendError);
  const meta = useEditor((s) => s.meta);
  const canUndo = useEditor((s) => s.past.length > 0);
  const canRedo = useEditor((s) => s.future.length > 0);
  const { run, cancel, loadGraphJson, graph, undo, redo, newGraph, setName, arrange } = useEditor.getState();
  const selectedId = useEditor((s) => s.selectedId);
  const fileInput = useRef<HTMLInputElement>(null);

  function save() {
    const g = graph();
    const blob = new Blob([`${JSON.stringify(g, null, 2)}\n`], { type: 'application/json' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${(g.meta.name ?? 'graph').replace(/[^\w-]+/g, '-').toLowerCase()}.json`;
    a.click();
  }

  async function open(files: FileList | null) {
    const f = files?.[0];
    if (f) loadGraphJson(await f.text(), f.name);
  }

  return (
    <header className="toolbar">
      <strong className="brand">Backlit Studio</strong>
      <GraphName name={meta.name ?? 'Untitled'} description={meta.description} onRename={setName} />
      <select
        aria-label="Examples"
        value=""
        onChange={(e) => {
          const ex = examples.find((x) => x.file === e.target.value);
          if (ex) loadGraphJson(ex.graph, ex.file);
        }}
        data-testid="examples"
      >
        <option value="">Examples…</option>
        {examples.map((x) => <option key={x.file} value={x.file}>{x.graph.meta?.name ?? x.file}</option>)}
      </select>
      <button type="button" onClick={() => newGraph()} data-testid="new">New</button>
      <button type="button" onClick={() => fileInput.current?.click()}>Open…</button>
      <input ref={fileInput} type="file" accept=".json,application/json" hidden onChange={(e) => void open(e.target.files)} data-testid="open-file" />
      <button type="button" onClick={save}>Save</button>
      <button type="button" onClick={undo} disabled={!canUndo} title="Undo (Ctrl+Z)">Undo</button>
      <button type="button" onClick={redo} disabled={!canRedo} title="Redo (Ctrl+Shift+Z)">Redo</button>
      <button type="button" onClick={arrange} title="Lay the graph out left to right so nothing overlaps (Shift+A)" data-testid="arrange">Arrange</button>
      <span className="spacer" />
      {waiting ? (
        // Asked for during start-up: the run starts by itself once the backend is measured.
        <button type="button" disabled data-testid="run" title="The run starts as soon as the backend is ready">Run · waiting for backend…</button>
      ) : running ? (
        <>
          <button type="button" className="danger" onClick={cancel} data-testid="cancel">Cancel</button>
          <button type="button" onClick={() => void run()} data-testid="queue-run" title="Queue another run with the graph as it is now (Ctrl+Enter)">Queue run</button>
        </>
      ) : (
        <>
          <button type="button" className="primary" onClick={() => void run()} data-testid="run" title="Run all (Ctrl+Enter)">Run</button>
          <button type="button" onClick={() => selectedId && void run([selectedId])} disabled={!selectedId} title="Run only the selected node and what it needs">Run to selected</button>
        </>
      )}
      <button type="button" onClick={onToggleHistory} data-testid="history" title="Run queue and history" aria-pressed={historyOpen}>Runs{queued ? ` (${queued})` : ''}</button>
      <button type="button" onClick={() => actions.find((a) => a.id === 'share')!.perform()} title="Copy a link that contains this graph" data-testid="share">Share</button>
      <MemoryBadge />
      <span className="backend" data-testid="backend" title={backend ? `${backend.reason}\n${Object.entries(backend.measured).map(([k, v]) => `${k}: ${typeof v === 'number' ? `${v.toFixed(1)} ms` : v}`).join('\n')}` : backendError}>
        {backend ? `backend: ${backend.chosen}` : backendError ? 'backend: none' : 'backend: measuring…'}
      </span>
    </header>
  );
}

/**
 * Live tensor count and bytes held by the worker's tfjs backend (it must not grow across runs).
 * While a run is busy the worker cannot answer polls, so it sends memory along with its run
 * events (store.memory); when idle we poll. Fixed width: the toolbar never reflows when it appears.
 */
function MemoryBadge() {
  const mem = useEditor((s) => s.memory);
  const running = useEditor((s) => s.running);
  // How many readings have arrived (exposed for tests: the badge must keep updating mid-run).
  const samples = useRef(0);
  const last = useRef(mem);
  if (mem !== last.current) {
    last.current = mem;
    samples.current++;
  }
  useEffect(() => {
    if (running) return; // run events bring fresh numbers
    let alive = true;
    const poll = async () => {
      const m = await worker.memory();
      if (alive && m) useEditor.setState({ memory: m });
    };
    void poll();
    const timer = setInterval(poll, 4000);
    return () => {
      alive = false;
      clearInterval(timer);
    };
  }, [running]);
  return (
    <span className="backend memory" title="Tensors and bytes held by the worker (cached node outputs included)" data-testid="memory" data-samples={samples.current}>
      {mem ? `${mem.numTensors} tensors · ${(mem.numBytes / 2 ** 20).toFixed(1)} MB` : ''}
    </span>
  );
}

/** The graph's name, readable in full (tooltip) and editable in place; saved in meta.name. */
function GraphName({ name, description, onRename }: { name: string; description?: string; onRename(name: string): void }) {
  const [draft, setDraft] = useState(name);
  useEffect(() => setDraft(name), [name]);
  return (
    <input
      className="graph-name"
      value={draft}
      aria-label="Graph name"
      title={`${name}${description ? `\n${description}` : ''}\n(click to rename)`}
      data-testid="graph-name"
      size={Math.min(40, Math.max(8, draft.length + 1))}
      onChange={(e) => setDraft(e.target.value)}
      onBlur={() => draft.trim() && draft !== name && onRename(draft.trim())}
      onKeyDown={(e) => {
        if (e.key === 'Enter') (e.target as HTMLInputElement).blur();
        if (e.key === 'Escape') {
          setDraft(name);
          (e.target as HTMLInputElement).blur();
        }
      }}
    />
  );
}
