import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { defineNode, type ImageBatchValue } from '../src/engine';
import { mulberry32 } from '../src/ml/random';

/**
 * Turns well-lit photos into plausible backlit ones, so paired data (and ground truth) exists
 * offline. A simulation, not a physical model: a bright sky/sun glow behind the scene, the
 * subject darkened through a soft mask, veiling glare that lowers contrast, and a warm cast.
 */
export default defineNode({
  type: 'synthetic-backlight',
  title: 'Synthetic Backlight',
  category: 'Image',
  description: 'Simulates backlighting on well-lit photos (sky glow, darkened subject via a soft mask, veiling glare, warm cast). Output names match the inputs, so the originals are ground truth.',
  inputs: { images: { kind: 'ImageBatch', label: 'Well-lit images' } },
  outputs: { images: { kind: 'ImageBatch', label: 'Backlit images' } },
  params: z.object({
    darkness: z.number().min(0).max(0.95).default(0.6).describe('How much the subject is darkened (0 = not at all).'),
    glow: z.number().min(0).max(1).default(0.5).describe('Strength of the bright sky/sun glow behind the subject.'),
    haze: z.number().min(0).max(0.8).default(0.2).describe('Veiling glare: lowers local contrast.'),
    warmth: z.number().min(0).max(1).default(0.3).describe('Warm (sunset) colour cast of the glow.'),
    seed: z.number().int().min(0).default(1).describe('Varies sun position and subject mask per image, reproducibly.'),
    keepHighlights: z
      .number()
      .min(0)
      .max(1)
      .default(0)
      .describe('Keep highlights: 0 = the whole frame is underexposed, whites dimmed to about 0.83 (as before). > 0 = bright regions (luma 0.6 → 0.9, a sky) keep this fraction of their exposure while the subject and the dark and mid tones are darkened as before, as when the camera exposes for a bright sky; so a training set holds bright regions that an enhancer must not push to white.'),
  }),
  async run({ inputs, params, ctx }) {
    const batch = inputs.images as ImageBatchValue;
    const images = batch.images.map((img, i) => {
      ctx.progress(i, batch.images.length, { message: img.name });
      const rand = mulberry32(params.seed * 7919 + i);
      const layout = { sunX: 0.2 + 0.6 * rand(), sunY: 0.05 + 0.2 * rand(), subjectX: 0.35 + 0.3 * rand(), subjectY: 0.55 + 0.25 * rand(), subjectSize: 0.3 + 0.15 * rand() };
      return { name: img.name, tensor: backlight(img.tensor, params, { ...layout, keepHighlights: params.keepHighlights }) };
    });
    const value: ImageBatchValue = { kind: 'ImageBatch', images };
    return { images: value };
  },
});

interface Layout {
  sunX: number;
  sunY: number;
  subjectX: number;
  subjectY: number;
  subjectSize: number;
  /** Fraction of their exposure bright regions keep (0 = underexposed like the rest). */
  keepHighlights?: number;
}

export function backlight(image: tf.Tensor3D, p: { darkness: number; glow: number; haze: number; warmth: number }, l: Layout): tf.Tensor3D {
  return tf.tidy(() => {
    const [h, w] = image.shape;
    const ys = tf.linspace(0, 1, h).reshape([h, 1, 1]);
    const xs = tf.linspace(0, 1, w).reshape([1, w, 1]);
    const aspect = w / h;
    // Soft elliptical subject mask, centred low in the frame (subjects stand in front of the light).
    const dx = xs.sub(l.subjectX).mul(aspect);
    const dy = ys.sub(l.subjectY);
    const subject = tf.exp(dx.square().add(dy.square()).div(-2 * l.subjectSize * l.subjectSize));
    // Glow: a sun disc's halo plus a sky gradient from the top; strongest where the subject is not.
    const sdx = xs.sub(l.sunX).mul(aspect);
    const sdy = ys.sub(l.sunY);
    const halo = tf.exp(sdx.square().add(sdy.square()).div(-2 * 0.18 * 0.18));
    const sky = tf.exp(ys.mul(-4));
    const glow = halo.add(sky.mul(0.6)).mul(tf.scalar(1).sub(subject)).square().mul(p.glow).clipByValue(0, 1);
    const tint = tf.tensor1d([1, 1 - 0.12 * p.warmth, 1 - 0.35 * p.warmth]).reshape([1, 1, 3]);
    // The camera exposes for the bright background: everything is underexposed (a gamma that crushes
    // shadows plus a gain below 1), the subject in front of the light most of all.
    // With `keepHighlights` the camera exposed for the highlights: wherever the photo is bright (luma
    // 0.6 → 0.9: a sky, a window) the underexposure fades out by that fraction, so bright regions stay
    // bright next to a dark subject and dark surroundings (what real backlit photos look like).
    let d: tf.Tensor = tf.scalar(p.darkness);
    if (l.keepHighlights) {
      const bright = image.mul(tf.tensor1d([0.299, 0.587, 0.114])).sum(-1, true).sub(0.6).div(0.3).clipByValue(0, 1);
      d = tf.scalar(1).sub(bright.mul(l.keepHighlights)).mul(p.darkness);
    }
    const darken = tf.scalar(1).sub(d.mul(subject.mul(0.5).add(0.45)));
    const dark = image.pow(d.add(1)).mul(darken.clipByValue(0.03, 1));
    // Veiling glare: a faint flat wash that lowers contrast. The original mix also dims whites to
    // 1 − 0.85·haze (0.83 at the default), so no pixel stays bright; with kept highlights it is
    // added as flare light instead (screen blend), which lifts shadows and leaves whites white.
    const veiled = l.keepHighlights ? tf.scalar(1).sub(tf.scalar(1).sub(dark).mul(tf.scalar(1).sub(tint.mul(p.haze * 0.15)))) : dark.mul(1 - p.haze).add(tint.mul(p.haze * 0.15));
    // Screen-blend the glow so highlights saturate like a blown-out sky.
    const glowRgb = glow.mul(tint);
    return tf.scalar(1).sub(tf.scalar(1).sub(veiled).mul(tf.scalar(1).sub(glowRgb))).clipByValue(0, 1) as tf.Tensor3D;
  });
}
