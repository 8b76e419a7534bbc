import { useMemo, useState } from 'react';
import Fuse from 'fuse.js';
import { registry } from '../../worker/nodes';
import { PORT_KINDS } from '../../engine';

export const DRAG_MIME = 'application/x-backlit-node';

/** Node palette from the registry: fuzzy search, click to add, or drag onto the canvas. */
export function Palette({ onAdd, onAnnotate, autoFocus, onClose }: { onAdd(type: string): void; onAnnotate?(kind: 'note' | 'frame'): void; autoFocus?: boolean; onClose?(): void }) {
  const [query, setQuery] = useState('');
  const defs = registry.all();
  const fuse = useMemo(() => new Fuse(defs, { keys: ['title', 'type', 'description', 'category'], threshold: 0.4 }), [defs]);
  const shown = query ? fuse.search(query).map((r) => r.item) : defs;
  const byCategory = new Map<string, typeof defs>();
  for (const d of shown) byCategory.set(d.category, [...(byCategory.get(d.category) ?? []), d]);
  return (
    <aside className="palette" data-testid="palette">
      <input
        className="search"
        placeholder="Search nodes…"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
        autoFocus={autoFocus}
        onBlur={() => onClose && setTimeout(onClose, 150)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && shown[0]) onAdd(shown[0].type);
          if (e.key === 'Escape') onClose?.();
        }}
        data-testid="palette-search"
      />
      {[...byCategory].map(([category, list]) => (
        <section key={category}>
          <h4>{category}</h4>
          {list.map((d) => (
            <div
              key={d.type}
              className="palette-item"
              draggable
              onDragStart={(e) => {
                e.dataTransfer.setData(DRAG_MIME, d.type);
                e.dataTransfer.effectAllowed = 'move';
              }}
              onClick={() => onAdd(d.type)}
              title={d.description}
              data-testid={`palette-${d.type}`}
            >
              <div className="palette-title">{d.title}</div>
              <div className="palette-ports">
                {Object.values(d.inputs).map((p, i) => <i key={`i${i}`} style={{ background: PORT_KINDS[p.kind].color }} title={`in: ${p.kind}`} />)}
                <span>→</span>
                {Object.values(d.outputs).map((p, i) => <i key={`o${i}`} style={{ background: PORT_KINDS[p.kind].color }} title={`out: ${p.kind}`} />)}
              </div>
            </div>
          ))}
        </section>
      ))}
      {!shown.length && <p className="muted">No node matches “{query}”.</p>}
      {onAnnotate && !query && (
        <section>
          <h4>Annotate</h4>
          {(['note', 'frame'] as const).map((kind) => (
            <div
              key={kind}
              className="palette-item"
              draggable
              onDragStart={(e) => e.dataTransfer.setData(DRAG_MIME, kind)}
              onClick={() => onAnnotate(kind)}
              data-testid={`palette-${kind}`}
              title={kind === 'note' ? 'A sticky note (saved with the graph)' : 'A titled frame to group nodes (drawn behind them)'}
            >
              <div className="palette-title">{kind === 'note' ? 'Note' : 'Frame'}</div>
            </div>
          ))}
        </section>
      )}
    </aside>
  );
}
