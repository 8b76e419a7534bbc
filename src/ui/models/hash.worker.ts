/// <reference lib="webworker" />
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

/**
 * SHA-256 of picked/dropped model files, off the UI thread and incrementally: a File is read in
 * 8 MiB slices (a 600 MB CLIP checkpoint is never whole in memory here), each fed to the hasher.
 * Messages: in { id, file }; out { id, done, total } progress, then { id, sha256 } or { id, error }.
 */
const CHUNK = 8 * 1024 * 1024;

self.onmessage = async (e: MessageEvent<{ id: number; file: Blob }>) => {
  const { id, file } = e.data;
  try {
    const h = sha256.create();
    for (let at = 0; at < file.size; at += CHUNK) {
      h.update(new Uint8Array(await file.slice(at, Math.min(file.size, at + CHUNK)).arrayBuffer()));
      (self as unknown as Worker).postMessage({ id, done: Math.min(file.size, at + CHUNK), total: file.size });
    }
    (self as unknown as Worker).postMessage({ id, sha256: bytesToHex(h.digest()) });
  } catch (err) {
    (self as unknown as Worker).postMessage({ id, error: (err as Error).message });
  }
};
