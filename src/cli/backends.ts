import * as path from 'node:path';
import { pickFastest, probeActiveBackend, useBackend, type BackendName, type ProbeResults } from '../ml/backend';
import { REPO_ROOT } from './nodeHost';
import { listAdapters, prepareWebGPU, type AdapterReport } from './webgpu';

/** Backends the CLI can run on (webgl needs a browser). `auto` measures and picks the fastest. */
export const CLI_BACKENDS = ['auto', 'webgpu', 'wasm', 'cpu'] as const;
export type CliBackend = (typeof CLI_BACKENDS)[number];

export const WASM_DIR = path.join(REPO_ROOT, 'node_modules/@tensorflow/tfjs-backend-wasm/dist/');

/** The requested backend cannot run here; the message names the fix (the CLI prints it without a stack). */
export class BackendUnavailable extends Error {}

export interface BackendSelection {
  chosen: BackendName;
  reason: string;
  measured: ProbeResults;
  adapter?: AdapterReport;
  notes: string[];
}

function adapterLabel(a: AdapterReport): string {
  return `${a.vendor || '?'} ${a.architecture || a.description || '?'}${a.software ? ', software (CPU) Vulkan' : ''}`;
}

/**
 * Activates the backend `--backend` asks for. `webgpu` without a usable adapter is a BacklitError
 * naming the fix (never a stack trace); `auto` times `probeActiveBackend` (the browser worker's
 * probe) on wasm, webgpu (when an adapter exists) and cpu, and keeps the fastest.
 */
export async function selectBackend(requested: CliBackend): Promise<BackendSelection> {
  if (requested === 'wasm' || requested === 'cpu') {
    await useBackend(requested, { wasmDir: WASM_DIR });
    return { chosen: requested, reason: `${requested} chosen with --backend`, measured: {}, notes: [] };
  }
  const gpu = await prepareWebGPU();
  if (requested === 'webgpu') {
    if (!gpu.ok) throw new BackendUnavailable(`--backend webgpu: WebGPU is not available here: ${gpu.error} Or run with --backend wasm.`);
    await startWebGPU();
    return { chosen: 'webgpu', reason: `webgpu chosen with --backend (adapter: ${adapterLabel(gpu.adapter)})`, measured: {}, adapter: gpu.adapter, notes: gpu.notes };
  }
  // A software adapter (SwiftShader) compiles every shader on the CPU and runs ~100× slower than
  // wasm on the same cores (measured: probe 1.4 s vs 2.4 ms), and its first probe alone takes
  // seconds: it is never the fastest, so auto does not spend that time on it (--backend webgpu forces it).
  const skip: ProbeResults = !gpu.ok ? { webgpu: gpu.error } : gpu.adapter.software ? { webgpu: `only a software adapter (${gpu.adapter.architecture}): not timed, always slower than wasm; --backend webgpu forces it` } : {};
  const picked = await pickFastest(['wasm', 'webgpu', 'cpu'], { wasmDir: WASM_DIR, skip });
  const adapter = gpu.ok ? gpu.adapter : undefined;
  const on = adapter && typeof picked.measured.webgpu === 'number' ? ` [webgpu adapter: ${adapterLabel(adapter)}]` : '';
  return { chosen: picked.chosen, reason: `--backend auto: ${picked.reason}${on}`, measured: picked.measured, adapter, notes: gpu.ok ? gpu.notes : [] };
}

async function startWebGPU(): Promise<void> {
  try {
    await useBackend('webgpu');
  } catch (err) {
    throw new BackendUnavailable(`--backend webgpu: Dawn found an adapter but tfjs could not start on it (${(err as Error).message}); run \`backlit backends\` to see the adapter, or use --backend wasm.`);
  }
}

export interface BackendsReport {
  adapters: AdapterReport[];
  /** Setup notes (SwiftShader default, XDG_RUNTIME_DIR) and why WebGPU is missing when it is. */
  notes: string[];
  webgpuError?: string;
  /** Probe median ms per backend, or why it did not run. */
  probes: ProbeResults;
  fastest?: BackendName;
}

/** `backlit backends`: adapters Dawn offers and the probe timed on every CLI backend. */
export async function backendsReport(): Promise<BackendsReport> {
  const { setup, adapters } = await listAdapters();
  const gpu = await prepareWebGPU();
  const probes: ProbeResults = {};
  for (const name of ['wasm', 'webgpu', 'cpu'] as const) {
    if (name === 'webgpu' && !gpu.ok) {
      probes.webgpu = gpu.error;
      continue;
    }
    try {
      await useBackend(name, { wasmDir: WASM_DIR });
      probes[name] = await probeActiveBackend();
    } catch (err) {
      probes[name] = (err as Error).message;
    }
  }
  const timed = Object.entries(probes).filter((e): e is [BackendName, number] => typeof e[1] === 'number').sort((a, b) => a[1] - b[1]);
  return { adapters, notes: setup.notes, webgpuError: gpu.ok ? undefined : gpu.error, probes, fastest: timed[0]?.[0] };
}

export function formatBackendsReport(r: BackendsReport): string {
  const lines: string[] = [];
  lines.push(r.adapters.length ? 'WebGPU adapters (Dawn):' : 'WebGPU adapters (Dawn): none');
  for (const a of r.adapters) {
    lines.push(`  ${a.request}: vendor ${a.vendor || '?'}, architecture ${a.architecture || '?'}${a.description ? `, ${a.description}` : ''}${a.software ? ' — software Vulkan (correct but slow)' : ''}`);
    lines.push(`    limits: ${Object.entries(a.limits).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  }
  if (r.webgpuError) lines.push(`  ${r.webgpuError}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  lines.push('Probe (96² conv 3→32 + 256² matMul, median of 3 after a warm-up):');
  for (const [name, v] of Object.entries(r.probes)) lines.push(`  ${name.padEnd(7)} ${typeof v === 'number' ? `${v.toFixed(1)} ms${name === r.fastest ? '  ← fastest (what --backend auto picks)' : ''}` : `unavailable: ${v}`}`);
  return `${lines.join('\n')}\n`;
}

export function describeSelection(s: BackendSelection): string {
  return `backend: ${s.chosen} — ${s.reason}${s.notes.length ? ` (${s.notes.join('; ')})` : ''}`;
}
