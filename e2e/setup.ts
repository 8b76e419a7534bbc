import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { TestProject } from 'vitest/node';

const PORT = Number(process.env.E2E_PORT ?? 4317);
// One build folder per port, so two e2e runs on one machine (different E2E_PORT) never share a bundle.
const OUT_DIR = PORT === 4317 ? 'dist' : `dist-e2e-${PORT}`;
let server: ChildProcess | undefined;

/** Builds the app once and serves the build (no HMR reloads mid-test, same bundle users get). */
export default async function setup(project: TestProject) {
  const build = spawnSync('npx', ['vite', 'build', '--logLevel', 'warn', '--outDir', OUT_DIR], { stdio: 'inherit' });
  if (build.status !== 0) throw new Error('vite build failed; see the output above.');
  server = spawn('npx', ['vite', 'preview', '--port', String(PORT), '--strictPort', '--outDir', OUT_DIR], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  await waitForServer(`http://127.0.0.1:${PORT}/`);
  project.provide('baseUrl', `http://127.0.0.1:${PORT}/`);
  return () => {
    if (server?.pid) process.kill(-server.pid);
  };
}

async function waitForServer(url: string) {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`The preview server did not start at ${url}.`);
}

declare module 'vitest' {
  export interface ProvidedContext {
    baseUrl: string;
  }
}
