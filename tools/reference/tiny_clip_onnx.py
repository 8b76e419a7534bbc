#!/usr/bin/env python3
"""Independent PyTorch CLIP vision tower + visual projection, exported to ONNX.

A second implementation (besides src/ml/clip/model.ts) of the HF CLIPVisionModel forward pass plus
`visual_projection`, written from the HF CLIP architecture and driven by config.json. Weights come
from model.safetensors, parsed here by hand (the python `safetensors` package is not needed):
8-byte little-endian header length, JSON header, raw little-endian F32 data.

    /usr/bin/python3 tools/reference/tiny_clip_onnx.py [--model-dir DIR] [--out PATH]

1. builds the tower from DIR/config.json + DIR/model.safetensors (default ../shared/data/tiny-clip),
2. checks it reproduces `image_embeds` of DIR/tiny_clip_embeds.json on its `pixels` (max |diff| <= 1e-4;
   those are HF's unnormalised `image_embeds` = visual_projection(post_layernorm(CLS)), before the
   L2 normalisation CLIPModel applies for the logits),
3. exports with torch.onnx.export (opset 14, dynamic batch) to tools/reference/out/tiny_clip_vision.onnx:
   input  `pixel_values` float32 [N,3,S,S] (CLIP-normalised, NCHW),
   output `image_embeds` float32 [N,projection_dim] (unnormalised).

Needs torch + numpy (Debian's /usr/bin/python3 has torch 1.13). The .onnx is NOT committed: bench/encode.ts
runs this script when the file is missing. The committed test fixture
src/ml/clip/fixtures/onnx_tiny_clip.json is produced from the .onnx by tools/reference/onnx_fixture.mjs
(onnxruntime-node), so CI needs neither Python nor the .onnx.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..'))
DEFAULT_MODEL_DIR = os.path.abspath(os.path.join(REPO, '..', 'shared', 'data', 'tiny-clip'))
DEFAULT_OUT = os.path.join(HERE, 'out', 'tiny_clip_vision.onnx')


def read_safetensors(path):
    """name -> float32 numpy array, parsing the file format by hand."""
    with open(path, 'rb') as f:
        data = f.read()
    (header_len,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + header_len].decode('utf-8'))
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        if info['dtype'] != 'F32':
            raise ValueError(f'{name}: dtype {info["dtype"]} not supported (F32 only)')
        start, end = info['data_offsets']
        arr = np.frombuffer(data, dtype='<f4', count=(end - start) // 4, offset=base + start)
        tensors[name] = arr.reshape(info['shape']).astype(np.float32)
    return tensors


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def gelu(x):
    return torch.nn.functional.gelu(x)


ACTIVATIONS = {'quick_gelu': quick_gelu, 'gelu': gelu}


class Attention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.scale = self.head_dim ** -0.5
        self.q_proj = nn.Linear(hidden, hidden)
        self.k_proj = nn.Linear(hidden, hidden)
        self.v_proj = nn.Linear(hidden, hidden)
        self.out_proj = nn.Linear(hidden, hidden)

    def forward(self, x):
        n, t, c = x.shape

        def split(y):  # [N,T,C] -> [N,H,T,D]
            return y.reshape(n, t, self.heads, self.head_dim).transpose(1, 2)

        q = split(self.q_proj(x)) * self.scale
        k = split(self.k_proj(x))
        v = split(self.v_proj(x))
        weights = torch.softmax(q @ k.transpose(-1, -2), dim=-1)  # no mask on the vision side
        out = (weights @ v).transpose(1, 2).reshape(n, t, c)
        return self.out_proj(out)


class Mlp(nn.Module):
    def __init__(self, hidden, intermediate, act):
        super().__init__()
        self.fc1 = nn.Linear(hidden, intermediate)
        self.fc2 = nn.Linear(intermediate, hidden)
        self.act = ACTIVATIONS[act]

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class EncoderLayer(nn.Module):
    def __init__(self, vc):
        super().__init__()
        h, eps = vc['hidden_size'], vc['layer_norm_eps']
        self.layer_norm1 = nn.LayerNorm(h, eps=eps)
        self.self_attn = Attention(h, vc['num_attention_heads'])
        self.layer_norm2 = nn.LayerNorm(h, eps=eps)
        self.mlp = Mlp(h, vc['intermediate_size'], vc['hidden_act'])

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class VisionTower(nn.Module):
    """HF CLIPVisionModel (pooled) + CLIPModel.visual_projection. Parameter names = HF keys minus `vision_model.`."""

    def __init__(self, config):
        super().__init__()
        vc = config['vision_config']
        h, p, s = vc['hidden_size'], vc['patch_size'], vc['image_size']
        self.num_positions = (s // p) ** 2 + 1
        self.patch_embedding = nn.Conv2d(vc.get('num_channels', 3), h, kernel_size=p, stride=p, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(h))
        self.position_embedding = nn.Parameter(torch.zeros(self.num_positions, h))
        self.pre_layrnorm = nn.LayerNorm(h, eps=vc['layer_norm_eps'])
        self.layers = nn.ModuleList([EncoderLayer(vc) for _ in range(vc['num_hidden_layers'])])
        self.post_layernorm = nn.LayerNorm(h, eps=vc['layer_norm_eps'])
        self.visual_projection = nn.Linear(h, config['projection_dim'], bias=False)

    def forward(self, pixel_values):
        patches = self.patch_embedding(pixel_values)  # [N,C,S/p,S/p]
        patches = patches.flatten(2).transpose(1, 2)  # [N,P,C], row-major patch order
        cls = self.class_embedding.reshape(1, 1, -1).expand(patches.shape[0], 1, -1)
        x = torch.cat([cls, patches], dim=1) + self.position_embedding
        x = self.pre_layrnorm(x)
        for layer in self.layers:
            x = layer(x)
        pooled = self.post_layernorm(x[:, 0, :])
        return self.visual_projection(pooled)

    def load_hf(self, tensors):
        mapping = {
            'patch_embedding.weight': 'vision_model.embeddings.patch_embedding.weight',
            'class_embedding': 'vision_model.embeddings.class_embedding',
            'position_embedding': 'vision_model.embeddings.position_embedding.weight',
            'visual_projection.weight': 'visual_projection.weight',
        }
        state = {}
        for name, param in self.state_dict().items():
            key = mapping.get(name, 'vision_model.' + name.replace('layers.', 'encoder.layers.', 1) if name.startswith('layers.') else 'vision_model.' + name)
            if key not in tensors:
                raise KeyError(f'{key} (for {name}) not in safetensors')
            value = torch.from_numpy(tensors[key].copy())
            if tuple(value.shape) != tuple(param.shape):
                raise ValueError(f'{key}: shape {tuple(value.shape)} != expected {tuple(param.shape)}')
            state[name] = value
        self.load_state_dict(state, strict=True)
        return self


def build(model_dir):
    with open(os.path.join(model_dir, 'config.json')) as f:
        config = json.load(f)
    model = VisionTower(config).load_hf(read_safetensors(os.path.join(model_dir, 'model.safetensors')))
    return model.eval(), config


def check_reference(model, model_dir, tol=1e-4):
    with open(os.path.join(model_dir, 'tiny_clip_embeds.json')) as f:
        ref = json.load(f)
    pixels = torch.tensor(ref['pixels'], dtype=torch.float32).unsqueeze(0)  # [1,3,S,S], already normalised
    expected = np.array(ref['image_embeds'], dtype=np.float64)
    with torch.no_grad():
        got32 = model(pixels).numpy().astype(np.float64)
        got64 = model.double()(pixels.double()).numpy()
    model.float()
    d32 = float(np.max(np.abs(got32 - expected)))
    d64 = float(np.max(np.abs(got64 - expected)))
    print(f'image_embeds vs HF float64 reference: max|diff| float32 {d32:.3e}, float64 {d64:.3e} (tol {tol})')
    if d32 > tol:
        raise SystemExit(f'FAIL: float32 tower differs from tiny_clip_embeds.json image_embeds by {d32}')
    return d32, d64


def export(model, config, out):
    os.makedirs(os.path.dirname(out), exist_ok=True)
    s = config['vision_config']['image_size']
    dummy = torch.randn(2, 3, s, s, generator=torch.Generator().manual_seed(0))
    torch.onnx.export(
        model, (dummy,), out,
        input_names=['pixel_values'], output_names=['image_embeds'],
        dynamic_axes={'pixel_values': {0: 'batch'}, 'image_embeds': {0: 'batch'}},
        opset_version=14, do_constant_folding=True,
    )
    print(f'wrote {out} ({os.path.getsize(out)} bytes, opset 14, dynamic batch)')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model-dir', default=DEFAULT_MODEL_DIR)
    ap.add_argument('--out', default=DEFAULT_OUT)
    args = ap.parse_args()
    torch.manual_seed(0)
    model, config = build(args.model_dir)
    check_reference(model, args.model_dir)
    export(model, config, args.out)


if __name__ == '__main__':
    sys.exit(main())
