import { useRef, useState } from 'react';
import { worker } from '../workerClient';
import { useEditor } from '../store';

/** File picker and drop zone of an Image Loader: files go to the worker, the node's source points at them. */
export function ImageDrop({ nodeId, source }: { nodeId: string; source: string }) {
  const input = useRef<HTMLInputElement>(null);
  const [busy, setBusy] = useState(false);
  const setParam = useEditor((s) => s.setParam);

  async function take(files: FileList | File[]) {
    const images = [...files].filter((f) => f.type.startsWith('image/') || /\.(png|jpe?g|webp|gif|avif)$/i.test(f.name));
    if (!images.length) {
      useEditor.getState().toast('error', 'Image Loader: none of the dropped files is an image (PNG, JPEG, WebP).');
      return;
    }
    setBusy(true);
    const key = `${nodeId}-${Date.now().toString(36)}`;
    const payload = await Promise.all(images.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })));
    await worker.putUpload(key, payload);
    setParam(nodeId, 'source', `upload:${key}`);
    setBusy(false);
    useEditor.getState().toast('info', `Image Loader ${nodeId}: ${images.length} file(s) ready; press Run.`);
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
