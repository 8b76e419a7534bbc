#!/usr/bin/env python3
"""Reference CLAHE outputs for nodes/clahe.ts, from OpenCV (cv2.createCLAHE(clipLimit,
tileGridSize).apply on uint8 planes; Debian's python3-opencv 4.6). Writes PNG inputs/outputs and a
JSON index to nodes/fixtures/clahe/.

  apt-get install -y python3-opencv && /usr/bin/python3 tools/reference/clahe_reference.py

Cases: gray planes (the CLAHE core, expected equal to cv2 up to float-order ±1 levels) of sizes that
are and are not multiples of the grid (OpenCV pads with BORDER_REFLECT_101), clip limits 0 (plain
AHE), 2 and 4, square and non-square grids; and a colour photo crop run through the usual
"BGR -> YCrCb, CLAHE on Y, -> BGR" recipe (our node keeps Cr/Cb in float, so it differs by a few levels).
"""
import json, os
import numpy as np
import cv2

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(ROOT, '..', '..'))
OUT = os.path.join(REPO, 'nodes', 'fixtures', 'clahe')
os.makedirs(OUT, exist_ok=True)

rng = np.random.default_rng(7)
h, w = 47, 61
yy, xx = np.mgrid[0:h, 0:w]
# A dark, low-contrast scene with a bright "window" and noise: what CLAHE is for.
plane = 30 + 25 * np.sin(xx / 9.0) * np.cos(yy / 6.0) + rng.normal(0, 6, (h, w))
plane[5:20, 35:55] += 150
gray = np.clip(plane, 0, 255).round().astype(np.uint8)
cv2.imwrite(os.path.join(OUT, 'gray_61x47.png'), gray)
gray64 = cv2.resize(gray, (64, 48), interpolation=cv2.INTER_AREA)
cv2.imwrite(os.path.join(OUT, 'gray_64x48.png'), gray64)

cases = []
def gray_case(name, src_file, src, clip, tiles):
    out = cv2.createCLAHE(clipLimit=clip, tileGridSize=tiles).apply(src)
    out_file = f'{name}.png'
    cv2.imwrite(os.path.join(OUT, out_file), out)
    cases.append({'name': name, 'kind': 'gray', 'input': src_file, 'output': out_file, 'clipLimit': clip, 'tilesX': tiles[0], 'tilesY': tiles[1]})

gray_case('gray61_clip2_8x8', 'gray_61x47.png', gray, 2.0, (8, 8))
gray_case('gray61_clip0_8x8', 'gray_61x47.png', gray, 0.0, (8, 8))
gray_case('gray61_clip4_3x5', 'gray_61x47.png', gray, 4.0, (3, 5))
gray_case('gray64_clip2_8x8', 'gray_64x48.png', gray64, 2.0, (8, 8))
gray_case('gray64_clip1_4x4', 'gray_64x48.png', gray64, 1.0, (4, 4))

photo = cv2.imread(os.path.join(REPO, 'public', 'samples', 'pairs', 'imagemagick_bluebells_darker.jpg'))
crop = cv2.resize(photo, (120, 90), interpolation=cv2.INTER_AREA)
cv2.imwrite(os.path.join(OUT, 'photo_120x90.png'), crop)
ycc = cv2.cvtColor(crop, cv2.COLOR_BGR2YCrCb)
ycc[:, :, 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(ycc[:, :, 0])
cv2.imwrite(os.path.join(OUT, 'photo_clip2_8x8.png'), cv2.cvtColor(ycc, cv2.COLOR_YCrCb2BGR))
cases.append({'name': 'photo_clip2_8x8', 'kind': 'ycrcb', 'input': 'photo_120x90.png', 'output': 'photo_clip2_8x8.png', 'clipLimit': 2.0, 'tilesX': 8, 'tilesY': 8})

with open(os.path.join(OUT, 'clahe_reference.json'), 'w') as f:
    json.dump({'generator': 'tools/reference/clahe_reference.py', 'opencv': cv2.__version__, 'cases': cases}, f, indent=1)
print(cv2.__version__, [c['name'] for c in cases])
