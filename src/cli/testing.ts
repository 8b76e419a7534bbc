/** For tests and benches: run the real `backlit` command as a user does (a child process). */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { REPO_ROOT } from './nodeHost';

export const BACKLIT_BIN = path.join(REPO_ROOT, 'bin/backlit.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall time of the whole process, start-up included. */
  ms: number;
}

/** Spawns `node bin/backlit.js …args` without colours; `env` adds to this process's environment. */
export function runBacklit(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BACKLIT_BIN, ...args], { cwd: opts.cwd ?? REPO_ROOT, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...opts.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - t0 }));
  });
}
