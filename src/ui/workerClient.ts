import * as Comlink from 'comlink';
import type { WorkerApi } from '../worker/worker';

/** The one worker that runs graphs; the UI thread only renders. */
export const worker: Comlink.Remote<WorkerApi> = Comlink.wrap<WorkerApi>(
  new Worker(new URL('../worker/worker.ts', import.meta.url), { type: 'module', name: 'backlit-executor' }),
);

// e2e tests reach the worker through this (e.g. to simulate a lost GPU device); nothing in the app reads it.
(globalThis as { __backlitWorker?: typeof worker }).__backlitWorker = worker;
