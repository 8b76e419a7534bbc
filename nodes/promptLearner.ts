import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { defineNode, type ImageBatchValue, type NamedImage, type ReportValue } from '../src/engine';
import type { ImageEncoder } from '../src/ml/encoder';
import {
  encodeSet,
  hasTextTower,
  latentPrompts,
  placeholderTokenIds,
  promptPairStats,
  PromptTrainingDiverged,
  randomLatentInit,
  scaledLatentInit,
  textPrompts,
  trainPrompts,
  type LearnedPromptPair,
  type PromptData,
  type PromptParameters,
} from '../src/ml/prompts';

/** Learning rates used when `lr` is 0 (auto): tuned for runs of tens to hundreds of steps. */
export const AUTO_LR = { text: 2e-3, latent: 5e-2 } as const;

/**
 * Learns CLIP-LIT's prompt pair: text mode (token embeddings through CLIP's text tower) or latent
 * mode (two vectors in the embedding space, method A — any image encoder). Without `previous` it
 * runs the initial stage (cross-entropy); with `previous` (and `previous2`) the refinement stage
 * (margin ranking losses), usually starting from the prompts of the round before (`init`).
 */
export default defineNode({
  type: 'prompt-learner',
  title: 'Prompt Learner',
  category: 'Training',
  description:
    'Learns a negative/positive prompt pair (CLIP-LIT). text = learnable token embeddings through the CLIP text tower (needs a text tower); latent = two vectors in the embedding space (CLIP-LIT-Latent, any encoder, much faster). Initial stage: cross-entropy (backlit → negative, well-lit → positive); with previous round outputs wired: margin ranking refinement.',
  inputs: {
    encoder: { kind: 'Encoder', label: 'Encoder' },
    backlit: { kind: 'ImageBatch', label: 'Backlit images' },
    wellLit: { kind: 'ImageBatch', label: 'Well-lit images' },
    init: { kind: 'PromptPair', label: 'Start from', optional: true, description: 'Continue from these prompts (e.g. the previous round) instead of a fresh init.' },
    previous: { kind: 'ImageBatch', label: 'Enhanced, round 1 (e1)', optional: true, description: 'Enhanced versions of the backlit images from an earlier round: switches to the refinement stage.' },
    previous2: { kind: 'ImageBatch', label: 'Enhanced, round 2 (e2)', optional: true, description: 'Enhanced versions from the later round (third round on): ranked between e1 and well-lit.' },
  },
  outputs: {
    prompts: { kind: 'PromptPair', label: 'Prompts' },
    report: { kind: 'Report', label: 'Report' },
  },
  params: z.object({
    mode: z.enum(['latent', 'text']).default('latent').describe('latent = two learnable vectors in the embedding space (method A, any encoder); text = learnable token embeddings through the CLIP text tower (CLIP-LIT).'),
    initFrom: z.enum(['random', 'text']).default('random').describe('Latent mode without `init`: random vectors (seeded), or T("a backlit photo") / T("a well-lit photo") (needs a tokenizer). Text mode always starts from "X X … X".'),
    iterations: z.number().int().min(1).max(1_000_000).default(100).describe('Prompt steps (paper: 8000 initial, ~1000 per refinement round).'),
    lr: z.number().min(0).max(1).default(0).describe(`Adam learning rate; 0 = auto (text ${AUTO_LR.text}, latent ${AUTO_LR.latent}: short runs). Paper: text 5e-6, latent 5e-4 over thousands of steps.`),
    weightDecay: z.number().min(0).max(1).default(1e-3),
    batchSize: z.number().int().min(1).max(256).default(16).describe('Images drawn from each set per step (paper: 16).'),
    seed: z.number().int().min(0).default(0).describe('The random latent init (latent mode, initFrom random) and the order images are drawn in. Text mode always starts from "X X … X", and with batchSize ≥ both set sizes every step sees the whole sets, so there the seed changes nothing.'),
    logitScale: z.number().positive().max(1000).default(100).describe('Logits = scale·cos (METHODS.md: 100, CLIP\'s). Travels with the prompts to the Enhancer Trainer. Encoders that separate the sets by far more than CLIP (the stats encoder) saturate the softmax at 100 — the enhancer then gets no gradient; use ~10 there.'),
  }),
  async run({ inputs, params, ctx }) {
    const encoder = inputs.encoder as ImageEncoder;
    const backlit = inputs.backlit as ImageBatchValue;
    const wellLit = inputs.wellLit as ImageBatchValue;
    const init = inputs.init as LearnedPromptPair | undefined;
    const previous = inputs.previous as ImageBatchValue | undefined;
    const previous2 = inputs.previous2 as ImageBatchValue | undefined;

    if (params.mode === 'text' && !hasTextTower(encoder)) {
      ctx.fail('mode', `Text prompts go through a CLIP text tower, and the encoder "${encoder.label}" (${encoder.space}) has none.`, 'set mode to "latent" (learns the prompts directly in the embedding space; works with any image encoder), or use a CLIP encoder.');
    }
    if (init && init.space !== encoder.space) ctx.fail('init', `The initial prompts live in "${init.space}" but the encoder is "${encoder.space}".`, 'continue from prompts learnt with the same Encoder node.');
    if (params.mode === 'text' && init && !(init.mode === 'text' && init.tokens && init.eotPositions)) {
      ctx.fail('init', 'Text prompts can only continue from text prompts (their token embeddings); these are latent prompts.', 'wire the prompts of a text-mode Prompt Learner, or set mode to "latent".');
    }
    if (params.mode === 'latent' && !init && params.initFrom === 'text' && !encoder.encodeText) {
      ctx.fail('initFrom', `"initFrom: text" encodes "a backlit photo" / "a well-lit photo", but the encoder "${encoder.label}" has no text tower with a tokenizer.`, 'set initFrom to "random", or load a CLIP model with its tokenizer files.');
    }
    if (previous2 && !previous) ctx.fail('previous2', 'e2 (previous2) is wired without e1 (previous).', 'wire round 1\'s enhanced images to previous and round 2\'s to previous2.');
    if (backlit.images.length === 0) ctx.fail('backlit', 'No backlit images.', 'wire a non-empty image batch.');
    if (wellLit.images.length === 0) ctx.fail('wellLit', 'No well-lit images.', 'wire a non-empty image batch.');
    const aligned = (batch: ImageBatchValue, port: 'previous' | 'previous2'): NamedImage[] => {
      const byName = new Map(batch.images.map((im) => [im.name, im]));
      if (backlit.images.every((im) => byName.has(im.name))) return backlit.images.map((im) => byName.get(im.name)!);
      if (batch.images.length === backlit.images.length) return batch.images;
      return ctx.fail(port, `${batch.images.length} enhanced images for ${backlit.images.length} backlit ones, and their names do not match.`, 'wire the Enhance output of the backlit images themselves (names are kept).');
    };
    const prev = previous ? aligned(previous, 'previous') : undefined;
    const prev2 = previous2 ? aligned(previous2, 'previous2') : undefined;

    // Images never change while prompts train: embed every set once.
    const t0 = performance.now();
    ctx.progress(0, params.iterations, { message: 'encoding images' });
    const data: PromptData = {
      backlit: encodeSet(encoder, backlit.images.map((im) => im.tensor)),
      wellLit: encodeSet(encoder, wellLit.images.map((im) => im.tensor)),
      previous: prev ? encodeSet(encoder, prev.map((im) => im.tensor)) : undefined,
      previous2: prev2 ? encodeSet(encoder, prev2.map((im) => im.tensor)) : undefined,
    };
    const encodeMs = performance.now() - t0;
    await tf.nextFrame();

    let learnable: PromptParameters;
    let initLabel: string;
    if (params.mode === 'text') {
      const tower = encoder as Parameters<typeof textPrompts>[0];
      learnable = init ? textPrompts(tower, { tokens: init.tokens!, eotPositions: init.eotPositions! }) : textPrompts(tower);
      const ph = placeholderTokenIds(tower.model.config.text);
      initLabel = init ? 'previous prompts' : `"X" × ${ph.placeholders} (context ${ph.ids.length})`;
    } else if (init) {
      learnable = latentPrompts(tf.tidy(() => scaledLatentInit(init.prompts)));
      initLabel = `previous ${init.mode} prompts`;
    } else if (params.initFrom === 'text') {
      learnable = latentPrompts(tf.tidy(() => scaledLatentInit(encoder.encodeText!(['a backlit photo', 'a well-lit photo']))));
      initLabel = 'T("a backlit photo"), T("a well-lit photo")';
    } else {
      learnable = latentPrompts(randomLatentInit(encoder.dim, params.seed));
      initLabel = `randn (seed ${params.seed})`;
    }

    const lr = params.lr > 0 ? params.lr : AUTO_LR[params.mode];
    const every = Math.max(1, Math.floor(params.iterations / 400));
    try {
      const result = await trainPrompts(
        learnable,
        data,
        { iterations: params.iterations, lr, weightDecay: params.weightDecay, batchSize: params.batchSize, seed: params.seed, logitScale: params.logitScale },
        {
          signal: ctx.signal,
          yieldEvery: params.mode === 'latent' ? 10 : 1,
          onStep: (step, total, m) => {
            if (step % every === 0 || step === total) {
              ctx.progress(step, total, { message: data.previous ? 'refine' : 'init', metrics: { loss: m.loss, accBacklit: m.accBacklit, accWellLit: m.accWellLit } });
            }
          },
        },
      );
      ctx.throwIfCancelled();
      const snap = learnable.snapshot();
      const stats = await promptPairStats(snap.prompts, data, 10, params.logitScale);
      const value: LearnedPromptPair = { kind: 'PromptPair', space: encoder.space, mode: params.mode, prompts: snap.prompts, logitScale: params.logitScale, stats };
      if (snap.tokens) {
        value.tokens = snap.tokens;
        value.eotPositions = snap.eotPositions;
      }
      const row: Record<string, string | number> = {
        mode: params.mode,
        stage: result.stage,
        steps: result.steps,
        loss: result.last.loss,
        accBacklit: stats.accuracy.backlit,
        accWellLit: stats.accuracy.wellLit,
        msPerStep: result.msPerStep,
        encodeMs,
        lr,
        logitScale: params.logitScale,
        init: initLabel,
        space: encoder.space,
      };
      for (const [set, p] of Object.entries(stats.meanPositive)) row[`pPositive_${set}`] = p;
      const report: ReportValue = { kind: 'Report', title: `Prompt learning (${params.mode}, ${result.stage})`, rows: [row] };
      return { prompts: value, report };
    } catch (err) {
      if (err instanceof PromptTrainingDiverged) ctx.fail('lr', `${err.message}.`, 'lower lr.');
      throw err;
    } finally {
      learnable.dispose();
      tf.dispose([data.backlit, data.wellLit, data.previous, data.previous2]);
    }
  },
});
