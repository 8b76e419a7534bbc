import { useMemo, useState } from 'react';
import Fuse from 'fuse.js';
import { registry } from '../../worker/nodes';
import { PORT_KINDS, type AnyNodeDefinition } from '../../engine';

export const DRAG_MIME = 'application/x-backlit-node';

/** Node palette from the registry: fuzzy search, click to add, or drag onto the canvas. */
export function Palette({
  onAdd,
  onAnnotate,
  autoFocus,
  onClose,
  filter,
  title,
}: {
  onAdd(type: string): void;
  onAnnotate?(kind: 'note' | 'frame'): void;
  autoFocus?: boolean;
  onClose?(): void;
  /** Only these node types (e.g. those that can take the wire being dropped). */
  filter?(def: AnyNodeDefinition): boolean;
  /** Says why the list is filtered. */
  title?: string;
}) {
  const [query, setQuery] = useState('');
  const defs = useMemo(() => (filter ? registry.all().filter(filter) : registry.all()), [filter]);
  const fuse = useMemo(() => new Fuse(defs, { keys: ['title', 'type', 'description', 'category'], threshold: 0.4 }), [defs]);
  const shown = query ? fuse.search(query).map((r) => r.item) : defs;
  const byCategory = new Map<string, typeof defs>();
  for (const d of shown) byCategory.set(d.category, [...(byCategory.get(d.category) ?? []), d]);
  return (
    <aside className="palette" data-testid={onAnnotate ? 'palette' : 'palette-filtered'} aria-label="Node palette">
      {title && <div className="palette-note">{title}</div>}
      <input
        className="search"
        placeholder="Search nodes…"
        aria-label="Search nodes"
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
              // Reachable with Tab; Enter or Space adds the node, as a click does.
              tabIndex={0}
              role="button"
              aria-label={`Add ${d.title}`}
              onKeyDown={(e) => {
                if (e.key === 'Enter' || e.key === ' ') {
                  e.preventDefault();
                  onAdd(d.type);
                }
              }}
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
              tabIndex={0}
              role="button"
              aria-label={`Add a ${kind}`}
              onKeyDown={(e) => {
                if (e.key === 'Enter' || e.key === ' ') {
                  e.preventDefault();
                  onAnnotate(kind);
                }
              }}
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
