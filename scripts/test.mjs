#!/usr/bin/env node
// `npm test`: unit + integration (vitest), then browser e2e (vitest + Playwright + Debian Chromium).
// Ends with the plain "N passed, N failed" line CI reads (vitest's own summary is not recognised).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, existsSync } from 'node:fs';

const e2eOnly = process.argv.includes('--e2e-only');
const unitOnly = process.argv.includes('--unit-only');
mkdirSync('test-results', { recursive: true });

const suites = [];
if (!e2eOnly) suites.push({ name: 'unit + integration', config: 'vitest.config.ts', report: 'test-results/unit.json' });
if (!unitOnly) suites.push({ name: 'e2e (Chromium)', config: 'vitest.e2e.config.ts', report: 'test-results/e2e.json' });

let passed = 0;
let failed = 0;
let skipped = 0;

// Strict TypeScript over the whole project counts as one check.
if (!e2eOnly) {
  console.log('=== typecheck (tsc --noEmit) ===');
  const tsc = spawnSync('npx', ['tsc', '--noEmit', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  if (tsc.status === 0) passed += 1;
  else failed += 1;
}
for (const s of suites) {
  console.log(`\n=== ${s.name} ===`);
  const r = spawnSync('npx', ['vitest', 'run', '--config', s.config, '--reporter=default', '--reporter=json', `--outputFile=${s.report}`], { stdio: 'inherit' });
  if (!existsSync(s.report)) {
    console.error(`${s.name}: vitest wrote no report (exit ${r.status}); counting the suite as one failure.`);
    failed += 1;
    continue;
  }
  const report = JSON.parse(readFileSync(s.report, 'utf8'));
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  skipped += report.numPendingTests + (report.numTodoTests ?? 0);
  // A file that fails to load has no tests counted: count it as a failure so it cannot hide.
  const brokenFiles = report.testResults.filter((f) => f.status === 'failed' && f.assertionResults.length === 0).length;
  failed += brokenFiles;
  if (r.status !== 0 && report.numFailedTests === 0 && brokenFiles === 0) failed += 1;
}
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed ? 1 : 0);
