import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runBacklit } from './testing';

/** `backlit backends` and `run --backend …` as a user runs them (spawned CLI). */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BRIGHTEN = path.join(ROOT, 'graphs/brighten.json');
/** A JavaScript stack line ("    at foo (file.ts:1:2)"); Dawn's own native log lines name .cpp files. */
const JS_STACK = /^\s+at .+\.(ts|js|mjs|cjs):\d+/m;

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runBacklit(args, { env });

describe('backlit backends / --backend', () => {
  it('backends --json lists the adapter(s) with limits and a probe time or reason per backend', async () => {
    const r = await cli(['backends', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { adapters: Array<{ vendor: string; architecture: string; limits: Record<string, number> }>; probes: Record<string, number | string>; fastest: string; webgpuError?: string };
    expect(typeof report.probes.wasm).toBe('number');
    expect(typeof report.probes.cpu).toBe('number');
    if (report.adapters.length) {
      expect(typeof report.probes.webgpu).toBe('number');
      expect(report.adapters[0].limits.maxBufferSize).toBeGreaterThan(0);
      expect(report.adapters[0].architecture).not.toBe('');
    } else expect(report.probes.webgpu).toMatch(/apt-get install libvulkan1/);
    expect(['wasm', 'cpu', 'webgpu']).toContain(report.fastest);
  }, 300_000);

  it('run --backend auto says which backend it picked and why (stderr) and records it in --json', async () => {
    const out = path.join(os.tmpdir(), `backlit-auto-${process.pid}`);
    const r = await cli(['run', BRIGHTEN, '--out', out, '--json', '--set', 'load.maxCount=1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/backend: (wasm|cpu|webgpu) — --backend auto: fastest measured here \(/);
    const json = JSON.parse(r.stdout) as { backend: string; backendReason: string };
    expect(json.backendReason).toMatch(/fastest measured here/);
    expect(json.backendReason).toContain(json.backend);
  }, 300_000);

  it('run --backend webgpu without an adapter fails with the fix named, not a stack trace', async () => {
    const r = await cli(['run', BRIGHTEN, '--backend', 'webgpu', '--out', path.join(os.tmpdir(), 'never')], { VK_ICD_FILENAMES: '/nonexistent/icd.json' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: --backend webgpu: WebGPU is not available here: no WebGPU adapter.*apt-get install libvulkan1 chromium.*--backend wasm\.$/m);
    expect(r.stderr).not.toMatch(JS_STACK);
  }, 120_000);
});
