import * as Comlink from 'comlink';
import type { WorkerApi } from '../worker/worker';

/** The one worker that runs graphs; the UI thread only renders. */
export const worker: Comlink.Remote<WorkerApi> = Comlink.wrap<WorkerApi>(
  new Worker(new URL('../worker/worker.ts', import.meta.url), { type: 'module', name: 'backlit-executor' }),
);
