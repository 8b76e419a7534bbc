import { canvasPointer, useEditor } from './store';
import { shareUrl } from './share';

/**
 * Editor commands, registered once (after excalidraw's actions): the keyboard handler, the help
 * panel and the toolbar all read this list, so a shortcut shown is a shortcut that works.
 */
export interface EditorAction {
  id: string;
  label: string;
  /** e.g. "Mod+Z" (Mod = Ctrl, or ⌘ on macOS), "Shift+Mod+Z", "?" */
  keys: string[];
  perform(): void;
}

export const actions: EditorAction[] = [
  {
    id: 'search',
    label: 'Search the node palette',
    keys: ['/'],
    perform: () => (document.querySelector('[data-testid="palette-search"]') as HTMLInputElement | null)?.focus(),
  },
  { id: 'run', label: 'Run the whole graph', keys: ['Mod+Enter'], perform: () => void useEditor.getState().run() },
  {
    id: 'run-to-selected',
    label: 'Run the selected node and what it needs',
    keys: ['Shift+Mod+Enter'],
    perform: () => {
      const id = useEditor.getState().selectedId;
      if (id) void useEditor.getState().run([id]);
    },
  },
  { id: 'cancel', label: 'Cancel the run', keys: ['Mod+.'], perform: () => useEditor.getState().cancel() },
  { id: 'undo', label: 'Undo', keys: ['Mod+Z'], perform: () => useEditor.getState().undo() },
  { id: 'redo', label: 'Redo', keys: ['Shift+Mod+Z', 'Mod+Y'], perform: () => useEditor.getState().redo() },
  { id: 'copy', label: 'Copy selected nodes', keys: ['Mod+C'], perform: () => useEditor.getState().copySelection() },
  { id: 'paste', label: 'Paste nodes (at the cursor)', keys: ['Mod+V'], perform: () => useEditor.getState().paste(canvasPointer.at) },
  { id: 'duplicate', label: 'Duplicate selected nodes', keys: ['Mod+D'], perform: () => useEditor.getState().duplicateSelection() },
  { id: 'arrange', label: 'Arrange the graph left to right (no overlaps)', keys: ['Shift+A'], perform: () => useEditor.getState().arrange() },
  {
    id: 'bypass',
    label: 'Bypass the selected nodes (inputs pass straight through)',
    keys: ['Mod+B'],
    perform: () => useEditor.getState().toggleBypass(useEditor.getState().nodes.filter((n) => n.selected && (n.type === 'backlit' || n.type === 'subgraph')).map((n) => n.id)),
  },
  { id: 'group', label: 'Group the selected nodes into a subgraph', keys: ['Mod+G'], perform: () => void useEditor.getState().groupSelection() },
  {
    id: 'ungroup',
    label: 'Ungroup the selected group node',
    keys: ['Shift+Mod+G'],
    perform: () => {
      const s = useEditor.getState();
      for (const n of s.nodes.filter((x) => x.selected && x.type === 'subgraph')) useEditor.getState().ungroup(n.id);
    },
  },
  {
    id: 'group-up',
    label: 'Leave the open group (back up one level)',
    keys: ['Escape'],
    perform: () => {
      const s = useEditor.getState();
      // Escape closes a menu, search or dialog first; only with none open does it leave the group.
      if (s.openPath.length && !document.querySelector('.context-menu, .quick-add, .modal-backdrop')) s.closeGroups(s.openPath.length - 1);
    },
  },
  {
    id: 'share',
    label: 'Copy a share link (graph in the URL)',
    keys: ['Shift+Mod+S'],
    perform: () => {
      const url = shareUrl(useEditor.getState().graph());
      history.replaceState(null, '', url);
      void navigator.clipboard?.writeText(url).catch(() => undefined);
      useEditor.getState().toast('info', 'Share link copied (the graph is in the address bar too).');
    },
  },
];

/** Shown in the help panel but handled by React Flow or the browser itself. */
export const BUILTIN_SHORTCUTS: Array<{ label: string; keys: string[] }> = [
  { label: 'Delete selected nodes or wires', keys: ['Delete', 'Backspace'] },
  { label: 'Select several nodes', keys: ['Shift+drag', 'Mod+click'] },
  { label: 'Add a node at the cursor (search)', keys: ['Double-click canvas'] },
  { label: 'Wire: drag from an output to an input (compatible inputs light up)', keys: ['Drag'] },
  { label: 'Show this help', keys: ['?'] },
];

export function matches(e: KeyboardEvent, keys: string): boolean {
  const parts = keys.split('+');
  const key = parts[parts.length - 1].toLowerCase();
  const wantMod = parts.includes('Mod');
  const wantShift = parts.includes('Shift');
  const mod = e.ctrlKey || e.metaKey;
  return mod === wantMod && e.shiftKey === wantShift && e.key.toLowerCase() === key;
}
