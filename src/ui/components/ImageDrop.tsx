import { useRef, useState } from 'react';
import { uploadImages } from '../uploads';

/** File picker and drop zone of an Image Loader: files go to the worker, the node's source points at them. */
export function ImageDrop({ nodeId, source }: { nodeId: string; source: string }) {
  const input = useRef<HTMLInputElement>(null);
  const [busy, setBusy] = useState(false);

  async function take(files: FileList | File[]) {
    setBusy(true);
    await uploadImages(nodeId, files);
    setBusy(false);
  }

  return (
    <div
      className="drop nodrag"
      onDragOver={(e) => {
        e.preventDefault();
        e.stopPropagation();
      }}
      onDrop={(e) => {
        e.preventDefault();
        e.stopPropagation();
        void take(e.dataTransfer.files);
      }}
    >
      <button type="button" onClick={() => input.current?.click()} disabled={busy}>
        {busy ? 'Reading…' : 'Choose images…'}
      </button>
      <span className="drop-hint">or drop files here · {source.startsWith('upload:') ? 'your files' : source}</span>
      <input ref={input} type="file" accept="image/*" multiple hidden onChange={(e) => e.target.files && void take(e.target.files)} />
    </div>
  );
}
