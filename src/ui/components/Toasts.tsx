import { useReactFlow } from '@xyflow/react';
import { useEditor } from '../store';
import { focusNode } from '../viewFocus';

/** Messages; one about a node zooms to it when clicked. */
export function Toasts() {
  const toasts = useEditor((s) => s.toasts);
  const dismiss = useEditor((s) => s.dismiss);
  const flow = useReactFlow();
  return (
    <div className="toasts" role="status">
      {toasts.map((t) => (
        <div
          key={t.id}
          className={`toast toast-${t.kind}`}
          onClick={() => {
            dismiss(t.id);
            // A node inside a group ("group-1/train") is shown by opening its group.
            const id = t.nodeId ? useEditor.getState().revealNode(t.nodeId) : undefined;
            if (id) {
              useEditor.setState((s) => ({ nodes: s.nodes.map((n) => ({ ...n, selected: n.id === id })), selectedId: id }));
              focusNode(id);
              setTimeout(() => void flow.fitView({ nodes: [{ id }], maxZoom: 1.2, duration: 250 }), flow.getNode(id)?.measured ? 0 : 80);
            }
          }}
          data-testid="toast"
          title={t.nodeId ? 'Click to show the node' : 'Click to dismiss'}
        >
          {t.text}
        </div>
      ))}
    </div>
  );
}
