import { LRELU_SLOPE, PPM_BINS, STAGE1, STAGE2, parameterSpecs, ppmBranch, type EnhancerNet, type PadMode, type TrunkLayer } from '../enhancer/network';
import { GraphBuilder } from './graphBuilder';
import { encodeModel, type GraphSpec, type ValueSpec } from './proto';

/**
 * ONNX graphs of the enhancer, built from an EnhancerNet's weights by walking the network's own
 * layer lists (STAGE1, the PPM branches, STAGE2 in network.ts) — not a second copy of the model.
 *
 * Layout: the image goes in as NHWC [1,H,W,3] in 0..1 (tfjs layout; transposed inside the graph)
 * and L comes out as [1,1,H,W] (same memory order as tfjs's [1,H,W,1]). H and W are symbolic.
 *
 * The pyramid pooling and the bilinear upsampling are the same matrices tfjs uses
 * (adaptivePoolMatrix / upsampleMatrix), fed as graph inputs, so one graph serves every tile
 * position and size of the two-pass tiled scheme (see enhancer/inference.ts):
 * - 'pool':  x, ph_k [b,H], pwT_k [W,b]            → pooled_k [1,32,b,b]  (pass 1: pooled means)
 * - 'rest':  x, pooled_k, uh_k [H,b], uwT_k [b,W]  → L                    (pass 2)
 * - 'full':  x and all four matrix sets            → L                    (one pass, no tiling)
 */

export type EnhancerGraphKind = 'pool' | 'rest' | 'full';

interface Ctx {
  g: GraphBuilder;
  sd: Map<string, { shape: number[]; data: Float32Array }>;
}

/** A weight as an initializer (once), PyTorch layout (OIHW); PReLU slopes shaped to broadcast over [N,C,H,W]. */
function param(c: Ctx, name: string, prelu = false): string {
  return c.g.init(name, () => {
    const t = c.sd.get(name);
    if (!t) throw new Error(`ONNX export: the enhancer has no weight '${name}'.`);
    return { dims: prelu && t.data.length > 1 ? [t.data.length, 1, 1] : t.shape, data: t.data };
  });
}

function reflectPad(c: Ctx, x: string): string {
  return c.g.node('Pad', [x, c.g.ints('pads_reflect1', [0, 0, 1, 1, 0, 0, 1, 1])], { mode: { s: 'reflect' } }, 'pad');
}

function conv(c: Ctx, x: string, weight: string, pad: 'zero' | 'reflect' | 'none', bias?: string): string {
  const k = c.sd.get(weight)?.shape[2] ?? 3;
  const input = pad === 'reflect' ? reflectPad(c, x) : x;
  const p = pad === 'zero' ? (k - 1) / 2 : 0;
  const inputs = [input, param(c, weight)];
  if (bias) inputs.push(param(c, bias));
  return c.g.node('Conv', inputs, { kernel_shape: { ints: [k, k] }, pads: { ints: [p, p, p, p] }, strides: { ints: [1, 1] } }, 'conv');
}

function lrelu(c: Ctx, x: string): string {
  return c.g.node('LeakyRelu', [x], { alpha: { f: LRELU_SLOPE } }, 'lrelu');
}

function layer(c: Ctx, x: string, l: TrunkLayer, padMode: PadMode): string {
  if (l.kind === 'res') {
    const w1 = `ResidualBlock${l.block}.conv1.weight`;
    const w2 = `ResidualBlock${l.block}.conv2.weight`;
    const h = lrelu(c, conv(c, x, w1, 'reflect'));
    const y = conv(c, h, w2, 'reflect');
    return lrelu(c, c.g.node('Add', [y, x], undefined, 'add'));
  }
  const z = conv(c, x, `${l.name}.weight`, l.pad === 'mode' ? padMode : 'zero', l.bias ? `${l.name}.bias` : undefined);
  if (l.act === 'none') return z;
  if (l.act === 'relu') return c.g.node('Relu', [z], undefined, 'relu');
  if (l.act === 'lrelu') return lrelu(c, z);
  if (!l.alpha) throw new Error(`ONNX export: PReLU layer '${l.name}' names no slope.`);
  return c.g.node('PRelu', [z, param(c, l.alpha, true)], undefined, 'prelu');
}

function walk(c: Ctx, x: string, layers: readonly TrunkLayer[], padMode: PadMode): string {
  return layers.reduce((t, l) => layer(c, t, l, padMode), x);
}

const poolIn = (k: number): ValueSpec[] => [{ name: `ph_${k}`, dims: [PPM_BINS[k], 'H'] }, { name: `pwT_${k}`, dims: ['W', PPM_BINS[k]] }];
const pooledIn = (k: number): ValueSpec => ({ name: `pooled_${k}`, dims: [1, 32, PPM_BINS[k], PPM_BINS[k]] });
const upIn = (k: number): ValueSpec[] => [{ name: `uh_${k}`, dims: ['H', PPM_BINS[k]] }, { name: `uwT_${k}`, dims: [PPM_BINS[k], 'W'] }];

/** The graph spec of one kind (see the file comment). `padMode` as in ForwardOptions (tiled Enhance uses 'reflect'). */
export function enhancerGraph(net: EnhancerNet, kind: EnhancerGraphKind, padMode: PadMode = 'reflect'): GraphSpec {
  const c: Ctx = { g: new GraphBuilder(), sd: net.stateDict() };
  const inputs: ValueSpec[] = [{ name: 'x', dims: [1, 'H', 'W', 3] }];
  const outputs: ValueSpec[] = [];
  const x = c.g.node('Transpose', ['x'], { perm: { ints: [0, 3, 1, 2] } }, 'nchw');
  const f1 = walk(c, x, STAGE1, padMode);

  const bins = PPM_BINS.map((_, k) => k);
  let pooled: string[] = [];
  if (kind !== 'rest') {
    for (const k of bins) inputs.push(...poolIn(k));
    // pooled = Ph · f1 · Pwᵀ per channel (MatMul broadcasts the [b,H] / [W,b] matrices over [1,32,…]).
    pooled = bins.map((k) => c.g.node('MatMul', [c.g.node('MatMul', [`ph_${k}`, f1], undefined, 'poolh'), `pwT_${k}`], undefined, 'pool'));
    if (kind === 'pool') {
      bins.forEach((k) => {
        c.g.output(`pooled_${k}`, pooled[k]);
        outputs.push(pooledIn(k));
      });
    }
  } else {
    for (const k of bins) inputs.push(pooledIn(k));
    pooled = bins.map((k) => `pooled_${k}`);
  }

  if (kind !== 'pool') {
    for (const k of bins) inputs.push(...upIn(k));
    const ups = bins.map((k) => {
      const { conv: w, alpha } = ppmBranch(k);
      const ctx = c.g.node('PRelu', [conv(c, pooled[k], w, 'none'), param(c, alpha, true)], undefined, 'ppm');
      return c.g.node('MatMul', [c.g.node('MatMul', [`uh_${k}`, ctx], undefined, 'uph'), `uwT_${k}`], undefined, 'up');
    });
    const cat = c.g.node('Concat', [f1, ...ups], { axis: { i: 1 } }, 'concat');
    const L = walk(c, cat, STAGE2, padMode);
    c.g.output('L', L);
    outputs.push({ name: 'L', dims: [1, 1, 'H', 'W'] });
  }
  return { name: `enhancer_${kind}`, nodes: c.g.nodes, initializers: c.g.initializers, inputs, outputs };
}

/** Serialised ONNX model of one kind. */
export function exportEnhancer(net: EnhancerNet, kind: EnhancerGraphKind, padMode: PadMode = 'reflect'): Uint8Array {
  return encodeModel(enhancerGraph(net, kind, padMode));
}

/** Parameter names the 'full' graph does not use (must be none: the walk covers the whole network). */
export function unusedParameters(net: EnhancerNet): string[] {
  const used = new Set(enhancerGraph(net, 'full').initializers.map((t) => t.name));
  return parameterSpecs().map((s) => s.name).filter((n) => !used.has(n));
}
