import type { ClipConfig, HiddenAct } from '../clip/config';
import type { ClipModel } from '../clip/model';
import { GraphBuilder } from './graphBuilder';
import { encodeModel, type GraphSpec } from './proto';

/**
 * ONNX graph of the CLIP vision tower + visual projection, built from a loaded ClipModel's weights
 * and config (the same layers as ClipModel.vision in clip/model.ts, no second model to maintain).
 * For the non-differentiable Encode Images path only; training and losses stay on tfjs.
 *
 * Input `pixel_values` [N,S,S,3]: CLIP-normalised NHWC pixels (what ClipModel.vision takes, N
 * symbolic). Output `image_embeds` [N, projection_dim], not normalised (= VisionOutput.embeds).
 */

/** A weight as ClipModel stores it (linear weights [in, out]; patch kernel [(row, col, channel), hidden]). */
export type ClipWeightSource = (key: string) => { shape: number[]; data: Float32Array };

interface Ctx {
  g: GraphBuilder;
  get: ClipWeightSource;
}

/** A weight initializer (once), optionally reshaped (same data order). */
function param(c: Ctx, key: string, dims?: number[]): string {
  return c.g.init(key, () => {
    const t = c.get(key);
    return { dims: dims ?? t.shape, data: t.data };
  });
}

function layerNorm(c: Ctx, x: string, prefix: string, eps: number): string {
  return c.g.node('LayerNormalization', [x, param(c, `${prefix}.weight`), param(c, `${prefix}.bias`)], { axis: { i: -1 }, epsilon: { f: eps } }, 'ln');
}

function linear(c: Ctx, x: string, prefix: string, bias = true): string {
  const y = c.g.node('MatMul', [x, param(c, `${prefix}.weight`)], undefined, 'matmul');
  return bias ? c.g.node('Add', [y, param(c, `${prefix}.bias`)], undefined, 'add') : y;
}

/** HF ACT2FN, as clip/model.ts's activation(). */
function activation(c: Ctx, x: string, kind: HiddenAct): string {
  switch (kind) {
    case 'quick_gelu':
      return c.g.node('Mul', [x, c.g.node('Sigmoid', [c.g.node('Mul', [x, c.g.float('c_1.702', 1.702)])])], undefined, 'qgelu');
    case 'gelu': {
      const erf = c.g.node('Erf', [c.g.node('Mul', [x, c.g.float('c_sqrt1_2', Math.SQRT1_2)])]);
      return c.g.node('Mul', [c.g.node('Mul', [x, c.g.float('c_0.5', 0.5)]), c.g.node('Add', [erf, c.g.float('c_1', 1)])], undefined, 'gelu');
    }
    case 'gelu_new':
    case 'gelu_pytorch_tanh': {
      const cube = c.g.node('Mul', [c.g.node('Mul', [x, x]), x]);
      const inner = c.g.node('Mul', [c.g.node('Add', [x, c.g.node('Mul', [cube, c.g.float('c_0.044715', 0.044715)])]), c.g.float('c_sqrt2_pi', Math.sqrt(2 / Math.PI))]);
      return c.g.node('Mul', [c.g.node('Mul', [x, c.g.float('c_0.5', 0.5)]), c.g.node('Add', [c.g.node('Tanh', [inner]), c.g.float('c_1', 1)])], undefined, 'gelu_tanh');
    }
    case 'relu':
      return c.g.node('Relu', [x]);
    default:
      throw new Error(`ONNX export of the CLIP vision tower: hidden_act "${String(kind)}" is not supported (quick_gelu, gelu, gelu_new, gelu_pytorch_tanh, relu are); use --engine tfjs.`);
  }
}

function attention(c: Ctx, x: string, prefix: string, heads: number, hidden: number): string {
  const headDim = hidden / heads;
  const split = c.g.ints('shape_heads', [0, 0, heads, headDim]);
  // [N,L,hidden] → [N,L,heads,hd] → perm (q, v: [N,heads,L,hd]; k: [N,heads,hd,L]).
  const heads4 = (t: string, perm: number[]) => c.g.node('Transpose', [c.g.node('Reshape', [t, split], undefined, 'split')], { perm: { ints: perm } }, 'heads');
  const q = heads4(c.g.node('Mul', [linear(c, x, `${prefix}.q_proj`), c.g.float(`c_scale_${headDim}`, 1 / Math.sqrt(headDim))]), [0, 2, 1, 3]);
  const k = heads4(linear(c, x, `${prefix}.k_proj`), [0, 2, 3, 1]);
  const v = heads4(linear(c, x, `${prefix}.v_proj`), [0, 2, 1, 3]);
  const probs = c.g.node('Softmax', [c.g.node('MatMul', [q, k], undefined, 'scores')], { axis: { i: -1 } });
  const context = c.g.node('Transpose', [c.g.node('MatMul', [probs, v], undefined, 'context')], { perm: { ints: [0, 2, 1, 3] } });
  const merged = c.g.node('Reshape', [context, c.g.ints('shape_merge', [0, 0, hidden])], undefined, 'merge');
  return linear(c, merged, `${prefix}.out_proj`);
}

/** The graph spec from a config and a weight source (ClipModel's layout; see clipVisionGraph). */
export function buildClipVisionGraph(config: ClipConfig, get: ClipWeightSource): GraphSpec {
  const v = config.vision;
  const c: Ctx = { g: new GraphBuilder(), get };
  const p = v.patchSize;
  const S = v.imageSize;
  const hidden = v.hiddenSize;
  const grid = S / p;

  // Patch embedding: a stride-p conv (no bias, as HF). Kernel rebuilt as OIHW from ClipModel's [(row, col, channel), hidden].
  const kernelKey = 'vision_model.embeddings.patch_embedding.weight';
  const stored = get(kernelKey).data;
  if (stored.length !== p * p * 3 * hidden) throw new Error(`ONNX export: ${kernelKey} has ${stored.length} values, expected ${p * p * 3 * hidden}.`);
  const oihw = new Float32Array(stored.length);
  for (let r = 0; r < p; r++) for (let col = 0; col < p; col++) for (let ch = 0; ch < 3; ch++) for (let o = 0; o < hidden; o++) {
    oihw[((o * 3 + ch) * p + r) * p + col] = stored[((r * p + col) * 3 + ch) * hidden + o];
  }
  c.g.init('patch_kernel_oihw', () => ({ dims: [hidden, 3, p, p], data: oihw }));
  const nchw = c.g.node('Transpose', ['pixel_values'], { perm: { ints: [0, 3, 1, 2] } }, 'nchw');
  const conv = c.g.node('Conv', [nchw, 'patch_kernel_oihw'], { kernel_shape: { ints: [p, p] }, strides: { ints: [p, p] }, pads: { ints: [0, 0, 0, 0] } }, 'patch');
  const patches = c.g.node('Transpose', [c.g.node('Reshape', [conv, c.g.ints('shape_patches', [0, hidden, grid * grid])], undefined, 'flat')], { perm: { ints: [0, 2, 1] } }, 'tokens');

  // Class token broadcast to [N,1,hidden] (N from the input's shape), then position embeddings.
  const n = c.g.node('Shape', ['pixel_values'], { start: { i: 0 }, end: { i: 1 } }, 'n');
  const clsShape = c.g.node('Concat', [n, c.g.ints('shape_1_hidden', [1, hidden])], { axis: { i: 0 } }, 'cls_shape');
  const cls = c.g.node('Expand', [param(c, 'vision_model.embeddings.class_embedding', [1, 1, hidden]), clsShape], undefined, 'cls');
  const tokens = c.g.node('Concat', [cls, patches], { axis: { i: 1 } }, 'embed');
  let h = c.g.node('Add', [tokens, param(c, 'vision_model.embeddings.position_embedding.weight')], undefined, 'pos');
  h = layerNorm(c, h, 'vision_model.pre_layrnorm', v.layerNormEps);

  for (let i = 0; i < v.numHiddenLayers; i++) {
    const prefix = `vision_model.encoder.layers.${i}`;
    const attended = c.g.node('Add', [h, attention(c, layerNorm(c, h, `${prefix}.layer_norm1`, v.layerNormEps), `${prefix}.self_attn`, v.numAttentionHeads, hidden)], undefined, 'res');
    const mlp = linear(c, activation(c, linear(c, layerNorm(c, attended, `${prefix}.layer_norm2`, v.layerNormEps), `${prefix}.mlp.fc1`), v.hiddenAct), `${prefix}.mlp.fc2`);
    h = c.g.node('Add', [attended, mlp], undefined, 'res');
  }

  const clsOut = c.g.node('Gather', [h, c.g.ints('index_0', [0], [])], { axis: { i: 1 } }, 'cls_out');
  const embeds = linear(c, layerNorm(c, clsOut, 'vision_model.post_layernorm', v.layerNormEps), 'visual_projection', false);
  c.g.output('image_embeds', embeds);
  return {
    name: 'clip_vision',
    nodes: c.g.nodes,
    initializers: c.g.initializers,
    inputs: [{ name: 'pixel_values', dims: ['N', S, S, 3] }],
    outputs: [{ name: 'image_embeds', dims: ['N', config.projectionDim] }],
  };
}

/** The vision tower + projection of a loaded ClipModel (its weights, its config). */
export function clipVisionGraph(model: ClipModel): GraphSpec {
  return buildClipVisionGraph(model.config, (key) => {
    const t = model.weight(key);
    return { shape: t.shape, data: Float32Array.from(t.dataSync() as Float32Array) };
  });
}

/** Serialised ONNX model of clipVisionGraph (opset 17, as export.ts: LayerNormalization is opset ≥ 17). */
export function exportClipVision(model: ClipModel): Uint8Array {
  return encodeModel(clipVisionGraph(model));
}
