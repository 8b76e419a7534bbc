import type * as Ort from 'onnxruntime-node';
import type { ClipModel } from '../clip/model';
import { exportClipVision } from './clipExport';
import { loadOrt, type OrtModule } from './runtime';

/**
 * The CLIP vision tower + projection on onnxruntime-node (Node only: the CLI and benches import
 * this, never the browser bundle), on the graph clipExport.ts builds from the model's own weights.
 * Weights are frozen, so one session serves the model's whole life.
 */
export class OnnxClipTower {
  private constructor(private readonly ort: OrtModule, private readonly session: Ort.InferenceSession, readonly model: ClipModel) {}

  static async create(model: ClipModel, opts: { threads?: number } = {}): Promise<OnnxClipTower> {
    const loaded = await loadOrt();
    if ('error' in loaded) throw new Error(`onnxruntime-node is not available (${loaded.error}); reinstall with ONNXRUNTIME_NODE_INSTALL=skip npm ci, or use --engine tfjs.`);
    const session = await loaded.ort.InferenceSession.create(exportClipVision(model), {
      intraOpNumThreads: opts.threads ?? 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    return new OnnxClipTower(loaded.ort, session, model);
  }

  /** CLIP-normalised NHWC pixels [n,S,S,3] → unnormalised image embeds [n·projectionDim] (= ClipModel.vision(...).embeds). */
  async embeds(pixels: Float32Array, n: number): Promise<Float32Array> {
    const S = this.model.config.vision.imageSize;
    if (pixels.length !== n * S * S * 3) throw new Error(`CLIP tower (onnx): ${pixels.length} values are not [${n}, ${S}, ${S}, 3] pixels; preprocess first.`);
    const out = await this.session.run({ pixel_values: new this.ort.Tensor('float32', pixels, [n, S, S, 3]) });
    const t = out.image_embeds;
    if (!t || t.type !== 'float32') throw new Error('CLIP tower (onnx): the graph returned no float32 image_embeds.');
    return t.data as Float32Array;
  }

  /** As `embeds`, each row L2-normalised (= ClipEncoder.encodePixelValues). */
  async normalizedEmbeds(pixels: Float32Array, n: number): Promise<Float32Array> {
    const e = await this.embeds(pixels, n);
    const d = e.length / n;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += e[i * d + j] ** 2;
      const inv = 1 / Math.sqrt(s);
      for (let j = 0; j < d; j++) e[i * d + j] *= inv;
    }
    return e;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
