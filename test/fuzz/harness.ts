import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import sharp from 'sharp';
import { NodeHost } from '../../src/cli/nodeHost';
import { BacklitError, Executor, NodeRegistry, loadGraph, type AnyNodeDefinition, type ErrorInfo, type Graph } from '../../src/engine';
import { MemoryHost } from '../../src/engine/testing/memoryHost';
import { fakeContext } from '../../src/engine/testing/build';
import { EnhancerNet } from '../../src/ml/enhancer/network';
import { PthError, readPth } from '../../src/ml/pth';
import { writePth } from '../../src/ml/pthWriter';
import { SafetensorsError, SafetensorsFile, encodeSafetensors } from '../../src/ml/safetensors';
import { encodeEnhancer } from '../../src/ml/training/enhancerFiles';
import enhance from '../../nodes/enhance';
import exposure from '../../nodes/exposure';
import imageLoader from '../../nodes/imageLoader';
import output from '../../nodes/output';

/**
 * Property-based fuzzing (fast-check) of everything a user or attacker controls: graph JSON
 * (structure, ids, params, edges), param values and path-like strings, and the bytes of .pth,
 * safetensors, PNG and JPEG files. Shared by the bounded, seeded run in `npm test`
 * (test/fuzz/fuzz.test.ts) and the long run (bench/fuzz.ts).
 *
 * Properties, checked on every case:
 * - nothing is ever written outside the output folder (a sandbox tree around it is scanned);
 * - a run with a failed node never reports ok;
 * - no raw JavaScript error text reaches a message (TypeError, "Cannot read properties", …);
 * - every problem names a node, a field or the file;
 * - memory stays bounded (decoded pixels ≤ the limit, materialised tensors ≤ the file's storages,
 *   process RSS growth under MEMORY_BOUND).
 */
export const RAW_JS = /\b(TypeError|ReferenceError|SyntaxError|RangeError|InternalError)\b|Cannot read propert|Cannot set propert|Cannot destructure|is not a function|is not iterable|is not a constructor|undefined is not|null is not|Maximum call stack|Invalid array length|Invalid typed array length|\[object Object\]/;

export const MEMORY_BOUND = 1024 * 2 ** 20;

export interface FuzzOptions {
  seed: number;
  /** Cases per property (each property scales it by its own cost). */
  runs: number;
  log?(line: string): void;
}

export class FuzzFailure extends Error {}

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new FuzzFailure(what);
}

/** A user-facing error is well-formed: message and fix, no raw JS text, bounded, names where. */
export function checkErrorInfo(e: ErrorInfo, where: string): void {
  check(typeof e.message === 'string' && e.message.length > 0, `${where}: error without message ${JSON.stringify(e).slice(0, 300)}`);
  check(typeof e.fix === 'string', `${where}: error without fix: ${e.message.slice(0, 200)}`);
  const text = `${e.message} ${e.fix} ${e.field ?? ''}`;
  check(text.length < 4000, `${where}: message of ${text.length} chars`);
  check(!RAW_JS.test(text), `${where}: raw JS error text: ${text.slice(0, 300)}`);
  const whole = ['graph-not-json', 'graph-not-object', 'graph-format', 'graph-version-newer', 'graph-version-invalid'];
  check(Boolean(e.nodeId || e.field || whole.includes(e.code)), `${where}: error names neither node nor field: ${text.slice(0, 200)}`);
}

function checkThrown(err: unknown, where: string, names: string): void {
  const message = err instanceof BacklitError ? `${err.info.message} ${err.info.fix}` : (err as Error)?.message ?? String(err);
  check(!RAW_JS.test(message), `${where}: raw JS error text: ${message.slice(0, 300)}`);
  check(message.includes(names), `${where}: message does not name ${names}: ${message.slice(0, 300)}`);
}

// ---- arbitraries --------------------------------------------------------------------------------

const RESERVED = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];
const idArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('load', 'fix', 'save', 'a', 'b') },
  { weight: 2, arbitrary: fc.constantFrom(...RESERVED) },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', 'x'.repeat(300), 'a.b', 'é', '\u0000', '../x') },
);

/** Path-like strings: traversal, absolute, symlink names, separators, NUL, long, unicode. */
export function pathLikeArb(sandbox: string): fc.Arbitrary<string> {
  const segment = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('..', '.', '', 'a', 'sub', 'link', 'x.png', 'victim', '~', 'C:', 'é', ' ') },
    { weight: 1, arbitrary: fc.constantFrom('\\', '..\\..', '\u0000', 'a'.repeat(256), '%2e%2e', '….', '.safetensors') },
    { weight: 2, arbitrary: fc.string({ maxLength: 6 }) },
  );
  return fc.oneof(
    { weight: 5, arbitrary: fc.array(segment, { maxLength: 6 }).map((s) => s.join('/')) },
    { weight: 1, arbitrary: fc.array(segment, { maxLength: 4 }).map((s) => `/${s.join('/')}`) },
    { weight: 1, arbitrary: fc.constantFrom(sandbox, `${sandbox}/victim`, `${sandbox}/out-evil`, `${sandbox}/out/../victim`) },
  );
}

function paramValueArb(sandbox: string): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 3, arbitrary: pathLikeArb(sandbox) },
    { weight: 2, arbitrary: fc.oneof(fc.integer({ min: -5, max: 100 }), fc.double({ noNaN: true }), fc.boolean(), fc.constant(null)) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.constantFrom('png', 'jpeg', 'tiled', 'x'.repeat(5000), -1e308, 1e308) },
  );
}

const PARAM_NAMES = ['source', 'maxCount', 'maxSide', 'maxMegapixels', 'stops', 'gamma', 'folder', 'format', 'quality', 'suffix', 'overwrite', 'weights', 'mode', 'checkpoint', 'exportAs', 'saveAs', ...RESERVED];
const PORTS = ['images', 'files', 'report', 'enhancer', 'x', '__proto__', ''];
const TYPES = ['image-loader', 'exposure', 'output', 'enhance', 'enhancer-trainer', 'residual-vector', 'no-such-type', 'constructor'];

/** Graph JSON: mostly graph-shaped, with any field replaced by something odd now and then. */
export function graphArb(sandbox: string, types = TYPES): fc.Arbitrary<unknown> {
  const params = fc.dictionary(fc.oneof(fc.constantFrom(...PARAM_NAMES), fc.string({ maxLength: 6 })), paramValueArb(sandbox), { maxKeys: 4 });
  const node = fc.record({ id: idArb, type: fc.constantFrom(...types), params, position: fc.constant({ x: 0, y: 0 }) }, { requiredKeys: ['id', 'type'] });
  const ref = fc.record({ node: idArb, port: fc.constantFrom(...PORTS) });
  const edge = fc.record({ from: ref, to: ref });
  const odd = fc.oneof(fc.constant(null), fc.constant([]), fc.constant({}), fc.string({ maxLength: 4 }), fc.integer(), fc.jsonValue({ maxDepth: 2 }));
  const maybeOdd = <T>(a: fc.Arbitrary<T>) => fc.oneof({ weight: 9, arbitrary: a as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: odd });
  return fc.record({
    format: maybeOdd(fc.constant('backlit-graph')),
    version: fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, { weight: 2, arbitrary: fc.constantFrom(0, 2, -1, 1.5, '1') }),
    nodes: maybeOdd(fc.array(maybeOdd(node), { maxLength: 5 })),
    edges: maybeOdd(fc.array(maybeOdd(edge), { maxLength: 6 })),
    links: fc.option(fc.array(fc.array(idArb, { maxLength: 4 }), { maxLength: 3 }), { nil: undefined }),
    meta: maybeOdd(fc.dictionary(fc.oneof(fc.string({ maxLength: 5 }), fc.constantFrom(...RESERVED)), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 2 })),
  });
}

/** A graph the runner can execute cheaply: loader → [exposure] → output, mostly valid, params fuzzed. */
export function runnableGraphArb(sandbox: string): fc.Arbitrary<unknown> {
  const odd = paramValueArb(sandbox);
  const mostly = <T>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 12, arbitrary: good as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: odd });
  // Names the schema accepts, including the symlink out/link (only the host can refuse that one) and "..x" look-alikes.
  const benignSegment = fc.oneof(fc.constantFrom('a', 'sub', 'link', '..x', '.hidden', 'x.png', '-', '_'), fc.stringMatching(/^[\w.-]{1,6}$/));
  const benignFolder = fc.array(benignSegment, { maxLength: 3 }).map((p) => p.join('/'));
  const benignSuffix = fc.oneof(fc.constantFrom('', '-x', '..', '.', '.png', '.prev'), fc.stringMatching(/^[\w .-]{0,8}$/));
  return fc
    .record({
      source: fc.constantFrom('in/a.png', 'in/*', 'in/bad.png', 'nothing/*', 'in/a.png;in/b.jpg'),
      loader: fc.record({ maxCount: mostly(fc.integer({ min: 1, max: 3 })), maxSide: mostly(fc.constantFrom(0, 8, 64)), maxMegapixels: mostly(fc.constantFrom(0.01, 1, 50)) }, { requiredKeys: [] }),
      exposure: fc.option(fc.record({ stops: mostly(fc.double({ min: -8, max: 8, noNaN: true })), gamma: mostly(fc.double({ min: 0.1, max: 10, noNaN: true })) }, { requiredKeys: [] }), { nil: undefined }),
      out: fc.record(
        {
          folder: fc.oneof({ weight: 3, arbitrary: benignFolder }, { weight: 1, arbitrary: pathLikeArb(sandbox) }),
          suffix: fc.oneof({ weight: 3, arbitrary: benignSuffix }, { weight: 1, arbitrary: pathLikeArb(sandbox) }),
          overwrite: mostly(fc.boolean()),
          format: mostly(fc.constantFrom('png', 'jpeg')),
          quality: mostly(fc.integer({ min: 1, max: 100 })),
        },
        { requiredKeys: [] },
      ),
      ids: fc.oneof({ weight: 8, arbitrary: fc.constant(['load', 'fix', 'save']) }, { weight: 1, arbitrary: fc.tuple(idArb, idArb, idArb) }),
    })
    .map(({ source, loader, exposure: ex, out, ids }) => {
      const [l, e, o] = ids;
      const nodes: unknown[] = [{ id: l, type: 'image-loader', params: { source, ...loader } }, { id: o, type: 'output', params: out }];
      const edges: unknown[] = [];
      if (ex) {
        nodes.splice(1, 0, { id: e, type: 'exposure', params: ex });
        edges.push({ from: { node: l, port: 'images' }, to: { node: e, port: 'images' } }, { from: { node: e, port: 'images' }, to: { node: o, port: 'images' } });
      } else edges.push({ from: { node: l, port: 'images' }, to: { node: o, port: 'images' } });
      return { format: 'backlit-graph', version: 1, nodes, edges, meta: {} };
    });
}

// ---- byte mutation ------------------------------------------------------------------------------

type Mutation =
  | { kind: 'flip'; pos: number; bit: number }
  | { kind: 'set'; pos: number; value: number }
  | { kind: 'u32'; pos: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; pos: number; bytes: number[] }
  | { kind: 'delete'; pos: number; count: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), pos: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('set' as const), pos: fc.nat(), value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0x2e, 0x28, 0x74) }),
  fc.record({ kind: fc.constant('u32' as const), pos: fc.nat(), value: fc.constantFrom(0, 1, 0x7fffffff, 0xffffffff, 65536, 16000, 1 << 24) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(), bytes: fc.array(fc.nat(255), { minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), pos: fc.nat(), count: fc.integer({ min: 1, max: 16 }) }),
);
export const mutationsArb = fc.array(mutationArb, { minLength: 1, maxLength: 6 });

/** Applies mutations; positions wrap around the current length. `hot` biases positions to a region. */
export function mutate(input: Uint8Array, mutations: Mutation[], hot?: [number, number]): Uint8Array {
  let b = Array.from(input);
  for (const m of mutations) {
    if (b.length === 0) break;
    const span = hot && hot[1] <= b.length ? hot : [0, b.length];
    const at = (p: number) => span[0] + (p % Math.max(1, span[1] - span[0]));
    switch (m.kind) {
      case 'flip': b[at(m.pos)] ^= 1 << m.bit; break;
      case 'set': b[at(m.pos)] = m.value; break;
      case 'u32': { const p = at(m.pos); for (let i = 0; i < 4 && p + i < b.length; i++) b[p + i] = (m.value >>> (8 * (3 - i))) & 0xff; break; }
      case 'truncate': b = b.slice(0, m.at % b.length); break;
      case 'insert': { const p = at(m.pos); b.splice(p, 0, ...m.bytes); break; }
      case 'delete': b.splice(at(m.pos), m.count); break;
    }
  }
  return new Uint8Array(b);
}

// ---- sandbox --------------------------------------------------------------------------------------

/**
 * out/ sits 8 folders deep inside the sandbox, and generated paths climb at most 6 levels or are
 * absolute paths inside the sandbox, so any escape lands in the sandbox, where scanning sees it.
 * out/link is a symlink to sandbox/victim (outside out/).
 */
export class Sandbox {
  private constructor(readonly root: string, readonly out: string, readonly inputs: string) {}

  static async create(): Promise<Sandbox> {
    const root = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'backlit-fuzz-')));
    const out = path.join(root, 's1/s2/s3/s4/s5/s6/s7/s8/out');
    const inputs = path.join(root, 'inputs');
    await fs.mkdir(out, { recursive: true });
    await fs.mkdir(path.join(root, 'victim'), { recursive: true });
    await fs.mkdir(path.join(inputs, 'in'), { recursive: true });
    await fs.symlink(path.join(root, 'victim'), path.join(out, 'link'));
    const png = await sharp({ create: { width: 16, height: 12, channels: 3, background: { r: 200, g: 120, b: 40 } } }).png().toBuffer();
    const jpg = await sharp({ create: { width: 12, height: 8, channels: 3, background: { r: 20, g: 60, b: 90 } } }).jpeg().toBuffer();
    await fs.writeFile(path.join(inputs, 'in/a.png'), png);
    await fs.writeFile(path.join(inputs, 'in/b.jpg'), jpg);
    await fs.writeFile(path.join(inputs, 'in/bad.png'), 'not a png');
    return new Sandbox(root, out, inputs);
  }

  /** Files and folders anywhere in the sandbox but outside out/ and inputs/ that were not there at the start. */
  async escaped(): Promise<string[]> {
    const expected = new Set(['inputs', 'victim', ...['s1', 's2', 's3', 's4', 's5', 's6', 's7', 's8'].map((_, i, a) => a.slice(0, i + 1).join('/'))]);
    const found: string[] = [];
    for (const e of await fs.readdir(this.root, { recursive: true, withFileTypes: true })) {
      const rel = path.relative(this.root, path.join(e.parentPath, e.name));
      if (rel.startsWith('inputs') || rel.startsWith(path.relative(this.root, this.out))) continue;
      if (!expected.has(rel)) found.push(rel);
    }
    return found;
  }

  async clearOut(): Promise<void> {
    for (const e of await fs.readdir(this.out)) if (e !== 'link') await fs.rm(path.join(this.out, e), { recursive: true, force: true });
  }

  async dispose(): Promise<void> {
    await fs.rm(this.root, { recursive: true, force: true });
  }
}

// ---- properties ---------------------------------------------------------------------------------

async function runProperty<T>(name: string, arb: fc.Arbitrary<T>, body: (v: T) => Promise<void>, opts: FuzzOptions, runs: number): Promise<{ name: string; runs: number; ms: number }> {
  const t0 = performance.now();
  await fc.assert(fc.asyncProperty(arb, body), { seed: opts.seed, numRuns: runs, endOnFailure: true });
  const ms = performance.now() - t0;
  opts.log?.(`${name}: ${runs} cases in ${(ms / 1000).toFixed(1)} s`);
  return { name, runs, ms };
}

/** P1: loadGraph never throws on any JSON, and every problem is a well-formed, located message. */
export async function fuzzGraphValidation(registry: NodeRegistry, sandbox: Sandbox, opts: FuzzOptions) {
  return runProperty('graph JSON validation', graphArb(sandbox.root), async (g) => {
    const text = JSON.stringify(g);
    const result = loadGraph(text, registry);
    check(result.errors.length > 0 || result.graph, 'neither a graph nor errors');
    for (const e of result.errors) checkErrorInfo(e, 'validate');
  }, opts, opts.runs * 4);
}

/** P1b: byte-mutated graph files (an example graph) never make loadGraph throw. */
export async function fuzzGraphText(registry: NodeRegistry, example: string, opts: FuzzOptions) {
  const bytes = new TextEncoder().encode(example);
  return runProperty('graph file bytes', mutationsArb, async (m) => {
    const text = new TextDecoder().decode(mutate(bytes, m));
    const result = loadGraph(text, registry);
    for (const e of result.errors) if (e.code !== 'graph-not-json') checkErrorInfo(e, 'validate(mutated file)');
  }, opts, opts.runs * 2);
}

/** Cheap real nodes for execution (Image Loader, Exposure, Output). */
export function runnerRegistry(): NodeRegistry {
  return new NodeRegistry([imageLoader, exposure, output] as AnyNodeDefinition[]);
}

/** P2: executing fuzzed graphs writes only inside out/, never reports ok with a failed node, names nodes. */
export async function fuzzRuns(sandbox: Sandbox, opts: FuzzOptions) {
  const registry = runnerRegistry();
  const seen = { refused: 0, ran: 0, ok: 0, wrote: 0 };
  const runs = opts.runs * 2;
  const result = await runProperty('graph runs (CLI host)', runnableGraphArb(sandbox.root), async (g) => {
    const loaded = loadGraph(JSON.stringify(g), registry);
    for (const e of loaded.errors) checkErrorInfo(e, 'validate');
    if (!loaded.graph || loaded.errors.length) {
      seen.refused++;
      return;
    }
    seen.ran++;
    const host = new NodeHost({ baseDirs: [sandbox.inputs], outDir: sandbox.out });
    const executor = new Executor(registry, host);
    const before = tf.memory().numTensors;
    try {
      const summary = await executor.run(loaded.graph as Graph);
      if (summary.ok) seen.ok++;
      const statuses = Object.values(summary.nodes).map((r) => r.status);
      const failed = statuses.some((s) => s !== 'done' && s !== 'cached') || summary.errors.length > 0;
      check(summary.ok === !failed, `ok=${summary.ok} with statuses ${statuses.join(',')} and ${summary.errors.length} graph error(s)`);
      if (!summary.errors.length) check(Object.keys(summary.nodes).length === loaded.graph.nodes.length, `summary has ${Object.keys(summary.nodes).length} nodes, graph ${loaded.graph.nodes.length}`);
      for (const e of summary.errors) checkErrorInfo(e, 'run (graph)');
      for (const [id, r] of Object.entries(summary.nodes)) {
        if (r.status === 'error') {
          check(r.error, `node ${id} failed without an error`);
          checkErrorInfo(r.error, `run node ${id}`);
          check(r.error.nodeId === id, `error of ${id} names ${r.error.nodeId}`);
        }
      }
    } finally {
      executor.dispose();
    }
    check(tf.memory().numTensors === before, `leaked ${tf.memory().numTensors - before} tensors`);
    const escaped = await sandbox.escaped();
    check(escaped.length === 0, `wrote outside the output folder: ${escaped.join(', ')} (graph ${JSON.stringify(g).slice(0, 400)})`);
    if ((await fs.readdir(sandbox.out)).length > 1) seen.wrote++;
    await sandbox.clearOut();
  }, opts, runs);
  opts.log?.(`graph runs: ${seen.refused} refused by validate, ${seen.ran} ran (${seen.ok} ok, ${seen.wrote} wrote files)`);
  // Not vacuous: a good share of the cases must get past validation and write something.
  check(seen.ran >= runs / 4 && seen.wrote >= runs / 8, `too few cases ran (${JSON.stringify(seen)}); the generator drifted`);
  return result;
}

/** P3: any folder/name pair either lands inside out/ (real path) or is refused with a message. */
export async function fuzzPaths(sandbox: Sandbox, opts: FuzzOptions) {
  const host = new NodeHost({ baseDirs: [], outDir: sandbox.out });
  const realOut = await fs.realpath(sandbox.out);
  const benign = fc.array(fc.oneof(fc.constantFrom('a', 'sub', 'link', '..x', 'x.png'), fc.stringMatching(/^[\w.-]{1,6}$/)), { minLength: 1, maxLength: 3 }).map((p) => p.join('/'));
  const part = fc.oneof(benign, pathLikeArb(sandbox.root));
  const arb = fc.record({ folder: part, name: part, overwrite: fc.boolean(), read: fc.boolean() });
  const seen = { written: 0, read: 0, refused: 0 };
  const runs = opts.runs * 2;
  const result = await runProperty('output paths', arb, async ({ folder, name, overwrite, read }) => {
    try {
      if (read) {
        await host.readFile(folder, name);
        seen.read++;
      } else {
        const w = await host.writeFile(folder, name, new TextEncoder().encode('fuzz'), { overwrite });
        const real = await fs.realpath(w.location);
        check(real.startsWith(`${realOut}${path.sep}`), `wrote ${real}, outside ${realOut}`);
        seen.written++;
      }
    } catch (err) {
      seen.refused++;
      check(err instanceof BacklitError, `raw error for folder=${JSON.stringify(folder)} name=${JSON.stringify(name)}: ${(err as Error)?.message}`);
      checkThrown(err, 'paths', 'output');
    }
    const escaped = await sandbox.escaped();
    check(escaped.length === 0, `wrote outside: ${escaped.join(', ')} (folder=${JSON.stringify(folder)} name=${JSON.stringify(name)})`);
    await sandbox.clearOut();
  }, opts, runs);
  opts.log?.(`output paths: ${seen.written} written, ${seen.read} read, ${seen.refused} refused`);
  check(seen.written >= runs / 10 && seen.refused >= runs / 10, `generator drifted: ${JSON.stringify(seen)}`);
  return result;
}

/** P4a: mutated small .pth files: a state_dict or a PthError; never more elements than the file holds. */
export async function fuzzPth(opts: FuzzOptions) {
  const seed = writePth({
    'a.weight': { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
    'a.bias': { shape: [3], data: new Float32Array([0.5, -1, 2]) },
    tied: { shape: [3, 2], data: new Float32Array(0), storage: '0', stride: [1, 3] },
  });
  const pkl = findEntry(seed, 'archive/data.pkl');
  return runProperty('.pth bytes', fc.record({ m: mutationsArb, hot: fc.boolean() }), async ({ m, hot }) => {
    const bytes = mutate(seed, m, hot ? pkl : undefined);
    try {
      const sd = readPth(bytes);
      const elements = [...sd.values()].reduce((n, t) => n + t.data.length, 0);
      check(elements <= 2 * bytes.length + (1 << 20), `materialised ${elements} elements from ${bytes.length} bytes`);
    } catch (err) {
      check(err instanceof PthError, `not a PthError: ${(err as Error)?.name}: ${(err as Error)?.message}`);
      checkThrown(err, '.pth', '');
    }
  }, opts, opts.runs * 4);
}

/** P4b: mutated safetensors: parsed and readable, or a SafetensorsError naming the file. */
export async function fuzzSafetensors(opts: FuzzOptions) {
  const seed = encodeSafetensors({ 'a.weight': { shape: [2, 3], values: new Float32Array([1, 2, 3, 4, 5, 6]) }, 'a.bias': { shape: [3], values: new Float32Array([1, 2, 3]) } }, { format: 'fuzz' });
  const headerEnd = 8 + Number(new DataView(seed.buffer).getBigUint64(0, true));
  return runProperty('safetensors bytes', fc.record({ m: mutationsArb, hot: fc.boolean() }), async ({ m, hot }) => {
    const bytes = mutate(seed, m, hot ? [0, headerEnd] : undefined);
    try {
      const file = SafetensorsFile.parse(bytes, 'fuzz.safetensors');
      let elements = 0;
      for (const name of file.names) elements += file.tensor(name).values.length;
      check(elements <= bytes.length, `materialised ${elements} floats from ${bytes.length} bytes`);
    } catch (err) {
      check(err instanceof SafetensorsError, `not a SafetensorsError: ${(err as Error)?.name}: ${(err as Error)?.message}`);
      checkThrown(err, 'safetensors', 'fuzz.safetensors');
    }
  }, opts, opts.runs * 4);
}

/** P4c: mutated PNG/JPEG: decoded within the pixel limit, or refused naming the file; RSS bounded. */
export async function fuzzImages(sandbox: Sandbox, opts: FuzzOptions) {
  const host = new NodeHost({ baseDirs: [], outDir: sandbox.out });
  const png = new Uint8Array(await fs.readFile(path.join(sandbox.inputs, 'in/a.png')));
  const jpg = new Uint8Array(await fs.readFile(path.join(sandbox.inputs, 'in/b.jpg')));
  const maxPixels = 200_000;
  const rss0 = process.memoryUsage().rss;
  const arb = fc.record({ jpeg: fc.boolean(), m: mutationsArb, hot: fc.boolean(), w: fc.constantFrom(0, 1, 16, 16000, 65535, 0x7fffffff), h: fc.constantFrom(0, 1, 12, 16000, 65535) });
  return runProperty('PNG/JPEG bytes', arb, async ({ jpeg, m, hot, w, h }) => {
    let bytes = mutate(jpeg ? jpg : png, m, hot ? [0, 64] : undefined);
    // Half the cases also claim a size in the header (valid PNG CRC / JPEG SOF): bombs.
    if (hot) bytes = jpeg ? setJpegSize(bytes, w & 0xffff, h) : setPngSize(bytes, w, h);
    const name = jpeg ? 'fuzz.jpg' : 'fuzz.png';
    try {
      const img = await host.decodeImage(bytes, name, { maxPixels });
      check(img.width * img.height <= maxPixels, `decoded ${img.width}×${img.height} above the limit`);
      check(img.data.byteLength === img.width * img.height * 4, 'RGBA size mismatch');
    } catch (err) {
      check(err instanceof BacklitError && ['image-unreadable', 'image-too-large'].includes(err.info.code), `unexpected error ${(err as Error)?.message}`);
      checkThrown(err, 'image', name);
    }
    const grew = process.memoryUsage().rss - rss0;
    check(grew < MEMORY_BOUND, `RSS grew by ${(grew / 2 ** 20).toFixed(0)} MiB`);
  }, opts, opts.runs * 2);
}

/** P4d: mutated enhancer weights through the Enhance node: result, or an error naming node, field and file. */
export async function fuzzEnhanceWeights(opts: FuzzOptions) {
  const net = EnhancerNet.create(0);
  const pth = writePth(new Map([...net.stateDict()].map(([k, t]) => [`module.${k}`, { shape: t.shape, data: t.data.slice() }])));
  const st = encodeEnhancer(net);
  net.dispose();
  const image = tf.zeros([8, 8, 3]) as tf.Tensor3D;
  const pkl = findEntry(pth, 'archive/data.pkl');
  const arb = fc.record({ safetensors: fc.boolean(), m: mutationsArb, hot: fc.boolean() });
  try {
    return await runProperty('enhancer weights via Enhance', arb, async ({ safetensors, m, hot }) => {
      const file = safetensors ? 'w/fuzz.safetensors' : 'w/fuzz.pth';
      const bytes = mutate(safetensors ? st : pth, m, hot ? (safetensors ? [0, 2000] : pkl) : undefined);
      const host = new MemoryHost().addFile(file, bytes);
      host.readModelFile = async (source: string, name: string) => host.files.get(`${source}/${name}`);
      const before = tf.memory().numTensors;
      tf.engine().startScope();
      try {
        const params = enhance.params.parse({ weights: file, mode: 'full' });
        const out = await enhance.run({ inputs: { images: { kind: 'ImageBatch', images: [{ name: 'x', tensor: image }] } }, params, ctx: fakeContext(host, 'enh') });
        const result = (out.images as { images: Array<{ tensor: tf.Tensor }> }).images[0].tensor;
        const values = await result.data();
        check(values.every((v) => Number.isFinite(v)), 'Enhance produced non-finite pixels from accepted weights');
        (out.enhancer as EnhancerNet).dispose();
      } catch (err) {
        check(err instanceof BacklitError, `raw error: ${(err as Error)?.message}`);
        check(err.info.nodeId === 'enh' && err.info.field === 'weights', `error names ${err.info.nodeId}/${err.info.field}`);
        checkThrown(err, 'enhance', 'fuzz');
      } finally {
        tf.engine().endScope();
      }
      check(tf.memory().numTensors === before, `leaked ${tf.memory().numTensors - before} tensors`);
    }, opts, Math.max(4, Math.round(opts.runs / 3)));
  } finally {
    image.dispose();
  }
}

// ---- helpers ------------------------------------------------------------------------------------

/** Byte range of a stored (level 0) zip entry's data, found by its local header name. */
function findEntry(zip: Uint8Array, name: string): [number, number] {
  const enc = new TextEncoder().encode(name);
  for (let i = 0; i + 30 < zip.length; i++) {
    if (zip[i] === 0x50 && zip[i + 1] === 0x4b && zip[i + 2] === 3 && zip[i + 3] === 4) {
      const v = new DataView(zip.buffer, zip.byteOffset);
      const size = v.getUint32(i + 18, true);
      const nameLen = v.getUint16(i + 26, true);
      const extra = v.getUint16(i + 28, true);
      const n = zip.subarray(i + 30, i + 30 + nameLen);
      if (n.length === enc.length && n.every((b, k) => b === enc[k])) return [i + 30 + nameLen + extra, i + 30 + nameLen + extra + size];
    }
  }
  return [0, zip.length];
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Rewrites a PNG's IHDR width/height and fixes its CRC, so the header is valid and lies. */
export function setPngSize(png: Uint8Array, width: number, height: number): Uint8Array {
  const b = png.slice();
  if (b.length < 33 || b[12] !== 0x49 || b[13] !== 0x48) return b; // IHDR must be first
  const v = new DataView(b.buffer);
  v.setUint32(16, width >>> 0);
  v.setUint32(20, height >>> 0);
  v.setUint32(29, crc32(b.subarray(12, 29)));
  return b;
}

/** Rewrites the first SOF marker's height/width of a JPEG. */
export function setJpegSize(jpg: Uint8Array, width: number, height: number): Uint8Array {
  const b = jpg.slice();
  for (let i = 2; i + 9 < b.length; i++) {
    if (b[i] === 0xff && b[i + 1] >= 0xc0 && b[i + 1] <= 0xc2) {
      const v = new DataView(b.buffer);
      v.setUint16(i + 5, height & 0xffff);
      v.setUint16(i + 7, width & 0xffff);
      break;
    }
  }
  return b;
}
