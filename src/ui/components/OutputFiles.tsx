import { worker } from '../workerClient';

/** Download links for what an Output node wrote (kept in the worker's memory). */
export function OutputFiles({ rows }: { rows: Array<Record<string, string | number>> }) {
  async function download(location: string, name: string) {
    const bytes = await worker.getOutput(location);
    if (!bytes) return;
    const url = URL.createObjectURL(new Blob([bytes as BlobPart]));
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
  async function downloadAll() {
    for (const r of rows) await download(String(r.location), String(r.name));
  }
  return (
    <div className="files nodrag" data-testid="output-files">
      <button type="button" onClick={() => void downloadAll()}>Download all ({rows.length})</button>
      {rows.slice(0, 6).map((r) => (
        <a key={String(r.location)} href="#" onClick={(e) => { e.preventDefault(); void download(String(r.location), String(r.name)); }}>
          {String(r.name)}
        </a>
      ))}
    </div>
  );
}
