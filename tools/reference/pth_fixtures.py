#!/usr/bin/env python3
"""Fixtures for src/ml/pth.test.ts, made with PyTorch itself (independent of the TS reader).

- strided.pth: a tiny state_dict with a transposed (non-contiguous) view, a view with a storage
  offset, a float16 and a float64 tensor, and a 0-d tensor; plus the expected values as JSON.
- checksums of every released checkpoint (sum, sum of squares, first values) via torch.load.
Run: /usr/bin/python3 tools/reference/pth_fixtures.py
"""
import json, os, glob, collections
import torch

ROOT = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(ROOT, '..', '..', 'src', 'ml', 'enhancer', 'fixtures')
DATA = os.path.join(ROOT, '..', '..', '..', 'shared', 'data')
os.makedirs(OUT, exist_ok=True)

g = torch.Generator().manual_seed(0)
base = torch.randn(4, 6, generator=g)
sd = collections.OrderedDict()
sd['transposed'] = base.t()                 # stride (1, 6)
sd['offset_view'] = base[1:3, 2:5]          # offset 8, stride (6, 1)
sd['half'] = torch.randn(3, 5, generator=g).half()
sd['double'] = torch.randn(2, 3, generator=g).double()
sd['scalar'] = torch.tensor(3.5)
torch.save(sd, os.path.join(OUT, 'strided.pth'))
expected = {k: {'shape': list(v.shape), 'values': v.float().contiguous().view(-1).tolist()} for k, v in sd.items()}
with open(os.path.join(OUT, 'strided.json'), 'w') as f:
    json.dump(expected, f)

sums = {}
files = sorted(glob.glob(os.path.join(DATA, 'rave-weights', '*.pth'))) + [os.path.join(DATA, 'cliplit-weights', 'enhancement_model.pth')]
for p in files:
    st = torch.load(p, map_location='cpu')
    rel = os.path.relpath(p, DATA)
    sums[rel] = {k: {'shape': list(v.shape), 'sum': float(v.double().sum()), 'sumsq': float((v.double() ** 2).sum()),
                     'first': v.reshape(-1)[:3].tolist()} for k, v in st.items()}
with open(os.path.join(OUT, 'pth_checksums.json'), 'w') as f:
    json.dump(sums, f)
print('wrote', OUT)
