import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBacklit } from './testing';

/** Issue 15 repros through the real `backlit` command: each must fail safely, with exit 2 and a message. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BRIGHTEN = path.join(ROOT, 'graphs/brighten.json');
const STACK = /^\s+at .+[:(]/m;
const RAW = /TypeError|RangeError|Cannot read propert|Maximum call stack/;

const cli = (...args: string[]) => runBacklit(args);

let tmp: string;
beforeAll(async () => {
  tmp = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'backlit-cli-harden-')));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('backlit CLI hardening (issue 15)', () => {
  it("--set save.suffix=/../../../../x/victim with overwrite: refused (exit 2) naming node and field; nothing written anywhere", async () => {
    const out = path.join(tmp, 'a/b/c/d/out');
    const r = await cli('run', BRIGHTEN, '--quiet', '--out', out, '--set', 'save.suffix=/../../../../x/victim', '--set', 'save.overwrite=true');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/node "save" \(Output\), field "suffix"/);
    expect(r.stderr).not.toMatch(STACK);
    expect(await fs.readdir(tmp)).toEqual([]);
  });

  it('validate reports an escaping suffix, a "__proto__" node id and 100k-deep nesting with exit 2', async () => {
    const graph = JSON.parse(await fs.readFile(BRIGHTEN, 'utf8'));
    graph.nodes[2].params.suffix = '/../../x/victim';
    const escaping = path.join(tmp, 'escaping.json');
    await fs.writeFile(escaping, JSON.stringify(graph));
    const proto = path.join(tmp, 'proto.json');
    await fs.writeFile(proto, JSON.stringify(graph).replace(/"save"/g, '"__proto__"'));
    const deep = path.join(tmp, 'deep.json');
    await fs.writeFile(deep, JSON.stringify(graph).replace('"/../../x/victim"', `${'['.repeat(100_000)}${']'.repeat(100_000)}`));
    const [a, b, c] = await Promise.all([cli('validate', escaping), cli('validate', proto), cli('validate', deep)]);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/node "save".*field "suffix".*output/);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/__proto__/);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/nesting deeper than 64/);
    for (const r of [a, b, c]) {
      expect(r.stderr).not.toMatch(STACK);
      expect(r.stderr).not.toMatch(RAW);
      expect(r.stderr.length).toBeLessThan(2000);
    }
  });

  it('missing argument and a bad --backend exit 2 (usage errors)', async () => {
    const [missing, backend] = await Promise.all([cli('run'), cli('run', BRIGHTEN, '--backend', 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing required argument/);
    expect(backend.code).toBe(2);
    expect(backend.stderr).toMatch(/--backend/);
  });
});
