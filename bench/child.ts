import { spawnSync } from 'node:child_process';

/**
 * Runs one bench child process (a fresh process per measurement, so one task's heap, threads and
 * caches never colour the next) and reads the JSON object it prints as its last stdout line.
 * Returns the error text instead when the child fails or prints something else.
 */
export function runChild<T>(cmd: string, args: string[], timeoutMs: number): T | string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20 });
  if (r.status !== 0) return (r.error?.message ?? r.stderr.trim().split('\n').slice(-3).join(' ')) || `exit ${r.status}`;
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as T;
  } catch {
    return `unreadable output: ${r.stdout.slice(-200)}`;
  }
}
