#!/usr/bin/env python3
"""PyTorch CUDA eager reference for bench/gpu (issue #10): the same enhancement network, loss and sizes
as bench/gpu/bench.ts, timed on the same machine. Written from METHODS.md; the network is
tools/reference/enhancer_reference.py's and the vision tower extends tools/reference/tiny_clip_onnx.py's
(both independent implementations from the method description / HF architecture).

    python3 tools/reference/gpu_bench.py [--quick] [--json] [--device cuda|cpu] [--steps N]

Prints a readable summary, or with --json one line `BENCH_RESULT {...}` that bench/gpu/bench.ts reads.
Without PyTorch or without CUDA it reports "skipped: ..." (exit 0) instead of failing: CI has neither.
`--device cpu` runs the same code on the CPU (to check the script where there is no GPU).

Per training step (batch 8; 256² and 512²), as in the product's trainer, RAVE main stage:
  6·320·mean((<E(out), r> - thr)²) + 0.9·25·Σ_l w_l Σ_batch MSE(F_l(out), F_l(in))
with E = L2-normalised ViT-B/32-shaped CLIP embedding (random weights; the image is resized whole to
224² with antialiased bilinear, CLIP-normalised), F_l = the tower's hidden states (pre-LN embeddings then
every layer: the documented substitute for RN101), w = [1,1,1,1,0.5,0.5,...]. The tower runs three times
per step like the product's (embedding of out, features of out, features of in without gradient).
Adam lr 2e-5 with L2 weight decay 1e-3. PyTorch defaults otherwise (eager, cudnn.benchmark off; cuDNN
convolutions may use TF32 on Ampere+ by default, which tfjs-webgpu never does: the table says which).
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

VIT_B32 = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
               image_size=224, patch_size=32, layer_norm_eps=1e-5, hidden_act='quick_gelu')
TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            image_size=32, patch_size=16, layer_norm_eps=1e-5, hidden_act='quick_gelu')
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IDENTITY_WEIGHTS_MAIN = [1, 1, 1, 1, 0.5]


def plan(quick, steps):
    """Sizes; must match makePlan() in bench/gpu/bench.ts."""
    if quick:
        return dict(train=[(16, 2, steps or 1)], full=32, photo=(64, 32), vision=TINY, proj=16)
    return dict(train=[(256, 8, steps or 20), (512, 8, steps or 5)], full=1024, photo=(4000, 3000), vision=VIT_B32, proj=512)


def emit(result, as_json):
    if as_json:
        print('BENCH_RESULT ' + json.dumps(result), flush=True)
    else:
        print(json.dumps(result, indent=2))


def run(args):
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, HERE)
    from enhancer_reference import Enhancer
    from tiny_clip_onnx import VisionTower

    dev = torch.device(args.device)
    p = plan(args.quick, args.steps)

    class Tower(VisionTower):
        """VisionTower that also returns HF hidden_states (pre-LN embeddings, then each layer)."""

        def states(self, pixel_values):
            patches = self.patch_embedding(pixel_values).flatten(2).transpose(1, 2)
            cls = self.class_embedding.reshape(1, 1, -1).expand(patches.shape[0], 1, -1)
            x = self.pre_layrnorm(torch.cat([cls, patches], dim=1) + self.position_embedding)
            hs = [x]
            for layer in self.layers:
                x = layer(x)
                hs.append(x)
            emb = self.visual_projection(self.post_layernorm(x[:, 0, :]))
            return F.normalize(emb, dim=-1), hs

    torch.manual_seed(0)
    tower = Tower({'vision_config': p['vision'], 'projection_dim': p['proj']})
    with torch.no_grad():
        for name, w in tower.named_parameters():
            if ('layer_norm' in name or 'layrnorm' in name or 'layernorm' in name) and name.endswith('weight'):
                w.fill_(1.0)
            elif ('layer_norm' in name or 'layrnorm' in name or 'layernorm' in name):
                w.zero_()
            else:
                w.normal_(0, 0.02)
    tower = tower.to(dev).eval().requires_grad_(False)
    size = p['vision']['image_size']
    mean = torch.tensor(CLIP_MEAN, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=dev).view(1, 3, 1, 1)

    def prep(img):
        img = F.interpolate(img, size=(size, size), mode='bilinear', align_corners=False, antialias=True)
        return (img - mean) / std

    r = torch.sin(1 + 0.37 * torch.arange(p['proj'], dtype=torch.float32, device=dev))
    r = r / r.norm()
    thr = 0.2

    def loss_fn(out, x):
        emb, _ = tower.states(prep(out))
        guidance = ((emb @ r - thr) ** 2).mean()
        _, fo = tower.states(prep(out))
        with torch.no_grad():
            _, fi = tower.states(prep(x))
        n = out.shape[0]
        ident = 0
        for layer, (a, b) in enumerate(zip(fo, fi)):
            w = IDENTITY_WEIGHTS_MAIN[min(layer, len(IDENTITY_WEIGHTS_MAIN) - 1)]
            ident = ident + w * ((a - b) ** 2).reshape(n, -1).mean(1).sum()
        return 6 * 320 * guidance + 0.9 * 25 * ident

    def make_net(pad):
        torch.manual_seed(1)
        net = Enhancer(pad)
        with torch.no_grad():  # the product's init: N(0, 0.02) convs, zero biases, illumination bias 1, PReLU 0.25
            for name, w in net.named_parameters():
                if w.dim() == 4:
                    w.normal_(0, 0.02)
                elif name.endswith('bias'):
                    w.fill_(1.0 if name == 'cond_add1.bias' else 0.0)
        return net.to(dev)

    cuda = dev.type == 'cuda'

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def peak_mib():
        return torch.cuda.max_memory_allocated() / 2 ** 20 if cuda else None

    def reset_peak():
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()

    result = {'torch': f'torch {torch.__version__}', 'train': []}
    if cuda:
        props = torch.cuda.get_device_properties(dev)
        result['device'] = (f'{props.name} ({props.total_memory / 2 ** 30:.0f} GiB), CUDA {torch.version.cuda}, '
                            f'cudnn TF32 {torch.backends.cudnn.allow_tf32}, matmul TF32 {torch.backends.cuda.matmul.allow_tf32}')
    else:
        result['device'] = f'CPU ({torch.get_num_threads()} threads) — not a GPU number'

    for s, b, steps in p['train']:
        cell = {'size': s, 'batch': b, 'steps': steps}
        result['train'].append(cell)
        try:
            reset_peak()
            net = make_net('zeros')
            opt = torch.optim.Adam(net.parameters(), lr=2e-5, weight_decay=1e-3)
            x = torch.rand(b, 3, s, s, device=dev, generator=None)

            def step():
                opt.zero_grad(set_to_none=True)
                _, out = net(x)
                loss = loss_fn(out, x)
                loss.backward()
                opt.step()
                return loss

            sync()
            t0 = time.perf_counter()
            step().item()
            cell['firstStepMs'] = (time.perf_counter() - t0) * 1000
            sync()
            t0 = time.perf_counter()
            for _ in range(steps):
                loss = step()
            cell['loss'] = float(loss.item())
            sync()
            cell['msPerStep'] = (time.perf_counter() - t0) * 1000 / steps
            cell['peakMiB'] = peak_mib()
            del net, opt, x, loss
        except Exception as err:  # e.g. out of memory: report it in the table
            cell['error'] = f'failed: {str(err).splitlines()[0]}'
        print(f'[torch] train {s}² ×{b}: {cell.get("msPerStep", cell.get("error"))}', file=sys.stderr, flush=True)

    net = make_net('reflect').eval()
    with torch.no_grad():
        side = p['full']
        try:
            reset_peak()
            x = torch.rand(1, 3, side, side, device=dev)

            def full():
                sync()
                t0 = time.perf_counter()
                _, out = net(x)
                out.cpu()
                return time.perf_counter() - t0
            full()
            sec = min(full(), full())
            result['enhanceFull'] = {'label': f'{side}² full', 'seconds': sec, 'secondsPerMP': sec / (side * side / 1e6), 'peakMiB': peak_mib()}
        except Exception as err:
            result['enhanceFull'] = {'label': f'{side}² full', 'error': f'failed: {str(err).splitlines()[0]}'}
        w, h = p['photo']
        mp = w * h / 1e6
        label = f'{w}×{h} ({mp:.{3 if mp < 1 else 1}f} MP), full frame'
        try:
            reset_peak()
            idx = torch.arange(w * h * 3, dtype=torch.int64)
            pixels = ((idx * 2654435761) % 2 ** 32 >> 24).to(torch.uint8).reshape(h, w, 3).numpy()  # same noise as bench.ts

            def photo():
                sync()
                t0 = time.perf_counter()
                img = torch.from_numpy(pixels).to(dev).permute(2, 0, 1)[None].float() / 255
                _, out = net(img)
                (out * 255).round().to(torch.uint8)[0].permute(1, 2, 0).cpu().numpy()
                return time.perf_counter() - t0
            photo()
            sec = photo()
            result['photo'] = {'label': label, 'seconds': sec, 'secondsPerMP': sec / (w * h / 1e6), 'peakMiB': peak_mib()}
        except Exception as err:
            result['photo'] = {'label': label, 'error': f'failed: {str(err).splitlines()[0]}'}
    print(f'[torch] enhance: {result["enhanceFull"]} photo: {result["photo"]}', file=sys.stderr, flush=True)
    return result


def main():
    ap = argparse.ArgumentParser(description='PyTorch reference for bench/gpu')
    ap.add_argument('--quick', action='store_true', help='tiny sizes (the CI check of bench/gpu)')
    ap.add_argument('--json', action='store_true', help='print one BENCH_RESULT line for bench/gpu/bench.ts')
    ap.add_argument('--device', default='cuda', help='cuda (default) or cpu (to check this script without a GPU)')
    ap.add_argument('--steps', type=int, default=None, help='timed training steps per size')
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        emit({'skipped': f'skipped: PyTorch is not installed for {sys.executable}'}, args.json)
        return 0
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        emit({'skipped': f'skipped: no CUDA (torch {torch.__version__}, torch.cuda.is_available() is False)'}, args.json)
        return 0
    try:
        emit(run(args), args.json)
    except Exception as err:
        emit({'error': f'PyTorch reference failed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ""}'}, args.json)
        raise
    return 0


if __name__ == '__main__':
    sys.exit(main())
