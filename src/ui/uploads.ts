import { createStore, get, set, keys } from 'idb-keyval';
import { worker } from './workerClient';
import { useEditor } from './store';

type UploadedFile = { name: string; bytes: Uint8Array };

/** Dropped images are kept in IndexedDB, so a graph that uses them still runs after a reload. */
const store = createStore('backlit-studio', 'uploads');

/** Hands dropped/picked image files to the worker and points the Image Loader `nodeId` at them. */
export async function uploadImages(nodeId: string, files: FileList | File[]): Promise<void> {
  const images = [...files].filter((f) => f.type.startsWith('image/') || /\.(png|jpe?g|webp|gif|avif|bmp)$/i.test(f.name));
  const skipped = [...files].filter((f) => !images.includes(f));
  if (!images.length) {
    useEditor.getState().toast('error', `Image Loader: none of the dropped files is an image (PNG, JPEG, WebP, GIF, AVIF, BMP): ${skipped.map((f) => f.name).join(', ')}.`);
    return;
  }
  if (skipped.length) useEditor.getState().toast('info', `Image Loader: skipped ${skipped.length} file(s) that are not images: ${skipped.map((f) => f.name).join(', ')}.`);
  const key = `${nodeId}-${Date.now().toString(36)}`;
  const payload: UploadedFile[] = await Promise.all(images.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })));
  await set(key, payload, store).catch(() => useEditor.getState().toast('info', 'These images could not be stored for later (browser storage full or disabled); they last until you reload.'));
  await worker.putUpload(key, payload);
  useEditor.getState().setParam(nodeId, 'source', `upload:${key}`);
  useEditor.getState().toast('info', `Image Loader ${nodeId}: ${images.length} file(s) ready; press Run.`);
}

/**
 * Gives the worker every stored upload the current graph refers to. Others are kept (another saved
 * graph may use them); the browser's storage quota bounds them.
 */
export async function restoreUploads(): Promise<void> {
  const used = new Set(
    useEditor
      .getState()
      .nodes.map((n) => String(n.data.params.source ?? ''))
      .filter((s) => s.startsWith('upload:'))
      .map((s) => s.slice('upload:'.length)),
  );
  for (const key of (await keys(store).catch(() => [])) as string[]) {
    if (!used.has(key)) continue;
    const files = await get<UploadedFile[]>(key, store);
    if (files) await worker.putUpload(key, files);
  }
}
