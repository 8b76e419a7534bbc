/**
 * Distributed batch runs through a real redis-server (started here on a free loopback port, no
 * mock) and two `backlit worker` processes, one of which is SIGKILLed mid-run: its shard's lock
 * expires, another worker picks the stalled job up, and the run still writes every output exactly
 * once, bit-identical to a single-process run, with the same merged mean embedding (1e-6).
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchGraph, cli, listOutputs, makeImages, startRedis, startWorker } from './batchFixtures';

let tmp: string;
let redis: Awaited<ReturnType<typeof startRedis>>;
const N = 240;
const SHARD = 8;

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'backlit-dist-'));
  redis = await startRedis();
  await makeImages(path.join(tmp, 'img'), N);
  await fs.writeFile(path.join(tmp, 'g.json'), JSON.stringify(batchGraph({ source: path.join(tmp, 'img'), op: 'exposure', encode: true, chunkSize: SHARD })));
}, 120_000);
afterAll(async () => {
  await redis?.stop();
  await fs.rm(tmp, { recursive: true, force: true });
});

interface Run {
  ok: boolean;
  values: Record<string, Record<string, { count?: number }>>;
  batch: { images: number; failed: number; writtenCounts: Record<string, number> };
}

describe('distributed batch (BullMQ + redis-server)', () => {
  it('2 workers, one SIGKILLed mid-run: every output exactly once, bit-identical to one process; same mean to 1e-6', async () => {
    const single = await cli(['run', path.join(tmp, 'g.json'), '--out', path.join(tmp, 'single'), '--json', '--quiet']);
    expect(single.code, single.stderr).toBe(0);

    const w1 = startWorker(redis.url, ['--lock-ms', '2000']);
    const w2 = startWorker(redis.url, ['--lock-ms', '2000']);
    let killedAt = -1;
    const shardsDone = (log: string) => (log.match(/^\[worker \d+\] shard \d+ of \S+: \d+ image/gm) ?? []).length;
    const shardsStarted = (log: string) => (log.match(/^\[worker \d+\] shard \d+ of \S+: started/gm) ?? []).length;
    const killer = setInterval(() => {
      // Kill worker 1 once it has started its 4th shard: that job is active and locked (mid-shard).
      if (killedAt < 0 && shardsStarted(w1.log()) >= 4) {
        w1.child.kill('SIGKILL');
        killedAt = shardsDone(w1.log());
      }
    }, 2);
    try {
      const dist = await cli(['run', path.join(tmp, 'g.json'), '--out', path.join(tmp, 'dist'), '--redis', redis.url, '--shard-size', String(SHARD), '--json', '--quiet']);
      expect(dist.code, `${dist.stderr}\n--- worker 1:\n${w1.log()}\n--- worker 2:\n${w2.log()}`).toBe(0);
      expect(killedAt, 'worker 1 was killed mid-run').toBeGreaterThan(0);
      const a = JSON.parse(single.stdout) as Run;
      const b = JSON.parse(dist.stdout) as Run;
      expect(b.batch.images).toBe(N);
      expect(b.batch.failed).toBe(0);
      expect(b.batch.writtenCounts.save).toBe(N);
      expect(b.values['v-pos'].mean.count).toBe(N);

      // Every output exactly once (no "-1" copies, no leftovers but temp files of the killed writer), same bytes.
      const outA = (await listOutputs(path.join(tmp, 'single'))).filter((f) => !f.endsWith('.tmp'));
      const outB = await listOutputs(path.join(tmp, 'dist'));
      const leftovers = outB.filter((f) => f.endsWith('.tmp'));
      expect(outB.filter((f) => !f.endsWith('.tmp'))).toEqual(outA);
      expect(outA.filter((f) => f.endsWith('.png'))).toHaveLength(N);
      for (const f of outA) {
        if (f === 'residual.json') continue;
        const [x, y] = await Promise.all([fs.readFile(path.join(tmp, 'single', f)), fs.readFile(path.join(tmp, 'dist', f))]);
        expect(Buffer.compare(x, y), f).toBe(0);
      }
      // The merged mean (v_pos of residual.json) equals the single-process one.
      const ra = JSON.parse(await fs.readFile(path.join(tmp, 'single', 'residual.json'), 'utf8')) as { vPos?: number[]; v_pos?: number[] };
      const rb = JSON.parse(await fs.readFile(path.join(tmp, 'dist', 'residual.json'), 'utf8')) as { vPos?: number[]; v_pos?: number[] };
      const va = ra.vPos ?? ra.v_pos!;
      const vb = rb.vPos ?? rb.v_pos!;
      expect(va.length).toBeGreaterThan(10);
      expect(Math.max(...va.map((v, i) => Math.abs(v - vb[i])))).toBeLessThan(1e-6);
      // Worker 2 took over: it finished the shards worker 1 never finished, including the one it
      // was killed in, which BullMQ found stalled (its lock expired) and handed on.
      expect(shardsDone(w2.log()) + killedAt).toBeGreaterThanOrEqual(N / SHARD);
      const { Redis } = await import('ioredis');
      const c = new Redis(redis.port, '127.0.0.1');
      const events = await c.xrange('bull:backlit-shards:events', '-', '+');
      c.disconnect();
      const stalled = events.filter(([, fields]) => fields[0] === 'event' && fields[1] === 'stalled').length;
      expect(stalled, 'a stalled shard was detected and re-queued').toBeGreaterThanOrEqual(1);
      console.log(`kill test: worker 1 killed mid-shard after finishing ${killedAt} shards; ${stalled} stalled job(s) re-queued; worker 2 did ${shardsDone(w2.log())} of ${N / SHARD}; ${leftovers.length} temp file(s) left by the killed writer; ${dist.ms} ms`);
    } finally {
      clearInterval(killer);
      w1.child.kill('SIGKILL');
      w2.child.kill('SIGTERM');
    }
  }, 420_000);

  it('says clearly when Redis is unreachable or may evict jobs', async () => {
    const down = await cli(['run', path.join(tmp, 'g.json'), '--out', path.join(tmp, 'x'), '--redis', 'redis://127.0.0.1:1', '--quiet']);
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(/Redis at 127\.0\.0\.1:1 is unreachable \(ECONNREFUSED\).*redis-server/);
    const w = await cli(['worker', '--redis', 'redis://127.0.0.1:1']);
    expect(w.code).toBe(2);
    expect(w.stderr).toMatch(/unreachable/);

    const { Redis } = await import('ioredis');
    const c = new Redis(redis.port, '127.0.0.1');
    await c.config('SET', 'maxmemory-policy', 'allkeys-lru');
    try {
      const evicting = await cli(['run', path.join(tmp, 'g.json'), '--out', path.join(tmp, 'x'), '--redis', redis.url, '--quiet']);
      expect(evicting.code).toBe(2);
      expect(evicting.stderr).toMatch(/maxmemory-policy "allkeys-lru".*noeviction/);
    } finally {
      await c.config('SET', 'maxmemory-policy', 'noeviction');
      c.disconnect();
    }
  }, 180_000);

  it('a worker started with --engine onnx runs Enhance shards on onnxruntime-node, with the pixels of a one-process onnx run', async () => {
    await makeImages(path.join(tmp, 'enh-img'), 12, 48);
    await fs.writeFile(path.join(tmp, 'enh.json'), JSON.stringify(batchGraph({ source: path.join(tmp, 'enh-img'), op: 'enhance', chunkSize: 4 })));
    const single = await cli(['--threads', '1', 'run', path.join(tmp, 'enh.json'), '--engine', 'onnx', '--out', path.join(tmp, 'enh-single'), '--json']);
    expect(single.code, single.stderr).toBe(0);
    expect(single.stderr).toMatch(/enhance: onnxruntime-node/);
    const w = startWorker(redis.url, ['--engine', 'onnx', '--threads', '1']);
    try {
      const dist = await cli(['--threads', '1', 'run', path.join(tmp, 'enh.json'), '--engine', 'onnx', '--out', path.join(tmp, 'enh-dist'), '--redis', redis.url, '--shard-size', '4', '--json', '--quiet']);
      expect(dist.code, `${dist.stderr}\n--- worker:\n${w.log()}`).toBe(0);
      // The worker says which engine it runs Enhance on, and it did the shards.
      expect(w.log()).toMatch(/ready on .*enhance: onnxruntime-node/);
      expect((w.log().match(/shard \d+ of \S+: \d+ image/g) ?? []).length).toBe(3);
      const a = (await listOutputs(path.join(tmp, 'enh-single'))).filter((f) => f.endsWith('.png'));
      expect(a).toHaveLength(12);
      expect((await listOutputs(path.join(tmp, 'enh-dist'))).filter((f) => f.endsWith('.png'))).toEqual(a);
      for (const f of a) {
        const [x, y] = await Promise.all([fs.readFile(path.join(tmp, 'enh-single', f)), fs.readFile(path.join(tmp, 'enh-dist', f))]);
        expect(Buffer.compare(x, y), f).toBe(0);
      }
    } finally {
      w.child.kill('SIGTERM');
    }
  }, 300_000);
});
