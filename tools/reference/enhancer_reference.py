#!/usr/bin/env python3
"""Independent PyTorch implementation of the CLIP-LIT/RAVE enhancement network (METHODS.md),
written from the method description (not from the original repositories), used to make fixtures
for src/ml/enhancer/network.test.ts and to time PyTorch CPU for bench/train.ts.

Module names follow the released state_dict keys so `load_state_dict` is a plain copy.

  /usr/bin/python3 tools/reference/enhancer_reference.py            # writes fixtures
  /usr/bin/python3 tools/reference/enhancer_reference.py --bench    # prints JSON timings
"""
import json, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(ROOT, '..', '..'))
DATA = os.path.normpath(os.path.join(REPO, '..', 'shared', 'data'))
OUT = os.path.join(REPO, 'src', 'ml', 'enhancer', 'fixtures')


class ResBlock(nn.Module):
    """conv3x3 (no bias, reflect) -> LeakyReLU(0.2) -> conv3x3 (no bias, reflect) -> +x -> LeakyReLU(0.2)"""
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, 1, 1, bias=False, padding_mode='reflect')
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False, padding_mode='reflect')

    def forward(self, x):
        h = F.leaky_relu(self.conv1(x), 0.2)
        return F.leaky_relu(self.conv2(h) + x, 0.2)


class Pyramid(nn.Module):
    """Bins 1,2,3,6: adaptive avg pool -> 1x1 conv 32->8 (no bias) -> PReLU -> bilinear (align corners);
    concat [x, branches] -> conv3x3 64->32 (no bias, zero pad) -> PReLU."""
    def __init__(self, c=32, r=8, bins=(1, 2, 3, 6)):
        super().__init__()
        self.bins = bins
        self.features = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(b), nn.Conv2d(c, r, 1, bias=False), nn.PReLU()) for b in bins)
        self.fuse = nn.Sequential(nn.Conv2d(c + r * len(bins), c, 3, 1, 1, bias=False), nn.PReLU())

    def forward(self, x):
        size = x.shape[2:]
        ups = [F.interpolate(f(x), size=size, mode='bilinear', align_corners=True) for f in self.features]
        return self.fuse(torch.cat([x] + ups, 1))


class Enhancer(nn.Module):
    def __init__(self, pad_mode='zeros'):
        super().__init__()
        pm = pad_mode  # non-block convs: zeros in training, reflect at test
        self.cond1 = nn.Conv2d(3, 32, 3, 1, 1, bias=True, padding_mode=pm)
        self.cond_add1 = nn.Conv2d(32, 1, 3, 1, 1, bias=True, padding_mode=pm)
        self.condx = nn.Conv2d(32, 64, 3, 1, 1, bias=True, padding_mode=pm)
        self.condy = nn.Conv2d(64, 32, 3, 1, 1, bias=True, padding_mode=pm)
        for i, c in enumerate([32, 32, 64, 64, 32, 32], 1):
            setattr(self, f'ResidualBlock{i}', ResBlock(c))
        self.PPM1 = Pyramid()

    def forward(self, x):
        x0 = x
        x = F.leaky_relu(self.cond1(x), 0.2)
        x = self.ResidualBlock2(self.ResidualBlock1(x))
        x = self.PPM1(x)
        x = self.ResidualBlock4(self.ResidualBlock3(self.condx(x)))
        x = self.ResidualBlock6(self.ResidualBlock5(self.condy(x)))
        L = F.relu(self.cond_add1(x))
        return L, torch.clamp(x0 / (L + 1e-9), 0, 1)


def load(path, pad_mode):
    sd = torch.load(path, map_location='cpu')
    sd = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in sd.items()}
    net = Enhancer(pad_mode)
    net.load_state_dict(sd, strict=True)
    return net


def test_input():
    """A 45x62 crop of the bluebells photo (odd sizes exercise uneven adaptive-pool bins)."""
    from PIL import Image
    img = Image.open(os.path.join(DATA, 'images', 'pairs', 'imagemagick_bluebells_darker.jpg')).convert('RGB')
    a = np.asarray(img, dtype=np.float32) / 255.0
    return np.ascontiguousarray(a[100:145, 200:262, :])  # H=45, W=62


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous().numpy().astype('<f4')


def make_fixtures():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(2)
    x = test_input()
    xt = torch.from_numpy(x).permute(2, 0, 1)[None].contiguous()
    meta = {'input': {'file': 'enh_input.bin', 'shape': [1, *x.shape]}, 'cases': []}
    x.astype('<f4').tofile(os.path.join(OUT, 'enh_input.bin'))
    cases = [('rave-weights/rave_unpaired.pth', 'reflect', 'rave_unpaired'),
             ('cliplit-weights/enhancement_model.pth', 'reflect', 'cliplit'),
             ('rave-weights/clip_lit_latent_paired.pth', 'zeros', 'latent_paired_zero')]
    for rel, pm, tag in cases:
        net = load(os.path.join(DATA, rel), pm).eval()
        with torch.no_grad():
            L, out = net(xt)
        nhwc(L).tofile(os.path.join(OUT, f'enh_{tag}_L.bin'))
        nhwc(out).tofile(os.path.join(OUT, f'enh_{tag}_out.bin'))
        meta['cases'].append({'pth': rel, 'padMode': 'zero' if pm == 'zeros' else 'reflect', 'tag': tag,
                              'L': f'enh_{tag}_L.bin', 'out': f'enh_{tag}_out.bin'})
    # Gradients of a fixed scalar loss in training mode (zero padding): checks the backward pass.
    net = load(os.path.join(DATA, 'rave-weights/rave_unpaired.pth'), 'zeros')
    L, out = net(xt)
    loss = (out ** 2).mean() + L.mean()
    loss.backward()
    grads = {}
    for name in ['cond1.weight', 'cond1.bias', 'ResidualBlock1.conv2.weight', 'PPM1.features.3.1.weight',
                 'PPM1.features.3.2.weight', 'PPM1.fuse.1.weight', 'cond_add1.bias', 'condy.bias']:
        g = dict(net.named_parameters())[name].grad
        if g.dim() == 4:
            g = g.permute(2, 3, 1, 0)  # OIHW -> HWIO like the TS weights
        grads[name] = {'shape': list(g.shape), 'values': g.contiguous().view(-1).tolist()}
    meta['grad'] = {'pth': 'rave-weights/rave_unpaired.pth', 'padMode': 'zero', 'loss': float(loss), 'grads': grads}
    with open(os.path.join(OUT, 'enhancer_reference.json'), 'w') as f:
        json.dump(meta, f)
    print('wrote fixtures to', OUT)


def bench(configs):
    """PyTorch CPU (2 threads) ms per training step (fwd+bwd+Adam) and per inference."""
    torch.set_num_threads(2)
    torch.manual_seed(0)
    res = []
    for size, batch, iters in configs:
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
        step()
        t0 = time.perf_counter()
        for _ in range(iters):
            step()
        train_ms = (time.perf_counter() - t0) / iters * 1000
        res.append({'size': size, 'batch': batch, 'train_ms': train_ms})
    net = Enhancer('reflect').eval()
    for size in [512]:
        x = torch.rand(1, 3, size, size)
        with torch.no_grad():
            net(x)
            t0 = time.perf_counter()
            net(x)
            ms = (time.perf_counter() - t0) * 1000
        res.append({'infer_size': size, 'infer_ms': ms, 'ms_per_mp': ms / (size * size / 1e6)})
    print(json.dumps(res))


if __name__ == '__main__':
    if '--bench' in sys.argv:
        # --bench size:batch:iters ...
        cfg = [tuple(int(v) for v in a.split(':')) for a in sys.argv[2:]] or [(256, 1, 2), (512, 1, 1), (256, 8, 1)]
        bench(cfg)
    else:
        make_fixtures()
