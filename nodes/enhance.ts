import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { defineNode, type ImageBatchValue, type NamedImage } from '../src/engine';
import { EnhancerNet } from '../src/ml/enhancer/network';
import { enhanceFast, enhanceTiledAsync, fullPassBytes, fullPassFits, tileCount, type TileProgress } from '../src/ml/enhancer/inference';
import { decodeEnhancer, decodeEnhancerTfjs } from '../src/ml/training/enhancerFiles';
import { enhanceEngine } from '../src/ml/onnx/engine';

/** Default weights: trained by graphs/train-bundled.json (see public/models/bundled-enhancer/SOURCE.md). */
export const BUNDLED_ENHANCER = 'models/bundled-enhancer/bundled-enhancer.safetensors';

/**
 * Applies an enhancer at native resolution: a trained one from the Enhancer Trainer, or weights
 * from a file (our .safetensors, a tfjs model.json, or the released CLIP-LIT/RAVE .pth — those
 * are never bundled: point `weights` at your copy).
 */
export default defineNode({
  type: 'enhance',
  title: 'Enhance',
  category: 'Image',
  memory: { field: 'mode', fix: "use mode 'tiled' (bounded memory) or a smaller tile, or downscale the images (Image Loader maxSide)." },
  description: 'Enhances images with a trained enhancer (input) or a weights file (.safetensors, model.json, or released CLIP-LIT/RAVE .pth). Full resolution, tiled (exact, bounded memory) or fast (illumination at reduced resolution).',
  inputs: {
    images: { kind: 'ImageBatch', label: 'Images' },
    enhancer: { kind: 'Enhancer', label: 'Enhancer', optional: true },
  },
  outputs: {
    images: { kind: 'ImageBatch', label: 'Enhanced' },
    enhancer: { kind: 'Enhancer', label: 'Enhancer' },
  },
  params: z.object({
    weights: z.string().default('').describe('Weights file when no enhancer is wired: path to .safetensors, .pth, or a folder with model.json (relative to the graph). Empty = the bundled enhancer (models/bundled-enhancer).'),
    mode: z.enum(['tiled', 'full', 'fast']).default('tiled').describe('tiled = exact full-resolution result with bounded memory, progress per tile and cancel between tiles; full = one pass (photos too big for the wasm heap run tiled, with a note); fast = illumination map at 1/factor resolution.'),
    tile: z.number().int().min(64).max(4096).default(512).describe('Tile side in px (tiled mode).'),
    fastFactor: z.number().int().min(2).max(16).default(2).describe('Downscale factor of the illumination map (fast mode).'),
  }),
  externalKey: async (params) => params.weights,
  async run({ inputs, params, ctx }) {
    const batch = inputs.images as ImageBatchValue;
    let net = inputs.enhancer as EnhancerNet | undefined;
    if (!net) {
      // Nothing wired and no file given: the enhancer bundled with the app (public/models/bundled-enhancer).
      const bundled = !params.weights;
      if (bundled) ctx.log(`no enhancer wired and no weights set: using the bundled enhancer (${BUNDLED_ENHANCER})`);
      net = await loadWeights(params.weights || BUNDLED_ENHANCER, ctx.host.readModelFile.bind(ctx.host), (field, msg, fix) =>
        bundled ? ctx.fail('weights', `No enhancer is wired, no weights file is set, and the bundled enhancer could not be loaded (${msg})`, 'wire an Enhancer Trainer, or set weights to a .safetensors/.pth file or a tfjs model folder.') : ctx.fail(field, msg, fix),
      );
    }
    const images: NamedImage[] = [];
    // Progress in tiles across the whole batch (a tiled image counts 2 × its tiles: context pass +
    // output pass; a full or fast image counts 1), so the bar moves per tile and never goes back.
    const modes = batch.images.map((img) => {
      const [H, W] = img.tensor.shape;
      if (params.mode !== 'full' || fullPassFits(H, W, tf.getBackend(), tf.memory().numBytes)) return params.mode;
      ctx.log(`${img.name}: ${W}×${H} (${((H * W) / 1e6).toFixed(1)} MP) needs ~${(fullPassBytes(H, W) / 1024 ** 3).toFixed(1)} GiB for a full pass, more than the wasm heap holds; running it tiled instead (same result up to float rounding). Set mode to tiled to silence this note.`);
      return 'tiled' as const;
    });
    const units = batch.images.map((img, i) => (modes[i] === 'tiled' ? 2 * tileCount(img.tensor.shape[0], img.tensor.shape[1], params.tile) : 1));
    const total = units.reduce((a, b) => a + b, 0);
    const t0 = performance.now();
    let before = 0;
    const report = (i: number, p?: TileProgress) => {
      const step = before + (p?.done ?? 0);
      const name = batch.images.length > 1 ? `${batch.images[i].name} (${i + 1}/${batch.images.length})` : batch.images[i].name;
      if (!p) return ctx.progress(step, total, { message: name });
      // Time left: this image's own estimate, plus the images after it at the batch's mean time per unit so far (approximate).
      const unitsAfter = units.slice(i + 1).reduce((a, b) => a + b, 0);
      const left = p.etaMs + (unitsAfter * (performance.now() - t0)) / Math.max(1, step);
      const what = p.phase === 'context' ? `context ${p.tile}/${p.tiles}` : `tile ${p.tile}/${p.tiles}`;
      ctx.progress(step, total, { message: `${name} · ${what} · ${formatLeft(left)} left` });
    };
    // The CLI may install a faster engine for the forward pass (onnxruntime-node); same result within 1e-4.
    const engine = enhanceEngine();
    try {
      for (let i = 0; i < batch.images.length; i++) {
        ctx.throwIfCancelled();
        const img = batch.images[i];
        report(i);
        const x = img.tensor.expandDims(0) as tf.Tensor4D;
        try {
          const mode = modes[i];
          const result = mode === 'fast'
            ? enhanceFast(net, x, { factor: params.fastFactor })
            : engine
              ? await engine.enhance(net, x, { mode, tile: params.tile, signal: ctx.signal, onProgress: (p) => report(i, p) })
              : mode === 'tiled'
              ? await enhanceTiledAsync(net, x, { tile: params.tile, signal: ctx.signal, onProgress: (p) => report(i, p) })
              : net.forward(x, { padMode: 'reflect' });
          images.push({ name: img.name, tensor: result.out.squeeze([0]) as tf.Tensor3D });
          tf.dispose([result.out, result.L]);
        } finally {
          x.dispose();
        }
        before += units[i];
        await tf.nextFrame();
      }
    } catch (err) {
      tf.dispose(images.map((im) => im.tensor));
      ctx.throwIfCancelled(); // a cancelled run reports as cancelled, not as the abort's error
      throw err;
    }
    ctx.progress(total, total);
    const value: ImageBatchValue = { kind: 'ImageBatch', images };
    return { images: value, enhancer: net };
  },
});

async function loadWeights(
  weights: string,
  readModelFile: (source: string, file: string) => Promise<Uint8Array | undefined>,
  fail: (field: string, message: string, fix: string) => never,
): Promise<EnhancerNet> {
  // A host reports a folder that does not exist as its own error (NodeHost: field "source", worded
  // for CLIP folders); for this node that is simply a weights file that is not there.
  // A stored model the browser lacks (field "weights") keeps its own message naming the file and how to add it.
  const read = (source: string, file: string) => readModelFile(source, file).catch((err: unknown) => {
    const info = (err as { info?: { field?: string } }).info;
    if (info && info.field !== 'weights') return undefined;
    throw err;
  });
  const slash = weights.lastIndexOf('/');
  const dir = slash >= 0 ? weights.slice(0, slash) || '/' : '.';
  const file = slash >= 0 ? weights.slice(slash + 1) : weights;
  try {
    if (!/\.(pth|pt|safetensors)$/.test(file)) {
      // A folder with a tfjs export (model.json + weights.bin).
      const [modelJson, bin] = await Promise.all([read(weights, 'model.json'), read(weights, 'weights.bin')]);
      if (!modelJson || !bin) return fail('weights', `"${weights}" is neither a .safetensors/.pth file nor a folder with model.json and weights.bin.`, 'point it at an exported enhancer.');
      return decodeEnhancerTfjs(new TextDecoder().decode(modelJson), bin);
    }
    const bytes = await read(dir, file);
    if (!bytes) return fail('weights', `"${weights}" was not found.`, 'check the path (relative to the graph file); released CLIP-LIT/RAVE weights are not bundled, download them yourself.');
    return decodeEnhancer(file, bytes).net;
  } catch (err) {
    if ((err as { info?: unknown }).info) throw err;
    return fail('weights', `"${weights}" could not be loaded: ${(err as Error).message}`, 'use a file saved by Backlit Studio or a released CLIP-LIT/RAVE enhancement checkpoint.');
  }
}

function formatLeft(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 90 ? `~${s} s` : `~${Math.round(s / 60)} min`;
}
