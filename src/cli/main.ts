import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import * as tf from '@tensorflow/tfjs';
import {
  BacklitError,
  Executor,
  formatError,
  loadGraph,
  type ErrorInfo,
  type ExecutorEvent,
  type Graph,
  type NodeRegistry,
  type PortKind,
  type PortView,
  type ReportValue,
  viewOf,
  expandSubgraphs,
  findNode,
} from '../engine';
import { backendsReport, CLI_BACKENDS, describeSelection, formatBackendsReport, selectBackend, type CliBackend } from './backends';
import { loadNodeRegistry } from './loadNodes';
import { availableCores, configureWasmThreads, describeWasmThreads, wasmThreadCount } from './wasmThreads';
import { batchRequested, runBatchCommand } from './batch';
import { configureEnhanceEngine, ENHANCE_ENGINES, type EnhanceEngineChoice } from './onnxEngine';
import { registerWorkerCommand } from './worker';
import { NodeHost, REPO_ROOT } from './nodeHost';
import { graphFromPng } from '../engine/schema/pngWorkflow';

// tfjs's own warnings speak to tfjs developers (the auto probe of the cpu backend prints "install our node
// backend" on every run); the CLI reports its backend choice and problems itself.
tf.enableProdMode();

const program = new Command();
program
  .name('backlit')
  .description('Run and inspect Backlit Studio graphs headlessly (the same engine as the editor).')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride(usageExit)
  .option('--threads <n>', 'wasm backend: XNNPACK threads (default: all cores, at most 8)', (v: string) => Number(v))
  .hook('preAction', () => void configureWasmThreads(program.opts<{ threads?: number }>().threads ?? availableCores()));

program
  .command('run')
  .description('Run a graph JSON file; Output nodes write into --out.')
  .argument('<graph>', 'graph JSON file (see graphs/)')
  .option('--set <node.param=value>', 'override a param (repeatable); value is JSON or a plain string', collect, [] as string[])
  .option('--out <dir>', 'output root folder', '')
  .addOption(new Option('--backend <name>', 'tfjs backend; auto times a probe on each and picks the fastest').choices([...CLI_BACKENDS]).default('auto'))
  .addOption(new Option('--engine <name>', 'Enhance inference: onnx = onnxruntime-node on the CPU (measured faster than tfjs-wasm); auto = onnx on a CPU backend when it loads, else tfjs').choices([...ENHANCE_ENGINES]).default('auto'))
  .option('--json', 'print a machine-readable summary on stdout')
  .option('--quiet', 'no progress output')
  .option('--chunk-size <n>', 'batch run: images per chunk (memory grows with it, not with the folder; default meta.batch.chunkSize or 16)')
  .option('--batch-loader <id>', 'batch run: the Image Loader whose folder streams (default meta.batch.loader)')
  .option('--redis <url>', 'distributed batch run: queue shards on this Redis for `backlit worker`s (e.g. redis://127.0.0.1:6379)')
  .option('--shard-size <n>', 'distributed batch run: images per shard job (default: the chunk size)')
  .option('--no-resume', 'batch run: redo chunks even where a resume record says they are done')
  .action(async (graphPath: string, opts: { set: string[]; out: string; backend: CliBackend; engine: EnhanceEngineChoice; json?: boolean; quiet?: boolean }) => {
    const threads = () => wasmThreadCount() ?? program.opts<{ threads?: number }>().threads ?? availableCores();
    const registry = await loadNodeRegistry();
    const graph = await readGraph(graphPath, registry);
    applySets(graph, opts.set, registry);
    // Group nodes run as the nodes inside them ("group/inner" ids); the executor expands the same way.
    const flat = expandSubgraphs(graph).graph;
    if (batchRequested(flat, opts)) {
      process.exitCode = await runBatchCommand(graphPath, flat, registry, {
        ...opts,
        setupBackend: async () => {
          await selectBackend(opts.backend);
          const engine = await configureEnhanceEngine(opts.engine, threads());
          if (!opts.quiet) process.stderr.write(`${engine}\n`);
        },
      });
      return;
    }
    const outDir = path.resolve(opts.out || path.join('out', path.basename(graphPath, '.json')));
    const backend = await selectBackend(opts.backend);
    const engine = await configureEnhanceEngine(opts.engine, threads());
    if (!opts.quiet) process.stderr.write(`${describeSelection(backend)}${describeWasmThreads() ? `; wasm: ${describeWasmThreads()}` : ''}; ${engine}\n`);
    const host = new NodeHost({ baseDirs: [path.dirname(path.resolve(graphPath)), process.cwd()], outDir });
    const executor = new Executor(registry, host);
    const abort = new AbortController();
    process.once('SIGINT', () => {
      process.stderr.write('\ncancelling…\n');
      abort.abort();
    });
    const progress = opts.quiet ? undefined : new ProgressView(flat);
    const summary = await executor.run(graph, { signal: abort.signal, onEvent: (e) => progress?.onEvent(e) });
    progress?.stop();
    const written: Record<string, ReportValue['rows']> = {};
    const values: Record<string, Record<string, PortView>> = {};
    for (const n of flat.nodes) {
      const outputs = executor.outputsOf(n.id);
      const def = registry.get(n.type);
      if (!outputs || !def) continue;
      const files = outputs.files as ReportValue | undefined;
      if (files?.kind === 'Report') written[n.id] = files.rows;
      // Numbers worth seeing without opening the editor: embeddings, residuals, scalars, reports.
      for (const [port, spec] of Object.entries(def.outputs)) {
        if (!SUMMARISED_KINDS.has(spec.kind) || port === 'files') continue;
        (values[n.id] ??= {})[port] = await viewOf(spec.kind, outputs[port]);
      }
    }
    const errors: ErrorInfo[] = [...summary.errors, ...Object.values(summary.nodes).flatMap((r) => (r.error && r.status === 'error' ? [r.error] : []))];
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ ok: summary.ok, graph: path.resolve(graphPath), backend: tf.getBackend(), backendReason: backend.reason, wasmThreads: wasmThreadCount(), outDir, elapsedMs: Math.round(summary.elapsedMs), nodes: summary.nodes, written, values, errors }, null, 2)}\n`);
    } else {
      for (const [id, rows] of Object.entries(written)) for (const r of rows) process.stdout.write(`${id}: wrote ${r.location}\n`);
      for (const [id, ports] of Object.entries(values)) for (const [port, view] of Object.entries(ports)) process.stdout.write(`${id}.${port}: ${describeView(view)}\n`);
    }
    for (const e of errors) process.stderr.write(`error: ${formatError(e)}\n`);
    if (summary.cancelled) process.stderr.write('cancelled.\n');
    executor.dispose();
    process.exitCode = summary.ok ? 0 : 1;
  });

program
  .command('backends')
  .description('List WebGPU adapters (vendor, architecture, limits) and time the probe on each backend.')
  .option('--json', 'machine-readable')
  .action(async (opts: { json?: boolean }) => {
    const report = await backendsReport();
    const wasmThreads = wasmThreadCount();
    process.stdout.write(opts.json ? `${JSON.stringify({ ...report, wasmThreads }, null, 2)}\n` : `${formatBackendsReport(report)}wasm threads: ${wasmThreads ?? 'not started'} (set with --threads)\n`);
  });

program
  .command('validate')
  .description('Check a graph JSON file (format, version, node types, params, wires) without running it.')
  .argument('<graph>', 'graph JSON file')
  .option('--json', 'print the problems as JSON')
  .action(async (graphPath: string, opts: { json?: boolean }) => {
    const registry = await loadNodeRegistry();
    const text = await readText(graphPath);
    const result = loadGraph(text, registry);
    if (opts.json) process.stdout.write(`${JSON.stringify({ ok: result.errors.length === 0, errors: result.errors }, null, 2)}\n`);
    else if (result.errors.length === 0) {
      const groups = result.graph!.subgraphs?.length ? `, ${result.graph!.nodes.filter((n) => n.type === 'subgraph').length} group node(s) over ${expandSubgraphs(result.graph!).graph.nodes.length} nodes inside and out` : '';
      process.stdout.write(`${graphPath}: ok (${result.graph!.nodes.length} nodes, ${result.graph!.edges.length} wires${groups})\n`);
    }
    else for (const e of result.errors) process.stderr.write(`${graphPath}: ${formatError(e)}\n`);
    process.exitCode = result.errors.length ? 2 : 0;
  });

program
  .command('nodes')
  .description('List node types with their ports and params.')
  .option('--json', 'machine-readable')
  .action(async (opts: { json?: boolean }) => {
    const registry = await loadNodeRegistry();
    const list = registry.all().map((d) => ({
      type: d.type,
      title: d.title,
      category: d.category,
      description: d.description,
      inputs: Object.fromEntries(Object.entries(d.inputs).map(([k, p]) => [k, `${p.kind}${p.optional ? '?' : ''}`])),
      outputs: Object.fromEntries(Object.entries(d.outputs).map(([k, p]) => [k, p.kind])),
      params: registry.paramsJsonSchema(d.type).properties,
    }));
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      return;
    }
    for (const n of list) {
      process.stdout.write(`${n.type}  —  ${n.title} [${n.category}]\n  ${n.description}\n`);
      const ports = (o: Record<string, string>) => Object.entries(o).map(([k, v]) => `${k}: ${v}`).join(', ') || '—';
      process.stdout.write(`  in:  ${ports(n.inputs)}\n  out: ${ports(n.outputs)}\n`);
      for (const [k, p] of Object.entries(n.params)) {
        const range = [p.minimum !== undefined ? `≥${p.minimum}` : '', p.maximum !== undefined ? `≤${p.maximum}` : ''].filter(Boolean).join(' ');
        const type = p.enum ? p.enum.join('|') : p.type;
        process.stdout.write(`  --set <id>.${k}=…  ${type}${range ? ` ${range}` : ''} (default ${JSON.stringify(p.default)})${p.description ? `  ${p.description}` : ''}\n`);
      }
      process.stdout.write('\n');
    }
  });

const SUMMARISED_KINDS = new Set<PortKind>(['Embedding', 'Residual', 'Scalar', 'Text', 'Report', 'PromptPair']);

function describeView(v: PortView): string {
  switch (v.kind) {
    case 'Embedding':
      return `embedding in ${v.space}, D=${v.dim}, norm ${v.norm.toFixed(4)}${v.count !== undefined ? `, mean of ${v.count}` : ''}`;
    case 'Residual':
      return `residual in ${v.space}, D=${v.dim}: ${v.target === 'paper' ? 'thr=<v_pos,r>' : `target (${v.target})`}=${v.thr.toFixed(4)}, cos(v_pos,v_neg)=${v.cosPosNeg.toFixed(4)}, |v_pos-v_neg|=${v.gap.toFixed(4)}`;
    case 'PromptPair':
      return `${v.mode} prompt pair in ${v.space}, D=${v.dim}, cos(g_neg,g_pos)=${v.cosNegPos.toFixed(4)}${v.accuracy ? `, accuracy backlit ${v.accuracy.backlit.toFixed(3)} / well-lit ${v.accuracy.wellLit.toFixed(3)}` : ''}`;
    case 'Scalar':
      return String(v.value);
    case 'Text':
      return v.value;
    case 'Report':
      return `${v.title}: ${v.rows.length} row(s)${v.rows.length ? `; first: ${JSON.stringify(v.rows[0])}` : ''}`;
    default:
      return JSON.stringify(v);
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function readText(file: string): Promise<string> {
  // A PNG written by an Output node carries its graph: `backlit run photo.png` reruns the workflow that made it.
  if (/\.png$/i.test(file)) {
    const bytes = await fs.readFile(file).catch((err: NodeJS.ErrnoException) => {
      throw new BacklitError({ code: 'graph-not-json', field: file, message: `Cannot read ${file} (${err.code ?? err.message}).`, fix: 'check the path.' });
    });
    const text = graphFromPng(new Uint8Array(bytes));
    if (text === undefined) throw new BacklitError({ code: 'graph-not-json', field: file, message: `${file} carries no Backlit Studio workflow (no "backlit-graph" text chunk).`, fix: 'use a PNG written by an Output node (format png), or pass the graph .json.' });
    return text;
  }
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new BacklitError({ code: 'graph-not-json', field: file, message: `Cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`, fix: 'check the path; example graphs are in graphs/.' });
  }
}

async function readGraph(file: string, registry: NodeRegistry): Promise<Graph> {
  const result = loadGraph(await readText(file), registry);
  if (result.errors.length || !result.graph) {
    for (const e of result.errors) process.stderr.write(`${file}: ${formatError(e)}\n`);
    process.exit(2);
  }
  return result.graph;
}

/** `--set load.maxCount=4` → params.maxCount = 4 (values parse as JSON, else as strings). */
export function applySets(graph: Graph, sets: string[], registry: NodeRegistry): void {
  for (const s of sets) {
    const m = /^([^.=]+)\.([^=]+)=(.*)$/s.exec(s);
    if (!m) throw new BacklitError({ code: 'bad-set-option', field: '--set', message: `"${s}" is not of the form node.param=value.`, fix: 'write e.g. --set load.maxCount=4.' });
    const [, nodeId, param, raw] = m;
    // "group/inner" names a node inside a group (its definition: shared by every instance of it).
    const node = findNode(graph, nodeId);
    if (!node) throw new BacklitError({ code: 'bad-set-option', field: '--set', message: `There is no node "${nodeId}" in this graph.`, fix: `node ids: ${expandSubgraphs(graph).graph.nodes.map((n) => n.id).join(', ')}.` });
    const def = registry.get(node.type);
    if (def && !Object.hasOwn(def.params.shape, param)) {
      throw new BacklitError({ code: 'bad-set-option', nodeId, nodeType: def.title, field: param, message: `${def.title} has no param "${param}".`, fix: `params: ${Object.keys(def.params.shape).join(', ')}.` });
    }
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      /* a plain string */
    }
    node.params = { ...node.params, [param]: value };
  }
  const problems = expandSubgraphs(graph).graph.nodes.flatMap((n) => {
    const def = registry.get(n.type);
    const parsed = def?.params.safeParse(n.params);
    return parsed && !parsed.success ? [{ n, issue: parsed.error.issues[0], def: def! }] : [];
  });
  if (problems.length) {
    const { n, issue, def } = problems[0];
    throw new BacklitError({ code: 'node-param-invalid', nodeId: n.id, nodeType: def.title, field: issue.path.join('.'), message: `${issue.message}.`, fix: 'see `backlit nodes` for valid values.' });
  }
}

/** Progress bars on stderr (TTY), or one line per finished node otherwise. */
class ProgressView {
  private readonly multibar?: cliProgress.MultiBar;
  private readonly bars = new Map<string, cliProgress.SingleBar>();
  private readonly titles: Map<string, string>;

  constructor(graph: Graph) {
    this.titles = new Map(graph.nodes.map((n) => [n.id, n.label ?? n.id]));
    if (process.stderr.isTTY) {
      this.multibar = new cliProgress.MultiBar(
        { stream: process.stderr, format: ' {node} |{bar}| {value}/{total} {msg}', hideCursor: true, clearOnComplete: false },
        cliProgress.Presets.shades_classic,
      );
    }
  }

  onEvent(e: ExecutorEvent): void {
    if (e.type === 'progress' && this.multibar) {
      let bar = this.bars.get(e.nodeId);
      if (!bar) {
        bar = this.multibar.create(e.total, 0, { node: this.titles.get(e.nodeId)?.padEnd(14), msg: '' });
        this.bars.set(e.nodeId, bar);
      }
      bar.setTotal(e.total);
      bar.update(e.step, { msg: e.message ?? '' });
    } else if (e.type === 'status' && ['done', 'cached', 'error', 'blocked', 'cancelled'].includes(e.status)) {
      const line = `${this.titles.get(e.nodeId)}: ${e.status}${e.elapsedMs !== undefined ? ` (${Math.round(e.elapsedMs)} ms)` : ''}`;
      if (this.multibar) this.multibar.log(`${line}\n`);
      else process.stderr.write(`${line}\n`);
    } else if (e.type === 'log') {
      const line = `${this.titles.get(e.nodeId)}: ${e.message}\n`;
      if (this.multibar) this.multibar.log(line);
      else process.stderr.write(line);
    }
  }

  stop(): void {
    this.multibar?.stop();
  }
}

registerWorkerCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof BacklitError) {
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`error: ${(err as Error).message}\n`);
  process.exit(1);
});

/** Usage errors (missing argument, unknown option, bad --backend choice) exit 2 as the README says; --help and --version exit 0. */
function usageExit(err: { exitCode: number }): never {
  process.exit(err.exitCode === 0 ? 0 : 2);
}
