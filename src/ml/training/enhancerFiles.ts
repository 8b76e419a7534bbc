import * as tf from '@tensorflow/tfjs';
import { EnhancerNet } from '../enhancer/network';
import { readPth, type PthTensor } from '../pth';
import { SafetensorsFile, encodeSafetensors } from '../safetensors';

/**
 * Enhancer weights on disk. Our own format is safetensors with PyTorch (OIHW) layout and the
 * state_dict's key names, so a file opens in PyTorch (`safetensors.torch.load_file`) as well as
 * here; checkpoints add the optimizer's moments and the training step as metadata. Released
 * CLIP-LIT/RAVE `.pth` files and tfjs weight manifests load too.
 */
export const OPTIMIZER_PREFIX = 'optimizer/';

export interface TrainingState {
  step: number;
  /** Adam moments by variable-independent name (`<param>/m`, `<param>/v`), and its step count. */
  optimizer?: Map<string, { shape: number[]; data: Float32Array }>;
  metadata: Record<string, string>;
}

export function encodeEnhancer(net: EnhancerNet, state?: TrainingState): Uint8Array {
  const tensors: Record<string, { shape: number[]; values: Float32Array }> = {};
  for (const [name, t] of net.stateDict()) tensors[name] = { shape: t.shape, values: t.data };
  for (const [name, t] of state?.optimizer ?? []) tensors[`${OPTIMIZER_PREFIX}${name}`] = { shape: t.shape, values: t.data };
  return encodeSafetensors(tensors, { format: 'backlit-enhancer', version: '1', ...(state ? { step: String(state.step), ...state.metadata } : {}) });
}

/** Reads our safetensors files (with optional training state), released `.pth` files, or detects what is wrong. */
export function decodeEnhancer(name: string, bytes: Uint8Array): { net: EnhancerNet; state?: TrainingState } {
  if (name.endsWith('.pth') || name.endsWith('.pt')) {
    return { net: EnhancerNet.fromStateDict(readPth(bytes), { allowExtraKeys: true }) };
  }
  if (name.endsWith('.safetensors')) {
    const file = SafetensorsFile.parse(bytes, name);
    const weights = new Map<string, PthTensor>();
    const optimizer = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const key of file.names) {
      const t = file.tensor(key);
      if (key.startsWith(OPTIMIZER_PREFIX)) optimizer.set(key.slice(OPTIMIZER_PREFIX.length), { shape: t.shape, data: t.values });
      else weights.set(key, { shape: t.shape, data: t.values, storage: 'FloatStorage' });
    }
    const net = EnhancerNet.fromStateDict(weights);
    const meta = { ...file.metadata };
    const step = Number(meta.step ?? NaN);
    return { net, state: Number.isFinite(step) ? { step, optimizer, metadata: meta } : undefined };
  }
  throw new Error(`${name}: unknown enhancer file type; use .safetensors (saved by Backlit Studio), .pth (CLIP-LIT/RAVE releases) or a tfjs model.json.`);
}

/** tfjs weights manifest export: `model.json` + `weights.bin` (tf.io format; weights only, PyTorch names). */
export async function encodeEnhancerTfjs(net: EnhancerNet): Promise<{ modelJson: string; weightsBin: Uint8Array }> {
  const named: tf.NamedTensorMap = {};
  for (const [name, t] of net.stateDict()) named[name] = tf.tensor(t.data, t.shape);
  const { data, specs } = await tf.io.encodeWeights(named);
  tf.dispose(Object.values(named));
  const modelJson = JSON.stringify({
    format: 'backlit-enhancer-weights',
    generatedBy: 'Backlit Studio',
    note: 'Weights only, PyTorch (OIHW) layout and state_dict names; the architecture is the CLIP-LIT/RAVE enhancement network.',
    weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
  });
  return { modelJson, weightsBin: new Uint8Array(data) };
}

export function decodeEnhancerTfjs(modelJson: string, weightsBin: Uint8Array): EnhancerNet {
  const manifest = JSON.parse(modelJson) as { weightsManifest?: Array<{ weights: tf.io.WeightsManifestEntry[] }> };
  const specs = manifest.weightsManifest?.flatMap((g) => g.weights);
  if (!specs?.length) throw new Error('model.json has no weightsManifest; export it again from Backlit Studio.');
  const buffer = weightsBin.buffer.slice(weightsBin.byteOffset, weightsBin.byteOffset + weightsBin.byteLength) as ArrayBuffer;
  const named = tf.io.decodeWeights(buffer, specs);
  const sd = new Map<string, PthTensor>();
  for (const [name, t] of Object.entries(named)) sd.set(name, { shape: t.shape, data: t.dataSync() as Float32Array, storage: 'FloatStorage' });
  tf.dispose(Object.values(named));
  return EnhancerNet.fromStateDict(sd);
}
