/**
 * CLIP (HF CLIPModel semantics) in tfjs, for any config size.
 *
 * Weights are frozen constants: gradients flow to pixels and token embeddings, not to weights
 * (linear layers use matMulConstant, which is also the fast path on wasm).
 * Gradient-path constraints (wasm backend): no conv2d (wasm lacks Conv2DBackpropFilter) — the patch
 * embedding is reshape/transpose + matMul; no gather on activations (its gradient needs
 * UnsortedSegmentSum, also missing) — pooling at the end-of-text token is a one-hot weighted sum.
 */
import * as tf from '@tensorflow/tfjs';
import { matMulConstant } from '../image';
import type { ClipConfig, HiddenAct } from './config';

export interface VisionOutput {
  /** visual_projection(post_layernorm(CLS)) — NOT normalised. [N, projectionDim] */
  embeds: tf.Tensor2D;
  /** post_layernorm(CLS) [N, visionHidden] (HF `pooler_output`). */
  pooled: tf.Tensor2D;
  /** Encoder output before post-LN [N, 1+patches, hidden] (HF `last_hidden_state`). */
  lastHiddenState: tf.Tensor3D;
  /** HF `hidden_states`: pre-LN embeddings, then each layer's output (layers + 1 entries). */
  hiddenStates: tf.Tensor3D[];
}

export interface TextOutput {
  /** text_projection(final_layer_norm(h)[eot]) — NOT normalised. [N, projectionDim] */
  embeds: tf.Tensor2D;
  pooled: tf.Tensor2D;
  lastHiddenState: tf.Tensor3D;
}

/** HF ACT2FN for the activations CLIP configs use. */
export function activation(kind: HiddenAct, x: tf.Tensor): tf.Tensor {
  switch (kind) {
    case 'quick_gelu':
      return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
    case 'gelu': // exact erf form, as torch.nn.functional.gelu
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
    case 'gelu_new':
    case 'gelu_pytorch_tanh': {
      const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
    }
    case 'relu':
      return tf.relu(x);
  }
}

export class ClipModel {
  readonly config: ClipConfig;
  private readonly weights: Map<string, tf.Tensor>;
  private disposed = false;

  /**
   * Takes ownership of `weights` (HF names → tensors in torch layout, see clipTensorSpecs). Linear
   * weights are re-stored as [in, out] and the patch conv as [p·p·3, hidden]: matMul with
   * transposeB is ~5× slower on wasm.
   */
  constructor(config: ClipConfig, weights: Map<string, tf.Tensor>) {
    this.config = config;
    this.weights = new Map();
    const p = config.vision.patchSize;
    for (const [key, tensor] of weights) {
      let stored = tensor;
      if (key === 'vision_model.embeddings.patch_embedding.weight') {
        stored = tf.tidy(() => tf.reshape(tf.transpose(tensor, [2, 3, 1, 0]), [p * p * 3, config.vision.hiddenSize]));
        tensor.dispose();
      } else if (isLinearWeight(key)) {
        stored = tf.transpose(tensor);
        tensor.dispose();
      }
      this.weights.set(key, stored);
    }
  }

  /** exp(logit_scale), the multiplier of cosine similarities in CLIP's logits. */
  get logitScale(): number {
    return Math.exp(this.w('logit_scale').dataSync()[0]);
  }

  /** The token embedding table [vocab, hidden] (e.g. to initialise learnable prompts). */
  get tokenEmbedding(): tf.Tensor2D {
    return this.w('text_model.embeddings.token_embedding.weight') as tf.Tensor2D;
  }

  /** A stored weight, as the layers use it (linear weights [in, out]; patch kernel [(row, col, channel), hidden]): for exporters (src/ml/onnx/clipExport.ts). */
  weight(key: string): tf.Tensor {
    return this.w(key);
  }

  private w(key: string): tf.Tensor {
    if (this.disposed) throw new Error('ClipModel was disposed; load it again.');
    const t = this.weights.get(key);
    if (!t) throw new Error(`ClipModel: weight "${key}" was not loaded.`);
    return t;
  }

  private linear(x: tf.Tensor, prefix: string, bias = true): tf.Tensor {
    const shape = x.shape;
    const inDim = shape[shape.length - 1];
    const weight = this.w(`${prefix}.weight`) as tf.Tensor2D; // [in, out] (transposed at load)
    let y: tf.Tensor = matMulConstant(tf.reshape(x, [-1, inDim]) as tf.Tensor2D, weight);
    if (bias) y = tf.add(y, this.w(`${prefix}.bias`));
    return tf.reshape(y, [...shape.slice(0, -1), weight.shape[1]]);
  }

  private layerNorm(x: tf.Tensor, prefix: string, eps: number): tf.Tensor {
    const mean = tf.mean(x, -1, true);
    const centred = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centred), -1, true);
    const normed = tf.mul(centred, tf.rsqrt(tf.add(variance, eps)));
    return tf.add(tf.mul(normed, this.w(`${prefix}.weight`)), this.w(`${prefix}.bias`));
  }

  private attention(x: tf.Tensor3D, prefix: string, heads: number, causal: boolean): tf.Tensor3D {
    const [n, length, hidden] = x.shape;
    const headDim = hidden / heads;
    const split = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [n, length, heads, headDim]), [0, 2, 1, 3]) as tf.Tensor4D;
    const q = split(tf.mul(this.linear(x, `${prefix}.q_proj`), 1 / Math.sqrt(headDim)));
    const k = split(this.linear(x, `${prefix}.k_proj`));
    const v = split(this.linear(x, `${prefix}.v_proj`));
    let scores: tf.Tensor = tf.matMul(q, k, false, true); // [N, heads, L, L]
    if (causal) scores = tf.add(scores, causalMask(length));
    const context = tf.matMul(tf.softmax(scores, -1) as tf.Tensor4D, v);
    const merged = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [n, length, hidden]);
    return this.linear(merged, `${prefix}.out_proj`) as tf.Tensor3D;
  }

  private encoderLayer(x: tf.Tensor3D, prefix: string, heads: number, act: HiddenAct, eps: number, causal: boolean): tf.Tensor3D {
    const attended = tf.add(x, this.attention(this.layerNorm(x, `${prefix}.layer_norm1`, eps) as tf.Tensor3D, `${prefix}.self_attn`, heads, causal));
    const hidden = activation(act, this.linear(this.layerNorm(attended, `${prefix}.layer_norm2`, eps), `${prefix}.mlp.fc1`));
    return tf.add(attended, this.linear(hidden, `${prefix}.mlp.fc2`)) as tf.Tensor3D;
  }

  /**
   * Vision tower on CLIP-normalised pixels [N, S, S, 3] (NHWC; S = image_size). Differentiable
   * w.r.t. `pixelValues`. Call inside tf.tidy.
   */
  vision(pixelValues: tf.Tensor4D): VisionOutput {
    const v = this.config.vision;
    const [n, h, w, c] = pixelValues.shape;
    if (h !== v.imageSize || w !== v.imageSize || c !== 3) {
      throw new Error(`CLIP vision tower expects [N, ${v.imageSize}, ${v.imageSize}, 3] normalised pixels, got [${pixelValues.shape.join(', ')}]; preprocess first (preprocessForClip).`);
    }
    const p = v.patchSize;
    const grid = v.imageSize / p;
    // Non-overlapping patches in (row, col, channel) order; conv weight permuted to match.
    const rows = tf.reshape(pixelValues, [n * grid, p, grid, p * 3]);
    const patches = tf.reshape(tf.transpose(rows, [0, 2, 1, 3]), [n * grid * grid, p * p * 3]) as tf.Tensor2D;
    const kernel = this.w('vision_model.embeddings.patch_embedding.weight') as tf.Tensor2D; // [(row, col, channel), hidden]
    const patchEmbeds = tf.reshape(matMulConstant(patches, kernel), [n, grid * grid, v.hiddenSize]);
    const cls = tf.broadcastTo(tf.reshape(this.w('vision_model.embeddings.class_embedding'), [1, 1, v.hiddenSize]), [n, 1, v.hiddenSize]);
    const embeddings = tf.add(tf.concat([cls, patchEmbeds], 1), this.w('vision_model.embeddings.position_embedding.weight'));
    let hidden = this.layerNorm(embeddings, 'vision_model.pre_layrnorm', v.layerNormEps) as tf.Tensor3D;
    const hiddenStates = [hidden];
    for (let i = 0; i < v.numHiddenLayers; i++) {
      hidden = this.encoderLayer(hidden, `vision_model.encoder.layers.${i}`, v.numAttentionHeads, v.hiddenAct, v.layerNormEps, false);
      hiddenStates.push(hidden);
    }
    const clsOut = tf.reshape(tf.slice(hidden, [0, 0, 0], [n, 1, v.hiddenSize]), [n, v.hiddenSize]);
    const pooled = this.layerNorm(clsOut, 'vision_model.post_layernorm', v.layerNormEps) as tf.Tensor2D;
    const embeds = this.linear(pooled, 'visual_projection', false) as tf.Tensor2D;
    return { embeds, pooled, lastHiddenState: hidden, hiddenStates };
  }

  /** Where HF pools each sequence: argmax(ids) for legacy eos_token_id 2, else the first eos id. */
  eotPositions(tokenIds: number[][]): number[] {
    const eos = this.config.text.eosTokenId;
    return tokenIds.map((ids, row) => {
      if (eos === 2) {
        let best = 0;
        for (let i = 1; i < ids.length; i++) if (ids[i] > ids[best]) best = i;
        return best;
      }
      const at = ids.indexOf(eos);
      if (at < 0) throw new Error(`text sequence ${row} has no end-of-text token (id ${eos}); tokenise with the model's tokenizer.`);
      return at;
    });
  }

  /** Token ids [N][L] → token embeddings [N, L, hidden] (not differentiable w.r.t. ids). */
  embedTokens(tokenIds: number[][]): tf.Tensor3D {
    const t = this.config.text;
    const length = tokenIds[0]?.length ?? 0;
    if (tokenIds.some((ids) => ids.length !== length)) throw new Error('embedTokens: all sequences must have the same length (pad them).');
    for (const ids of tokenIds) {
      for (const id of ids) {
        if (!Number.isInteger(id) || id < 0 || id >= t.vocabSize) throw new Error(`token id ${id} is outside the vocabulary (0..${t.vocabSize - 1}).`);
      }
    }
    // tidy: the id tensor and the gathered rows are intermediates (they leaked 2 tensors per call).
    return tf.tidy(() => tf.reshape(tf.gather(this.tokenEmbedding, tf.tensor1d(tokenIds.flat(), 'int32')), [tokenIds.length, length, t.hiddenSize]) as tf.Tensor3D);
  }

  /**
   * Text tower from already-embedded tokens [N, L, hidden] (L ≤ max_position_embeddings), pooled at
   * `eotPositions`. Differentiable w.r.t. `tokenEmbeds` — what prompt learning (CLIP-LIT) optimises.
   */
  textFromEmbeddings(tokenEmbeds: tf.Tensor3D, eotPositions: number[]): TextOutput {
    const t = this.config.text;
    const [n, length, hidden] = tokenEmbeds.shape;
    if (hidden !== t.hiddenSize || length > t.maxPositionEmbeddings) {
      throw new Error(`text tower expects token embeddings [N, ≤${t.maxPositionEmbeddings}, ${t.hiddenSize}], got [${tokenEmbeds.shape.join(', ')}].`);
    }
    if (eotPositions.length !== n || eotPositions.some((p) => !Number.isInteger(p) || p < 0 || p >= length)) {
      throw new Error(`eotPositions must hold ${n} positions in 0..${length - 1}, got [${eotPositions.join(', ')}].`);
    }
    const positions = tf.slice(this.w('text_model.embeddings.position_embedding.weight'), [0, 0], [length, hidden]);
    let h = tf.add(tokenEmbeds, positions) as tf.Tensor3D;
    for (let i = 0; i < t.numHiddenLayers; i++) {
      h = this.encoderLayer(h, `text_model.encoder.layers.${i}`, t.numAttentionHeads, t.hiddenAct, t.layerNormEps, true);
    }
    const last = this.layerNorm(h, 'text_model.final_layer_norm', t.layerNormEps) as tf.Tensor3D;
    const select = tf.reshape(tf.oneHot(tf.tensor1d(eotPositions, 'int32'), length), [n, length, 1]);
    const pooled = tf.sum(tf.mul(last, select), 1) as tf.Tensor2D;
    const embeds = this.linear(pooled, 'text_projection', false) as tf.Tensor2D;
    return { embeds, pooled, lastHiddenState: last };
  }

  /** Text tower on token ids [N][L] (HF get_text_features). */
  text(tokenIds: number[][]): TextOutput {
    return this.textFromEmbeddings(this.embedTokens(tokenIds), this.eotPositions(tokenIds));
  }

  dispose(): void {
    if (this.disposed) return;
    for (const t of this.weights.values()) t.dispose();
    this.weights.clear();
    this.disposed = true;
  }
}

/** Linear-layer weights (2-D, torch [out, in]); embedding tables stay as they are. */
function isLinearWeight(key: string): boolean {
  return key.endsWith('_proj.weight') || key.endsWith('.fc1.weight') || key.endsWith('.fc2.weight') || key === 'visual_projection.weight' || key === 'text_projection.weight';
}

/** Additive mask: 0 on and below the diagonal, a large negative above (keys after the query). */
function causalMask(length: number): tf.Tensor2D {
  const values = new Float32Array(length * length);
  for (let i = 0; i < length; i++) for (let j = i + 1; j < length; j++) values[i * length + j] = -1e9;
  return tf.tensor2d(values, [length, length]);
}

/** Row-wise L2 normalisation (differentiable). */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.sqrt(tf.sum(tf.square(x), -1, true))) as tf.Tensor2D;
}
