import { existsSync, readdirSync } from 'node:fs';
import * as os from 'node:os';

/**
 * WebGPU in Node (CLI and tests only; src/ml and src/engine never import Node): Dawn's
 * `dawn.node` from the npm package `webgpu` provides `navigator.gpu`, so tfjs-backend-webgpu's
 * WGSL kernels run here exactly as in the browser.
 *
 * Without a GPU, Dawn's Vulkan backend runs on SwiftShader (a CPU Vulkan implementation) through
 * Debian Chromium's ICD; `installNodeWebGPU` points Vulkan at it when the user has not chosen an
 * ICD. Debian 12's Mesa lavapipe is refused by Dawn (missing shaderUniform*ArrayDynamicIndexing),
 * so SwiftShader is the only software path that works here.
 */

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export const WEBGPU_FIX =
  'install a Vulkan driver for your GPU (NVIDIA: its driver; AMD/Intel: mesa-vulkan-drivers) and the loader `apt-get install libvulkan1`; ' +
  `without a GPU, \`apt-get install libvulkan1 chromium\` provides SwiftShader (software, slow) at ${SWIFTSHADER_ICD}, used automatically.`;

export interface WebGPUSetup {
  /** navigator.gpu is installed (dawn.node loaded). */
  ok: boolean;
  /** What was set up and why (e.g. the SwiftShader default), for `backlit backends` and `--backend auto`. */
  notes: string[];
  /** Why WebGPU is unavailable, with the fix; set when !ok. */
  error?: string;
}

export interface AdapterReport {
  request: string;
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter?: boolean;
  /** True when this is SwiftShader (CPU emulation: correct but slow). */
  software: boolean;
  features: string[];
  limits: Record<string, number>;
}

let setup: Promise<WebGPUSetup> | undefined;

/**
 * Loads dawn.node and installs `navigator.gpu` and the WebGPU globals (GPUBufferUsage, …) once.
 * Must run before `useBackend('webgpu')` first imports tfjs-backend-webgpu, which registers the
 * backend only if navigator.gpu exists at that moment. Never throws: a failure is in `error`.
 */
export function installNodeWebGPU(env: NodeJS.ProcessEnv = process.env): Promise<WebGPUSetup> {
  setup ??= (async () => {
    const notes: string[] = [];
    if (!env.VK_ICD_FILENAMES && !env.VK_DRIVER_FILES && existsSync(SWIFTSHADER_ICD) && !hasGpuDevice()) {
      env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
      notes.push(`no GPU device node (/dev/nvidia*, /dev/dri/renderD*): using SwiftShader (software Vulkan) via VK_ICD_FILENAMES=${SWIFTSHADER_ICD}`);
    }
    if (!env.XDG_RUNTIME_DIR) {
      env.XDG_RUNTIME_DIR = os.tmpdir();
      notes.push(`XDG_RUNTIME_DIR was unset: set to ${os.tmpdir()}`);
    }
    const loader = findVulkanLoader(env);
    if (loader === null) return { ok: false, notes, error: `the Vulkan loader libvulkan.so.1 is missing; ${WEBGPU_FIX}` };
    try {
      const { create, globals } = (await import('webgpu')) as { create(flags: string[]): unknown; globals: object };
      Object.assign(globalThis, globals);
      const gpu = create([]);
      const nav = (globalThis as { navigator?: object }).navigator;
      if (nav) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
      else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
      return { ok: true, notes };
    } catch (err) {
      const msg = (err as Error).message.split('\n')[0];
      return { ok: false, notes, error: `WebGPU could not load Dawn (${msg}); ${WEBGPU_FIX}` };
    }
  })();
  return setup;
}

/**
 * Where libvulkan.so.1 is (Dawn loads it at run time), null when it is surely absent, undefined
 * when this platform is not Linux (let Dawn look).
 */
function findVulkanLoader(env: NodeJS.ProcessEnv): string | null | undefined {
  if (process.platform !== 'linux') return undefined;
  const dirs = [...(env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib64', '/usr/local/lib'];
  for (const d of dirs) if (existsSync(`${d}/libvulkan.so.1`)) return `${d}/libvulkan.so.1`;
  return null;
}

/** A GPU the kernel exposes (NVIDIA's device node or a DRM render node); then Vulkan is left to find its driver. */
function hasGpuDevice(): boolean {
  const list = (d: string) => {
    try {
      return readdirSync(d);
    } catch {
      return [];
    }
  };
  return list('/dev').some((f) => /^nvidia\d+$/.test(f)) || list('/dev/dri').some((f) => f.startsWith('renderD'));
}

interface GpuLike {
  requestAdapter(o?: { powerPreference?: string; forceFallbackAdapter?: boolean }): Promise<AdapterLike | null>;
}
interface AdapterLike {
  info?: { vendor: string; architecture: string; device: string; description: string; isFallbackAdapter?: boolean };
  features: Iterable<string>;
  limits: Record<string, number>;
}

const LIMITS = [
  'maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage',
];

/** The adapters Dawn offers (high-performance, low-power; duplicates merged). Empty when none. */
export async function listAdapters(): Promise<{ setup: WebGPUSetup; adapters: AdapterReport[] }> {
  const s = await installNodeWebGPU();
  if (!s.ok) return { setup: s, adapters: [] };
  const gpu = (globalThis as unknown as { navigator: { gpu: GpuLike } }).navigator.gpu;
  const adapters: AdapterReport[] = [];
  for (const powerPreference of ['high-performance', 'low-power'] as const) {
    const a = await gpu.requestAdapter({ powerPreference }).catch(() => null);
    if (!a) continue;
    const info = a.info ?? { vendor: '?', architecture: '?', device: '?', description: '?' };
    const limits: Record<string, number> = {};
    for (const k of LIMITS) if (typeof a.limits[k] === 'number') limits[k] = a.limits[k];
    const report: AdapterReport = {
      request: powerPreference,
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      isFallbackAdapter: info.isFallbackAdapter,
      software: /swiftshader|llvmpipe|lavapipe/i.test(`${info.architecture} ${info.description} ${info.device}`),
      features: [...a.features].sort(),
      limits,
    };
    if (!adapters.some((x) => x.vendor === report.vendor && x.architecture === report.architecture && x.description === report.description)) adapters.push(report);
  }
  return { setup: s, adapters };
}

/**
 * Makes WebGPU usable by tfjs or explains why not: Dawn loads and offers an adapter. Returns the
 * adapter (so the caller can say "webgpu on swiftshader") or a message naming the fix.
 */
export async function prepareWebGPU(): Promise<{ ok: true; adapter: AdapterReport; notes: string[] } | { ok: false; error: string; notes: string[] }> {
  const { setup: s, adapters } = await listAdapters();
  if (!s.ok) return { ok: false, error: s.error!, notes: s.notes };
  if (!adapters.length) {
    const icd = process.env.VK_ICD_FILENAMES ? ` (VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES})` : '';
    return { ok: false, error: `no WebGPU adapter: Dawn found no usable Vulkan device${icd}; ${WEBGPU_FIX}`, notes: s.notes };
  }
  return { ok: true, adapter: adapters[0], notes: s.notes };
}
