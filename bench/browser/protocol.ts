/** What bench/browser-encode.ts (Node) and the bench page (bench/browser/main.ts) exchange. Types only. */
import type { BackendName } from '../../src/ml/backend';

export type BenchEncoder = 'stats' | 'clip';

export interface BenchOptions {
  backend: Exclude<BackendName, 'cpu'>;
  encoder: BenchEncoder;
  /** Images per encode call and their side (square). */
  batch: number;
  size: number;
  /** Seconds each timed loop runs for (after one warm-up call). */
  seconds: number;
  /** Encodes (batch 1) between the two numTensors readings. */
  leakEncodes: number;
  /** Where the tiny CLIP's config.json + model.safetensors are served, e.g. `/tiny-clip/`. */
  clipUrl: string;
  /** performance.now()-relative budget: loops stop early once this many ms have passed. */
  budgetMs: number;
}

export interface BenchResult {
  encoder: BenchEncoder;
  backend: string;
  /** The phase running now, or the last one reached (read back when the driver times out). */
  phase: 'init' | 'load' | 'warm-up' | 'forward' | 'leak warm-up' | 'leak' | 'grad warm-up' | 'grad' | 'done';
  /** The backend's adapter/renderer and threading, in words. */
  backendInfo?: string;
  space?: string;
  dim?: number;
  initMs?: number;
  /** First forward call (kernel/shader compilation, weight upload). */
  warmupMs?: number;
  forwardPerSecond?: number;
  forwardIterations?: number;
  gradPerSecond?: number;
  gradIterations?: number;
  tensorsBefore?: number;
  tensorsAfter?: number;
  /** How many of the leak-check encodes ran (fewer when the budget ran out). */
  leakEncodesDone?: number;
  error?: string;
}

declare global {
  interface Window {
    runBench?: (options: BenchOptions) => Promise<BenchResult>;
    /** The result being filled in, readable while runBench is still running. */
    benchResult?: BenchResult;
  }
}
