/**
 * The long fuzz run (issue 15): the same properties as test/fuzz/fuzz.test.ts with many more cases
 * and a fresh seed each time, plus the real `backlit` command on fuzzed graph files.
 *
 *   npx tsx bench/fuzz.ts [--seed N] [--runs N] [--cli N] [--only name,name]
 *
 * --runs: base cases per property (default 500; each property scales it by its cost).
 * --cli:  fuzzed graph files run through `node bin/backlit.js run --json` (default 30; ~2 s each).
 * Prints the seed first: a failure is reproduced with --seed and the printed counterexample.
 * Exit status 1 when a property fails.
 */
import { promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { loadNodeRegistry } from '../src/cli/loadNodes';
import { REPO_ROOT } from '../src/cli/nodeHost';
import { useTestBackend } from '../src/ml/testing';
import { runBacklit } from '../src/cli/testing';
import {
  RAW_JS,
  Sandbox,
  fuzzEnhanceWeights,
  fuzzGraphText,
  fuzzGraphValidation,
  fuzzImages,
  fuzzPaths,
  fuzzPth,
  fuzzRuns,
  fuzzSafetensors,
  runnableGraphArb,
  type FuzzOptions,
} from '../test/fuzz/harness';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const only = (() => {
  const i = args.indexOf('--only');
  return i >= 0 ? new Set(args[i + 1].split(',')) : undefined;
})();
const seed = arg('seed', Date.now() % 2 ** 31);
const opts: FuzzOptions = { seed, runs: arg('runs', 500), log: (line) => console.log(`  ${line}`) };
const cliRuns = arg('cli', 30);

console.log(`fuzz seed ${seed} (reproduce with --seed ${seed}), ${opts.runs} base runs, ${cliRuns} CLI runs`);
await useTestBackend('wasm');
const registry = await loadNodeRegistry();
const sandbox = await Sandbox.create();
const STACK = /^\s+at .+[:(]/m;

const properties: Array<[string, () => Promise<unknown>]> = [
  ['graphs', () => fuzzGraphValidation(registry, sandbox, opts)],
  ['graph-text', () => fuzzGraphText(registry, readFileSync(path.join(REPO_ROOT, 'graphs/brighten.json'), 'utf8'), opts)],
  ['runs', () => fuzzRuns(sandbox, opts)],
  ['paths', () => fuzzPaths(sandbox, opts)],
  ['pth', () => fuzzPth(opts)],
  ['safetensors', () => fuzzSafetensors(opts)],
  ['images', () => fuzzImages(sandbox, opts)],
  ['weights', () => fuzzEnhanceWeights(opts)],
  ['cli', () => fuzzCli(cliRuns)],
];

/** The real command: exit 0 exactly when --json says ok, no stack trace, no raw JS text, no write outside --out. */
async function fuzzCli(runs: number) {
  const t0 = performance.now();
  const samples = fc.sample(runnableGraphArb(sandbox.root), { seed, numRuns: runs });
  let i = 0;
  for (const g of samples) {
    const file = path.join(sandbox.inputs, `graph-${i++}.json`);
    await fs.writeFile(file, JSON.stringify(g));
    const r = await run(['run', file, '--json', '--quiet', '--out', sandbox.out]);
    const where = `CLI case ${i} (${file})`;
    if (STACK.test(r.stderr) || RAW_JS.test(r.stderr)) throw new Error(`${where}: raw error text on stderr:\n${r.stderr.slice(0, 800)}`);
    if (r.code === 0 || r.code === 1) {
      const summary = JSON.parse(r.stdout) as { ok: boolean; nodes: Record<string, { status: string }> };
      const failed = Object.values(summary.nodes).some((n) => n.status !== 'done' && n.status !== 'cached');
      if ((r.code === 0) !== summary.ok || (summary.ok && failed)) throw new Error(`${where}: exit ${r.code} with ok=${summary.ok} and statuses ${JSON.stringify(summary.nodes)}`);
    } else if (r.code !== 2) throw new Error(`${where}: exit ${r.code}\n${r.stderr.slice(0, 800)}`);
    else if (!/error|node "|field "/.test(r.stderr)) throw new Error(`${where}: exit 2 without a message`);
    const escaped = await sandbox.escaped();
    if (escaped.length) throw new Error(`${where}: wrote outside --out: ${escaped.join(', ')}`);
    await sandbox.clearOut();
  }
  console.log(`  CLI runs: ${runs} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

/** The real command, run from the sandbox's inputs folder (relative sources resolve there). */
const run = (argv: string[]) => runBacklit(argv, { cwd: sandbox.inputs });

let failed = 0;
const t0 = performance.now();
for (const [name, property] of properties) {
  if (only && !only.has(name)) continue;
  console.log(`${name}:`);
  try {
    await property();
  } catch (err) {
    failed++;
    console.error(`  FAILED: ${(err as Error).message}`);
  }
}
const rss = process.memoryUsage().rss;
console.log(`\n${failed ? `${failed} propert${failed > 1 ? 'ies' : 'y'} FAILED` : 'all properties held'} in ${((performance.now() - t0) / 1000).toFixed(0)} s (seed ${seed}); peak-ish RSS ${(rss / 2 ** 20).toFixed(0)} MiB`);
await sandbox.dispose();
process.exit(failed ? 1 : 0);
