#!/usr/bin/env python3
"""PyTorch CPU side of bench/train.ts: the same tasks on the same network definition
(tools/reference/enhancer_reference.py), timed the same way, one JSON line on stdout.

  /usr/bin/python3 bench/torch_bench.py --threads 2 infer512 train256x1 train256x4 train512x1

Each task: one warm-up, then timed iterations. Reports wall ms, process CPU ms (all threads) and
the CPU share other processes took meanwhile (from /proc/stat), so a busy machine is visible.
"""
import json, os, re, resource, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tools', 'reference'))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from enhancer_reference import Enhancer  # noqa: E402


def busy_jiffies():
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v[:8]) - idle


HZ = os.sysconf('SC_CLK_TCK')
NCPU = os.cpu_count() or 1


def measure(fn, iters, warm=True):
    if warm:
        fn()  # warm-up
    b0, c0, t0 = busy_jiffies(), time.process_time(), time.perf_counter()
    for _ in range(iters):
        fn()
    wall = (time.perf_counter() - t0) * 1000
    cpu = (time.process_time() - c0) * 1000
    busy = (busy_jiffies() - b0) * 1000 / HZ
    others = max(0.0, (busy - cpu) / (wall * NCPU))
    return {'wallMs': wall / iters, 'cpuMs': cpu / iters, 'othersShare': others}


def stage1(net, x):
    x = F.leaky_relu(net.cond1(x), 0.2)
    return net.ResidualBlock2(net.ResidualBlock1(x))


def spans(n, tile, halo):
    return [(s, min(n, s + tile), max(0, s - halo), min(n, s + tile + halo)) for s in range(0, n, tile)]


def task(name):
    torch.manual_seed(0)
    m = re.match(r'^(full|tiled)(\d+)(?:x(\d+))?$', name)
    if m:  # bench/infer.ts: fullS / fullWxH / tiledWxH (tile 512, halo 24, two passes like enhanceTiled)
        W = int(m.group(2))
        H = int(m.group(3) or W)
        net = Enhancer('reflect').eval()
        x = torch.rand(1, 3, H, W)
        if m.group(1) == 'full':
            def run_full():
                with torch.no_grad():
                    net(x)
            return run_full, 1

        def run_tiled():
            rows, cols = spans(H, 512, 24), spans(W, 512, 24)
            with torch.no_grad():
                for (c0, c1, _, _) in rows:  # pass 1: stage 1 on cores + 8 px (pooled sums)
                    for (d0, d1, _, _) in cols:
                        stage1(net, x[:, :, max(0, c0 - 8):min(H, c1 + 8), max(0, d0 - 8):min(W, d1 + 8)]).sum(dim=(2, 3))
                L = torch.empty(1, 1, H, W)
                for (c0, c1, e0, e1) in rows:  # pass 2: the whole network on each tile with its halo
                    for (d0, d1, f0, f1) in cols:
                        Lt, _ = net(x[:, :, e0:e1, f0:f1])
                        L[:, :, c0:c1, d0:d1] = Lt[:, :, c0 - e0:c1 - e0, d0 - f0:d1 - f0]
                torch.clamp(x / (L + 1e-9), 0, 1)
        return run_tiled, 1
    if name.startswith('infer'):
        size = int(name[5:])
        net = Enhancer('reflect').eval()
        x = torch.rand(1, 3, size, size)

        def run():
            with torch.no_grad():
                net(x)
        return run, 1
    size, batch = (int(v) for v in name[5:].split('x'))
    net = Enhancer('zeros')
    opt = torch.optim.Adam(net.parameters(), lr=2e-5, weight_decay=1e-3)
    x = torch.rand(batch, 3, size, size)
    r = F.normalize(torch.tensor([0.3, -0.5, 0.8]), dim=0)  # same fixed unit vector as bench/train.ts

    def step():
        opt.zero_grad()
        L, out = net(x)
        emb = F.normalize(out.mean(dim=(2, 3)), dim=1)  # stand-in embedding: per-channel means
        loss = ((emb @ r - 0.5) ** 2).mean() + F.mse_loss(out, x)
        loss.backward()
        opt.step()
    return step, (2 if size * size * batch <= 128 * 128 else 1)


if __name__ == '__main__':
    args = sys.argv[1:]
    threads = 2
    if '--threads' in args:
        i = args.index('--threads')
        threads = int(args[i + 1])
        del args[i:i + 2]
    torch.set_num_threads(threads)
    out = {'threads': torch.get_num_threads(), 'torch': torch.__version__, 'tasks': {}}
    for name in args:
        fn, iters = task(name)
        if name.startswith('tiled'):
            # a 12 MP warm-up would double the run: warm up on one tile-sized full pass instead
            warm, _ = task('full512')
            warm()
            out['tasks'][name] = measure(fn, iters, warm=False)
        else:
            out['tasks'][name] = measure(fn, iters)
        out['tasks'][name]['peakRssMB'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out['tasks'][name]['loadavg'] = os.getloadavg()[0]
    print(json.dumps(out))
