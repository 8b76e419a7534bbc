import { worker } from './workerClient';
import { useEditor } from './store';

/** Hands dropped/picked image files to the worker and points the Image Loader `nodeId` at them. */
export async function uploadImages(nodeId: string, files: FileList | File[]): Promise<void> {
  const images = [...files].filter((f) => f.type.startsWith('image/') || /\.(png|jpe?g|webp|gif|avif)$/i.test(f.name));
  if (!images.length) {
    useEditor.getState().toast('error', 'Image Loader: none of the dropped files is an image (PNG, JPEG, WebP).');
    return;
  }
  const key = `${nodeId}-${Date.now().toString(36)}`;
  const payload = await Promise.all(images.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })));
  await worker.putUpload(key, payload);
  useEditor.getState().setParam(nodeId, 'source', `upload:${key}`);
  useEditor.getState().toast('info', `Image Loader ${nodeId}: ${images.length} file(s) ready; press Run.`);
}
