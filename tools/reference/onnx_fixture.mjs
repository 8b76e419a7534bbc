#!/usr/bin/env node
// Writes src/ml/clip/fixtures/onnx_tiny_clip.json: onnxruntime-node (cpu) running the exported tiny CLIP
// vision tower (tools/reference/out/tiny_clip_vision.onnx, made by tiny_clip_onnx.py) on 4 seeded random
// CLIP-normalised pixel tensors, NCHW [4,3,16,16]. The committed fixture lets src/ml/clip/onnx.test.ts
// cross-check the tfjs tower on a fresh clone without Python or the .onnx.
//
//   /usr/bin/python3 tools/reference/tiny_clip_onnx.py   # (re)creates the .onnx
//   node tools/reference/onnx_fixture.mjs
//
// Also checks ORT against HF's image_embeds in ../shared/data/tiny-clip/tiny_clip_embeds.json (<= 1e-4).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const onnxPath = path.join(here, 'out/tiny_clip_vision.onnx');
const outPath = path.join(repo, 'src/ml/clip/fixtures/onnx_tiny_clip.json');
const tinyDir = path.resolve(repo, '../shared/data/tiny-clip');

const BATCH = 4;
const SIZE = 16;
const SEED = 20260612;

/** mulberry32: small deterministic PRNG, so the inputs are reproducible without numpy. */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

if (!existsSync(onnxPath)) {
  console.error(`${onnxPath} missing: run /usr/bin/python3 tools/reference/tiny_clip_onnx.py first`);
  process.exit(1);
}
const session = await ort.InferenceSession.create(onnxPath, { executionProviders: ['cpu'] });

// Uniform in [-2, 2] (the span of CLIP-normalised pixels), rounded to 4 decimals to keep the JSON small;
// the stored decimal values are what both ORT (here) and tfjs (in the test) are fed, as float32.
const rand = mulberry32(SEED);
const decimals = Array.from({ length: BATCH * 3 * SIZE * SIZE }, () => Math.round((rand() * 4 - 2) * 1e4) / 1e4);
const pixels = Float32Array.from(decimals);
const result = await session.run({ pixel_values: new ort.Tensor('float32', pixels, [BATCH, 3, SIZE, SIZE]) });
const embeds = result.image_embeds;
const dim = embeds.dims[1];

// Sanity: ORT on the HF fixture's pixels reproduces HF's (unnormalised) image_embeds.
const ref = JSON.parse(readFileSync(path.join(tinyDir, 'tiny_clip_embeds.json'), 'utf8'));
const refOut = await session.run({ pixel_values: new ort.Tensor('float32', Float32Array.from(ref.pixels.flat(2)), [1, 3, SIZE, SIZE]) });
const refDiff = Math.max(...Array.from(refOut.image_embeds.data, (v, i) => Math.abs(v - ref.image_embeds.flat()[i])));
console.log(`ORT vs HF float64 image_embeds: max|diff| ${refDiff.toExponential(3)}`);
if (!(refDiff <= 1e-4)) throw new Error(`ORT output differs from HF image_embeds by ${refDiff}`);

const rows = (data, n, width) => Array.from({ length: n }, (_, i) => Array.from(data.slice(i * width, (i + 1) * width)));
const fixture = {
  about:
    'onnxruntime-node ' + ort.env.versions.common + ' (cpu) on tools/reference/out/tiny_clip_vision.onnx (exported by tools/reference/tiny_clip_onnx.py from ../shared/data/tiny-clip). ' +
    'pixel_values: NCHW [4,3,16,16] CLIP-normalised, mulberry32 seed ' + SEED + ', uniform [-2,2] rounded to 1e-4; ' +
    'image_embeds: [4,' + dim + '] unnormalised visual_projection(post_layernorm(CLS)) as HF image_embeds before L2 normalisation. ' +
    'Regenerate: node tools/reference/onnx_fixture.mjs',
  seed: SEED,
  shape: [BATCH, 3, SIZE, SIZE],
  pixel_values: rows(decimals, BATCH, 3 * SIZE * SIZE),
  image_embeds: rows(embeds.data, BATCH, dim),
  hf_reference_max_abs_diff: refDiff,
};
writeFileSync(outPath, JSON.stringify(fixture) + '\n');
console.log(`wrote ${outPath} (${readFileSync(outPath).length} bytes)`);
