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
            if (t.nodeId && flow.getNode(t.nodeId)) {
              useEditor.setState((s) => ({ nodes: s.nodes.map((n) => ({ ...n, selected: n.id === t.nodeId })), selectedId: t.nodeId }));
              focusNode(t.nodeId);
              void flow.fitView({ nodes: [{ id: t.nodeId }], maxZoom: 1.2, duration: 250 });
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
