#!/usr/bin/env python3
"""Reference metric values for src/ml/metrics and the SSIM loss, computed the way RAVE's
compute_metrics.py does (cv2.imread -> cv2.cvtColor(COLOR_RGB2GRAY) on BGR data -> cv2.PSNR and
skimage structural_similarity with data_range = enhanced.max() - enhanced.min()).

  /usr/bin/python3 tools/reference/metrics_reference.py
"""
import json, os
import numpy as np
import cv2
from skimage.metrics import structural_similarity, peak_signal_noise_ratio

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(ROOT, '..', '..'))
DATA = os.path.normpath(os.path.join(REPO, '..', 'shared', 'data'))
OUT = os.path.join(REPO, 'src', 'ml', 'metrics', 'fixtures')
os.makedirs(OUT, exist_ok=True)

# Synthetic pair: a smooth gradient with a disc, and a darkened, noisy, shifted copy.
rng = np.random.default_rng(0)
h, w = 48, 64
yy, xx = np.mgrid[0:h, 0:w]
base = np.stack([xx / w, yy / h, 0.5 + 0.4 * np.sin(xx / 7.0) * np.cos(yy / 5.0)], -1)
base[(yy - 24) ** 2 + (xx - 30) ** 2 < 100] = [0.9, 0.8, 0.2]
gt = np.clip(base * 255, 0, 255).round().astype(np.uint8)
enh = np.clip(0.7 * base * 255 + rng.normal(0, 8, base.shape) + 10, 0, 255).round().astype(np.uint8)
cv2.imwrite(os.path.join(OUT, 'synthetic_gt.png'), gt[:, :, ::-1])
cv2.imwrite(os.path.join(OUT, 'synthetic_enh.png'), enh[:, :, ::-1])

pairs = [
    ('bluebells', os.path.join(DATA, 'images/pairs/imagemagick_bluebells_lin.jpg'), os.path.join(DATA, 'images/pairs/imagemagick_bluebells_darker.jpg')),
    ('leuven', os.path.join(DATA, 'images/pairs/opencv_leuvenA.jpg'), os.path.join(DATA, 'images/pairs/opencv_leuvenB.jpg')),
    ('synthetic', os.path.join(OUT, 'synthetic_gt.png'), os.path.join(OUT, 'synthetic_enh.png')),
]
res = {}
for name, gp, ep in pairs:
    g = cv2.imread(gp, 1)
    e = cv2.imread(ep, 1)
    g_gray = cv2.cvtColor(g, cv2.COLOR_RGB2GRAY)  # exactly RAVE's (BGR data, RGB2GRAY)
    e_gray = cv2.cvtColor(e, cv2.COLOR_RGB2GRAY)
    rave_psnr = cv2.PSNR(g_gray, e_gray)
    rave_ssim = structural_similarity(g_gray, e_gray, data_range=int(e_gray.max()) - int(e_gray.min()))
    g_rgb, e_rgb = g[:, :, ::-1], e[:, :, ::-1]
    col_psnr = peak_signal_noise_ratio(g_rgb, e_rgb, data_range=255)
    col_ssim = structural_similarity(g_rgb, e_rgb, channel_axis=-1, data_range=255)
    # Gaussian SSIM as used by the SSIM loss: 11x11 (sigma 1.5, truncate 3.5), population covariance, range 1.
    gf, ef = g_rgb.astype(np.float64) / 255, e_rgb.astype(np.float64) / 255
    gauss_ssim = structural_similarity(gf, ef, channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False)
    res[name] = {'gt': os.path.relpath(gp, DATA) if gp.startswith(DATA) else os.path.basename(gp),
                 'enhanced': os.path.relpath(ep, DATA) if ep.startswith(DATA) else os.path.basename(ep),
                 'rave_psnr': rave_psnr, 'rave_ssim': rave_ssim, 'color_psnr': col_psnr, 'color_ssim': col_ssim,
                 'gaussian_ssim_rgb01': gauss_ssim,
                 'gray_checksum': int(g_gray.astype(np.int64).sum()), 'gray_first': g_gray.reshape(-1)[:8].tolist()}
with open(os.path.join(OUT, 'metrics_reference.json'), 'w') as f:
    json.dump(res, f, indent=1)
print(json.dumps(res, indent=1))
