import { memo } from 'react';
import { NodeResizer, type NodeProps } from '@xyflow/react';
import type { EditorNode } from '../graphConvert';
import { useEditor } from '../store';

/** A sticky note, or a frame that groups nodes visually; both are canvas-only (meta.annotations). */
export const AnnotationView = memo(function AnnotationView({ id, data, type, selected }: NodeProps<EditorNode>) {
  const setParam = useEditor((s) => s.setParam);
  const text = String(data.params.text ?? '');
  return (
    <div className={`annotation annotation-${type} ${selected ? 'selected' : ''}`} data-testid={`${type}-${id}`}>
      <NodeResizer isVisible={selected} minWidth={type === 'frame' ? 200 : 140} minHeight={type === 'frame' ? 120 : 60} />
      <textarea
        className="nodrag nowheel"
        value={text}
        placeholder={type === 'frame' ? 'Frame title' : 'Write a note…'}
        rows={type === 'frame' ? 1 : 4}
        onChange={(e) => setParam(id, 'text', e.target.value)}
      />
    </div>
  );
});
