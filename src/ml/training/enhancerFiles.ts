import * as tf from '@tensorflow/tfjs';
import { EnhancerNet, parameterSpecs } from '../enhancer/network';
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

/**
 * Weights (or optimizer moments) that are NaN or ±Infinity. Thrown before anything is written, so
 * a diverged run never replaces the last good checkpoint, and when loading, naming the tensor.
 */
export class NonFiniteWeights extends Error {
  constructor(
    readonly tensor: string,
    readonly index: number,
    readonly value: number,
    readonly source: string,
  ) {
    super(`${source}: tensor '${tensor}' holds ${value} at element ${index}`);
    this.name = 'NonFiniteWeights';
  }
}

/** Throws NonFiniteWeights for the first tensor with a NaN or infinite value. */
export function assertFinite(tensors: Iterable<[string, { data: Float32Array }]>, source: string): void {
  for (const [name, t] of tensors) {
    const d = t.data;
    for (let i = 0; i < d.length; i++) {
      // NaN and ±Infinity are the only floats for which x - x is not 0.
      if (d[i] - d[i] !== 0) throw new NonFiniteWeights(name, i, d[i], source);
    }
  }
}

/** The network's weights are all finite (checked after training, before they are used or saved). */
export function assertFiniteNet(net: EnhancerNet, source = 'the trained enhancer'): void {
  assertFinite(net.stateDict(), source);
}

/**
 * Runs a constructor of tf variables; if it throws half-way, the variables it already made are
 * disposed (a failed .pth load leaked 29 of them).
 */
export function disposeOnThrow<T>(build: () => T): T {
  const registered = () => tf.engine().registeredVariables;
  const before = new Set(Object.keys(registered()));
  try {
    return build();
  } catch (err) {
    for (const [name, v] of Object.entries(registered())) if (!before.has(name)) v.dispose();
    throw err;
  }
}

export function encodeEnhancer(net: EnhancerNet, state?: TrainingState): Uint8Array {
  const tensors: Record<string, { shape: number[]; values: Float32Array }> = {};
  const weights = net.stateDict();
  assertFinite(weights, 'the enhancer being saved');
  assertFinite(state?.optimizer ?? [], 'the optimizer state being saved');
  for (const [name, t] of weights) tensors[name] = { shape: t.shape, values: t.data };
  for (const [name, t] of state?.optimizer ?? []) tensors[`${OPTIMIZER_PREFIX}${name}`] = { shape: t.shape, values: t.data };
  return encodeSafetensors(tensors, { format: 'backlit-enhancer', version: '1', ...(state ? { step: String(state.step), ...state.metadata } : {}) });
}

/** Reads our safetensors files (with optional training state), released `.pth` files, or detects what is wrong. */
export function decodeEnhancer(name: string, bytes: Uint8Array): { net: EnhancerNet; state?: TrainingState } {
  if (name.endsWith('.pth') || name.endsWith('.pt')) {
    // Only the tensors the network uses are materialised (a released file may carry others).
    const wanted = new Set(parameterSpecs().map((s) => s.name));
    const sd = readPth(bytes, { keep: (key) => wanted.has(key.startsWith('module.') ? key.slice('module.'.length) : key) });
    assertFinite(sd, name);
    return { net: disposeOnThrow(() => EnhancerNet.fromStateDict(sd, { allowExtraKeys: true })) };
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
    assertFinite(weights, name);
    assertFinite(optimizer, name);
    const net = disposeOnThrow(() => EnhancerNet.fromStateDict(weights));
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
  assertFinite(sd, 'weights.bin');
  return disposeOnThrow(() => EnhancerNet.fromStateDict(sd));
}

/** The part of a host that checkpoints need (structural, so this module imports no engine code). */
export interface CheckpointIO {
  readFile(folder: string, name: string): Promise<Uint8Array | undefined>;
  writeFile(folder: string, name: string, bytes: Uint8Array, opts: { overwrite: boolean }): Promise<{ name: string }>;
}

/** A checkpoint problem the node reports on its `field`, with a fix. */
export class CheckpointProblem extends Error {
  constructor(
    message: string,
    readonly field: string,
    readonly fix: string,
  ) {
    super(message);
    this.name = 'CheckpointProblem';
  }
}

/**
 * Opens the checkpoint file `name` for a run. Resumes it when it belongs to this run (`runId`) and
 * `resume` is on. Nothing the user made is lost: another run's checkpoint is first copied to
 * `<name>.prev` (or `.prev-1`, … — never over an older copy); an unreadable one is copied to
 * `<name>.corrupt…` when `resume` is off (training then starts fresh and replaces the original at
 * its first save), and refused with a fix when `resume` is on.
 */
export async function openCheckpoint(io: CheckpointIO, name: string, opts: { runId: string; resume: boolean; log(message: string): void }): Promise<{ net?: EnhancerNet; state?: TrainingState }> {
  const existing = await io.readFile('', name);
  if (!existing) return {};
  let decoded: ReturnType<typeof decodeEnhancer>;
  try {
    decoded = decodeEnhancer(name, existing);
  } catch (err) {
    const why = (err as Error).message.replace(/\.$/, '').slice(0, 300);
    if (opts.resume) {
      throw new CheckpointProblem(`The checkpoint ${name} cannot be read (${why}).`, 'resume', 'set resume to false: the file is then kept aside as .corrupt and training starts fresh (or delete it).');
    }
    const kept = await io.writeFile('', `${name}.corrupt`, existing, { overwrite: false });
    opts.log(`${name} cannot be read (${why}); kept it aside as ${kept.name} and started fresh (the first new checkpoint replaces ${name}).`);
    return {};
  }
  if (opts.resume && decoded.state?.metadata.run === opts.runId) {
    opts.log(`resuming from ${name} at step ${decoded.state.step}`);
    return decoded;
  }
  decoded.net.dispose();
  const kept = await io.writeFile('', `${name}.prev`, existing, { overwrite: false });
  opts.log(`${name} ${opts.resume ? 'belongs to a different run' : 'exists'}; kept it as ${kept.name} and started fresh.`);
  return {};
}
