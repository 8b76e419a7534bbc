/**
 * ClipEncoder: the CLIP implementation of ImageEncoder (space `clip:<name>`), plus the text-side
 * entry points CLIP-LIT needs (token ids, raw token embeddings).
 */
import * as tf from '@tensorflow/tfjs';
import type { ImageEncoder } from '../encoder';
import { SafetensorsFile } from '../safetensors';
import { parseClipConfig, type ClipConfig } from './config';
import { ClipModel, l2Normalize } from './model';
import { CLIP_MEAN, CLIP_STD, preprocessForClip, type ClipPreprocessOptions } from './preprocess';
import { loadClipTensors, safetensorsSource } from './weights';

/** What ClipEncoder needs from a tokenizer: padded/truncated id rows of a given length. */
export interface ClipTextTokenizer {
  tokenize(texts: string[], contextLength: number): number[][];
}

export interface ClipEncoderOptions {
  /** Short name for the space id and labels, e.g. `vit-b-32` → space `clip:vit-b-32`. */
  name: string;
  tokenizer?: ClipTextTokenizer;
  /** From preprocessor_config.json (image_mean, image_std, crop size); CLIP's values by default. */
  preprocess?: Partial<Pick<ClipPreprocessOptions, 'mean' | 'std' | 'cropSize' | 'quantize' | 'lossFilter'>>;
}

export interface ClipBytes {
  /** config.json as text or parsed object. */
  config: string | object;
  /** model.safetensors bytes. */
  weights: Uint8Array | ArrayBuffer;
  /** preprocessor_config.json (optional) as text or object. */
  preprocessorConfig?: string | object;
}

export class ClipEncoder implements ImageEncoder {
  readonly space: string;
  readonly dim: number;
  readonly label: string;
  readonly model: ClipModel;
  readonly config: ClipConfig;
  /** Present when a tokenizer was given (the ImageEncoder contract: text tower usable). */
  readonly encodeText?: (texts: string[]) => tf.Tensor2D;
  private readonly preprocess: ClipPreprocessOptions;

  constructor(model: ClipModel, options: ClipEncoderOptions) {
    this.model = model;
    this.config = model.config;
    this.space = `clip:${options.name}`;
    this.dim = model.config.projectionDim;
    const v = model.config.vision;
    this.label = `CLIP ${options.name} (ViT ${v.patchSize}px patches, ${v.imageSize}², ${this.dim}-d)`;
    this.preprocess = { size: v.imageSize, mean: CLIP_MEAN, std: CLIP_STD, ...options.preprocess };
    const tokenizer = options.tokenizer;
    if (tokenizer) {
      this.encodeText = (texts) => this.encodeTokenIds(tokenizer.tokenize(texts, this.config.text.maxPositionEmbeddings));
    }
  }

  /** Builds from in-memory HF files (config.json + model.safetensors [+ preprocessor_config.json]). */
  static fromBytes(files: ClipBytes, options: ClipEncoderOptions): ClipEncoder {
    const config = parseClipConfig(typeof files.config === 'string' ? JSON.parse(files.config) : files.config);
    const file = SafetensorsFile.parse(files.weights, `${options.name}/model.safetensors`);
    const model = new ClipModel(config, loadClipTensors(config, safetensorsSource(file)));
    const fromProcessor = files.preprocessorConfig ? readPreprocessorConfig(files.preprocessorConfig) : {};
    return new ClipEncoder(model, { ...options, preprocess: { ...fromProcessor, ...options.preprocess } });
  }

  get logitScale(): number {
    return this.model.logitScale;
  }

  /** [N,H,W,3] 0..1 → CLIP-normalised [N,S,S,3] (see preprocessForClip). */
  preprocessImages(images: tf.Tensor4D, mode: 'dataset' | 'loss'): tf.Tensor4D {
    return preprocessForClip(images, mode, this.preprocess);
  }

  encodeImages(images: tf.Tensor4D, mode: 'dataset' | 'loss'): tf.Tensor2D {
    return tf.tidy(() => l2Normalize(this.model.vision(this.preprocessImages(images, mode)).embeds));
  }

  /** Already-normalised pixel values [N,S,S,3] → L2-normalised embeddings. */
  encodePixelValues(pixelValues: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => l2Normalize(this.model.vision(pixelValues).embeds));
  }

  /**
   * Vision hidden states (pre-LN embeddings, then each layer) of the `loss` preprocessing, for
   * identity/content losses: `layers + 1` tensors [N, 1+patches, hidden].
   */
  imageFeatures(images: tf.Tensor4D): tf.Tensor[] {
    const states = tf.tidy(() => this.model.vision(this.preprocessImages(images, 'loss')).hiddenStates);
    return states;
  }

  /** Token ids [N][L] (L ≤ max positions) → L2-normalised text embeddings. */
  encodeTokenIds(tokenIds: number[][]): tf.Tensor2D {
    return tf.tidy(() => l2Normalize(this.model.text(tokenIds).embeds));
  }

  /** Raw token embeddings [N,L,hidden] pooled at `eotPositions` → L2-normalised; differentiable (prompt learning). */
  encodeTokenEmbeddings(tokenEmbeds: tf.Tensor3D, eotPositions: number[]): tf.Tensor2D {
    return tf.tidy(() => l2Normalize(this.model.textFromEmbeddings(tokenEmbeds, eotPositions).embeds));
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** Reads the fields of an HF preprocessor_config.json that change CLIP preprocessing. */
export function readPreprocessorConfig(input: string | object): Partial<ClipPreprocessOptions> {
  const raw = (typeof input === 'string' ? JSON.parse(input) : input) as Record<string, unknown>;
  const out: Partial<ClipPreprocessOptions> = {};
  const isTriple = (v: unknown): v is number[] => Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number');
  if (isTriple(raw.image_mean)) out.mean = raw.image_mean;
  if (isTriple(raw.image_std)) out.std = raw.image_std;
  const crop = raw.crop_size;
  if (typeof crop === 'number') out.cropSize = crop;
  else if (crop && typeof crop === 'object' && typeof (crop as { height?: unknown }).height === 'number') out.cropSize = (crop as { height: number }).height;
  return out;
}
