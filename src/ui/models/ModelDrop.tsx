import { useEffect, useRef } from 'react';
import { useEditor } from '../store';
import { classify, formatBytes, paramRef, storeModel, useModels } from './library';
import { findSet, isModelRef, parseModelRef, type ModelKind } from '../../worker/storedModels';
import './models.css';

/**
 * Model files for an Enhance (weights) or Encoder (CLIP folder) node: picker buttons and a drop
 * zone. Files are hashed in a worker and kept in IndexedDB; the node's param then names the
 * stored model by name and hash (model:enhancer/<name>@<hash>/<file>, model:clip/<name>@<hash>).
 */
export function ModelDrop({ nodeId, nodeType, value }: { nodeId: string; nodeType: 'enhance' | 'encoder'; value: string }) {
  const kind: ModelKind = nodeType === 'enhance' ? 'enhancer' : 'clip';
  const files = useRef<HTMLInputElement>(null);
  const folder = useRef<HTMLInputElement>(null);
  const sets = useModels((s) => s.sets);
  const busy = useModels((s) => s.busy);
  useEffect(() => {
    void useModels.getState().refresh();
  }, []);
  useEffect(() => {
    // webkitdirectory is not in React's attribute types.
    folder.current?.setAttribute('webkitdirectory', '');
  }, []);

  async function take(list: FileList | File[] | null, how: string) {
    if (!list || !list.length) return;
    const { toast, setParam } = useEditor.getState();
    const title = nodeType === 'enhance' ? 'Enhance' : 'Encoder';
    try {
      const c = classify([...list], kind);
      const set = await storeModel(c, how);
      if (nodeType === 'encoder') setParam(nodeId, 'model', 'clip');
      setParam(nodeId, nodeType === 'enhance' ? 'weights' : 'source', paramRef(set));
      toast('info', `${title} ${nodeId}: ${set.name} stored (${formatBytes(set.files.reduce((s, f) => s + f.size, 0))}, sha256 ${set.id.slice(0, 12)}…); press Run.`, nodeId);
    } catch (err) {
      toast('error', `${title} ${nodeId}: ${(err as Error).message}`, nodeId);
    }
  }

  const ref = isModelRef(value) ? parseModelRef(value) : undefined;
  const stored = ref && findSet(sets, ref);
  return (
    <div
      className="drop model-drop nodrag"
      data-testid={`model-drop-${nodeId}`}
      onDragOver={(e) => {
        e.preventDefault();
        e.stopPropagation();
      }}
      onDrop={(e) => {
        e.preventDefault();
        e.stopPropagation();
        void take(e.dataTransfer.files, 'drop');
      }}
    >
      <div className="model-drop-buttons">
        {kind === 'enhancer' ? (
          <button type="button" onClick={() => files.current?.click()} disabled={Boolean(busy)}>Weights…</button>
        ) : (
          <>
            <button type="button" onClick={() => folder.current?.click()} disabled={Boolean(busy)}>CLIP folder…</button>
            <button type="button" onClick={() => files.current?.click()} disabled={Boolean(busy)}>CLIP files…</button>
          </>
        )}
      </div>
      {busy ? (
        <span className="drop-hint">{busy.label} {Math.round(100 * busy.progress)}%</span>
      ) : ref ? (
        stored ? (
          <span className="drop-hint" title={`sha256 ${stored.id}`}>stored: {stored.name} · {formatBytes(stored.files.reduce((s, f) => s + f.size, 0))}</span>
        ) : (
          <span className="drop-hint model-missing" data-testid={`model-missing-${nodeId}`}>not in this browser: {ref.file ?? ref.name} (sha256 {ref.hash.slice(0, 8)}…) — add it here</span>
        )
      ) : (
        <span className="drop-hint">or drop {kind === 'enhancer' ? '.pth / .safetensors / model.json + .bin' : 'config.json, model.safetensors, tokenizer.json'} here</span>
      )}
      <input
        ref={files}
        type="file"
        multiple
        hidden
        accept={kind === 'enhancer' ? '.pth,.pt,.safetensors,.json,.bin' : '.json,.safetensors,.txt'}
        data-testid={`model-files-${nodeId}`}
        onChange={(e) => {
          void take(e.target.files, 'file picker');
          e.target.value = '';
        }}
      />
      <input
        ref={folder}
        type="file"
        multiple
        hidden
        data-testid={`model-folder-${nodeId}`}
        onChange={(e) => {
          void take(e.target.files, 'folder picker');
          e.target.value = '';
        }}
      />
    </div>
  );
}
