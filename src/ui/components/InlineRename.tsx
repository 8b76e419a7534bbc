import { useState } from 'react';
import { useEditor } from '../store';

/**
 * In-place title editing (context menu → Rename) for nodes and group nodes: Enter or leaving the
 * field keeps, Escape cancels. `onCommit` runs only when the text changed.
 */
export function InlineRename({ id, initial, label, onCommit }: { id: string; initial: string; label: string; onCommit: (value: string) => void }) {
  const [value, setValue] = useState(initial);
  const done = (keep: boolean) => {
    if (keep && value !== initial) onCommit(value);
    useEditor.setState({ renamingId: undefined });
  };
  return (
    <input
      className="rename nodrag"
      autoFocus
      value={value}
      aria-label={label}
      data-testid={`rename-${id}`}
      onChange={(e) => setValue(e.target.value)}
      onBlur={() => done(true)}
      onKeyDown={(e) => {
        e.stopPropagation();
        if (e.key === 'Enter') done(true);
        if (e.key === 'Escape') done(false);
      }}
    />
  );
}
