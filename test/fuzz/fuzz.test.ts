import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { loadNodeRegistry } from '../../src/cli/loadNodes';
import { REPO_ROOT } from '../../src/cli/nodeHost';
import type { NodeRegistry } from '../../src/engine';
import { useTestBackend } from '../../src/ml/testing';
import { Sandbox, fuzzEnhanceWeights, fuzzGraphText, fuzzGraphValidation, fuzzImages, fuzzPaths, fuzzPth, fuzzRuns, fuzzSafetensors, type FuzzOptions } from './harness';

/**
 * The bounded, seeded fuzz run of `npm test` (see harness.ts for the properties). Reproduce or
 * widen with FUZZ_SEED / FUZZ_RUNS, or run the long version: `npx tsx bench/fuzz.ts`.
 */
const opts: FuzzOptions = {
  seed: Number(process.env.FUZZ_SEED ?? 20261202),
  runs: Number(process.env.FUZZ_RUNS ?? 60),
  log: (line) => console.log(`[fuzz seed ${opts.seed}] ${line}`),
};

let registry: NodeRegistry;
let sandbox: Sandbox;
beforeAll(async () => {
  await useTestBackend('wasm');
  registry = await loadNodeRegistry();
  sandbox = await Sandbox.create();
});
afterAll(async () => {
  await sandbox?.dispose();
});

describe(`fuzz (fast-check, seed ${opts.seed}, ${opts.runs} base runs)`, () => {
  it('graph JSON: validation never throws; every problem is located and readable', async () => {
    await fuzzGraphValidation(registry, sandbox, opts);
    await fuzzGraphText(registry, readFileSync(path.join(REPO_ROOT, 'graphs/brighten.json'), 'utf8'), opts);
  });
  it('graph runs: no write outside --out, never ok with a failed node, errors name the node', async () => {
    await fuzzRuns(sandbox, opts);
  });
  it('output paths: inside the output folder or refused with a message', async () => {
    await fuzzPaths(sandbox, opts);
  });
  it('.pth and safetensors bytes: parsed or refused with the reader\'s error, memory bounded by the file', async () => {
    await fuzzPth(opts);
    await fuzzSafetensors(opts);
  });
  it('PNG/JPEG bytes (and lying headers): decoded within the pixel limit or refused naming the file', async () => {
    await fuzzImages(sandbox, opts);
  });
  it('enhancer weights through Enhance: finite result or an error naming node, field and file', async () => {
    await fuzzEnhanceWeights(opts);
  });
});
