import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { canonicalJson, defineNode, outputPath, hashString, writeFileGroup, type ImageBatchValue, type PromptPairValue, type ReportValue, type ResidualValue } from '../src/engine';
import type { ImageEncoder } from '../src/ml/encoder';
import { EnhancerNet } from '../src/ml/enhancer/network';
import { CheckpointProblem, NonFiniteWeights, assertFiniteNet, encodeEnhancer, encodeEnhancerTfjs, openCheckpoint, type TrainingState } from '../src/ml/training/enhancerFiles';
import { TrainingCollapsed, TrainingDiverged, assertNotCollapsed, trainEnhancer } from '../src/ml/training/enhancerTraining';
import { promptGuidance, residualGuidance, type Guidance } from '../src/ml/training/guidance';
import type { CalibratedResidual } from './residualVector';

/**
 * Trains the enhancement network guided by a residual vector (RAVE) or a prompt pair (CLIP-LIT,
 * latent prompts), with the identity loss through the encoder, after a reconstruction warm-up.
 * Checkpoints atomically every `checkpointEvery` steps and resumes from them.
 */
export default defineNode({
  type: 'enhancer-trainer',
  title: 'Enhancer Trainer',
  category: 'Training',
  memory: { field: 'imageSize', fix: 'lower imageSize or batchSize, or set microBatch to 1 (backprop one image at a time); the wasm backend has at most 4 GB.' },
  description: 'Trains the CLIP-LIT/RAVE enhancement network on backlit images, guided by a Residual (RAVE) or a PromptPair, with an identity loss; optional paired ground truth adds L1 + SSIM. Checkpoints and resumes.',
  inputs: {
    images: { kind: 'ImageBatch', label: 'Backlit images' },
    encoder: { kind: 'Encoder', label: 'Encoder' },
    residual: { kind: 'Residual', label: 'Residual guidance', optional: true },
    prompts: { kind: 'PromptPair', label: 'Prompt guidance', optional: true },
    groundTruth: { kind: 'ImageBatch', label: 'Ground truth (paired)', optional: true },
    init: { kind: 'Enhancer', label: 'Start from', optional: true, description: 'Fine-tune these weights instead of a fresh network.' },
  },
  outputs: {
    enhancer: { kind: 'Enhancer', label: 'Enhancer' },
    report: { kind: 'Report', label: 'Training report' },
  },
  params: z.object({
    iterations: z.number().int().min(1).max(1_000_000).default(60).describe('Total training steps, warm-up included (paper: thousands).'),
    warmupIterations: z.number().int().min(0).max(1_000_000).default(10).describe('Reconstruction-only steps first (paper: 1000).'),
    lr: z.number().positive().max(1).default(5e-4).describe('Adam learning rate (paper: 2e-5 over ~50k steps; higher for short runs).'),
    weightDecay: z.number().min(0).max(1).default(1e-3).describe('L2 weight decay: decay·w is added to the gradient of each weight every step (0 = none).'),
    batchSize: z.number().int().min(1).max(64).default(2).describe('Images per step (paper: 8).'),
    imageSize: z.number().int().min(16).max(1024).default(64).describe('Training resolution (paper: 512; wasm memory limits it).'),
    guidanceWeight: z.number().min(0).default(1920).describe('Guidance loss weight (RAVE: 6·320 = 1920; CLIP-LIT prompts: 320).'),
    guidanceUnits: z
      .enum(['paper', 'gap'])
      .default('paper')
      .describe("Residual guidance only. paper: L = w·(<E,r> − thr)², whose size depends on the encoder space (the backlit-to-target gap is ~0.05 in CLIP, ~0.8 in the stats space); gap: L = w·((<E,r> − thr)/gap)² with gap = target − <mean E(backlit), r> measured by the Residual Vector, so a backlit image starts at w and one weight means the same in every space."),
    identityWeight: z.number().min(0).default(22.5).describe('Identity loss weight (0.9·25).'),
    highlightWeight: z.number().min(0).default(0).describe('Highlight guard (not in the papers, off = 0): penalises pixels pushed past 0.98 that were below it, measured before the clamp (a clipped pixel passes no gradient otherwise).'),
    preserveWeight: z.number().min(0).default(0).describe('Highlight preservation (not in the papers, off = 0): penalises brightening input pixels that are already bright (luma 0.7 → 0.9 ramp), mean s(Y)·relu(1 − L), so skies keep a margin below white. Needs bright regions in the training images (Synthetic Backlight background).'),
    lrSchedule: z.enum(['constant', 'cosine']).default('constant').describe('constant (the papers) or cosine decay to lr/10 after the warm-up, so the result settles instead of depending on where training stops.'),
    pixelWeight: z.number().min(0).default(0).describe('L1 + (1 − SSIM) to ground truth (paired regime only).'),
    augment: z.boolean().default(true).describe('Random flips, transposes and 90° rotations.'),
    seed: z.number().int().min(0).default(0).describe('Random seed for weight init, batch picks and augmentation: same seed and inputs give the same enhancer.'),
    microBatch: z.number().int().min(1).max(64).default(1).describe('Backprop this many images at a time (memory; same gradient).'),
    checkpoint: outputPath('file').regex(/^([\w.-]+\.safetensors)?$/, 'a file name ending in .safetensors, or empty').default('').describe('Checkpoint file in the output folder ("" = none).'),
    checkpointEvery: z.number().int().min(0).default(20).describe('Write the checkpoint every N steps (0 = only at the end); needs a checkpoint file name.'),
    resume: z.boolean().default(true).describe('Continue from the checkpoint when it belongs to this run.'),
    exportAs: outputPath('file').regex(/^[\w.-]*$/, 'letters, digits, "-", "_" and "." only').default('').describe('Also export <name>.safetensors and <name>-tfjs/model.json + weights.bin.'),
  }),
  async run({ inputs, params, ctx }) {
    const images = inputs.images as ImageBatchValue;
    const encoder = inputs.encoder as ImageEncoder;
    const residual = inputs.residual as ResidualValue | undefined;
    const prompts = inputs.prompts as PromptPairValue | undefined;
    const truth = inputs.groundTruth as ImageBatchValue | undefined;
    if (!residual && !prompts) ctx.fail('residual', 'No guidance is connected.', 'wire a Residual Vector (RAVE) or a Prompt Learner output into the trainer.');
    if (residual && prompts) ctx.fail('prompts', 'Both a residual and a prompt pair are connected.', 'keep one guidance input.');
    if (params.warmupIterations > params.iterations) ctx.fail('warmupIterations', `Warm-up (${params.warmupIterations}) is longer than the run (${params.iterations}).`, 'lower warmupIterations or raise iterations.');
    // A Prompt Learner may attach the logit scale its prompts were learnt with (default 100).
    const logitScale = (prompts as (PromptPairValue & { logitScale?: number }) | undefined)?.logitScale;
    let gap: number | undefined;
    if (residual && params.guidanceUnits === 'gap') {
      const start = (residual as CalibratedResidual).start;
      if (start === undefined) return ctx.fail('guidanceUnits', 'The residual does not say where the backlit set starts on r (it needs the mean of the backlit embeddings).', "compute it with a Residual Vector fed by Mean Embedding nodes, or set guidanceUnits to 'paper'.");
      gap = residual.thr - start;
      if (!(gap > 1e-6)) ctx.fail('guidanceUnits', `The target ${residual.thr.toFixed(4)} is not above the backlit mean ${start.toFixed(4)} on r, so there is no gap to cover.`, "pick another Residual Vector target, or set guidanceUnits to 'paper'.");
    }
    const guidance: Guidance = residual ? residualGuidance(residual.r, residual.thr, residual.space, gap) : promptGuidance(prompts!.prompts, prompts!.space, prompts!.mode, logitScale);
    if (guidance.space !== encoder.space) {
      ctx.fail(residual ? 'residual' : 'prompts', `The guidance lives in "${guidance.space}" but the encoder is "${encoder.space}".`, 'compute the guidance with the same Encoder node that feeds the trainer.');
    }
    let targets: tf.Tensor3D[] | undefined;
    if (truth) {
      const byName = new Map(truth.images.map((im) => [im.name, im.tensor]));
      const missing = images.images.filter((im) => !byName.has(im.name)).map((im) => im.name);
      if (missing.length) ctx.fail('groundTruth', `No ground truth named like ${missing.slice(0, 3).join(', ')}.`, 'pairs are matched by file name; give both folders the same names.');
      targets = images.images.map((im) => byName.get(im.name)!);
    }
    if (params.pixelWeight > 0 && !targets) ctx.fail('pixelWeight', 'A pixel loss needs ground truth.', 'wire paired ground-truth images, or set pixelWeight to 0.');

    // Identifies "this run": a checkpoint of another run (other data or settings) is never resumed.
    const guidanceKey = residual ? `${residual.space}:${residual.thr.toFixed(6)}${gap !== undefined ? `:gap${gap.toFixed(6)}` : ''}` : `${prompts!.space}:${prompts!.mode}${logitScale !== undefined ? `:${logitScale}` : ''}`;
    const { iterations: _i, checkpointEvery: _c, resume: _r, exportAs: _e, ...runParams } = params;
    const runId = hashString(canonicalJson({ runParams, images: images.images.map((im) => im.name), truth: truth?.images.map((im) => im.name), guidanceKey, encoder: encoder.space, init: Boolean(inputs.init) }));

    let net: EnhancerNet | undefined;
    let resumeState: TrainingState | undefined;
    if (params.checkpoint) {
      // Never loses a file: another run's checkpoint is kept as .prev(-n), an unreadable one as .corrupt(-n).
      try {
        ({ net, state: resumeState } = await openCheckpoint(ctx.host, params.checkpoint, { runId, resume: params.resume, log: (m) => ctx.log(m) }));
      } catch (err) {
        if (err instanceof CheckpointProblem) ctx.fail(err.field, err.message, err.fix);
        throw err;
      }
    }
    net ??= inputs.init ? cloneNet(inputs.init as EnhancerNet) : EnhancerNet.create(params.seed);

    const written: ReportValue['rows'] = [];
    let savedStep = resumeState?.step; // the step the checkpoint file holds for this run, if any
    const goodCheckpoint = () => (savedStep === undefined ? 'no checkpoint of this run was written yet; ' : `the last good checkpoint (${params.checkpoint}, step ${savedStep}) is kept; `);
    const save = async (step: number, optimizer: TrainingState['optimizer']) => {
      if (!params.checkpoint) return;
      await net!.download(); // GPU backends: weights read back asynchronously before encoding
      const bytes = encodeEnhancer(net!, { step, optimizer, metadata: { run: runId, iterations: String(params.iterations) } });
      await ctx.host.writeFile('', params.checkpoint, bytes, { overwrite: true });
      savedStep = step;
    };
    try {
      const result = await trainEnhancer(
        net,
        encoder,
        guidance,
        { inputs: images.images.map((im) => im.tensor), targets },
        params,
        {
          signal: ctx.signal,
          onStep: (step, total, metrics) => ctx.progress(step, total, { message: step <= params.warmupIterations ? 'warm-up' : 'guided', metrics }),
          saveCheckpoint: ({ step, optimizer }) => save(step, optimizer),
          checkHealth: async (step) => {
            // NaN weights first (a NaN network also looks flat), then a collapse to a flat image.
            await net!.download();
            assertFiniteNet(net!);
            await assertNotCollapsed(net!, images.images[0], params.imageSize, step);
          },
        },
        resumeState,
      );
      ctx.throwIfCancelled();
      await net.download();
      assertFiniteNet(net);
      if (params.exportAs) {
        // One stem for all three files: a second export goes to <name>-1.safetensors and <name>-1-tfjs/, never over the first.
        const tfjs = await encodeEnhancerTfjs(net);
        const files = [
          { rest: '.safetensors', bytes: encodeEnhancer(net) },
          { rest: '-tfjs/model.json', bytes: new TextEncoder().encode(tfjs.modelJson) },
          { rest: '-tfjs/weights.bin', bytes: tfjs.weightsBin },
        ];
        for (const w of await writeFileGroup(ctx.host, '', params.exportAs, files, { overwrite: false })) written.push({ name: w.name, location: w.location, bytes: w.bytes });
      }
      const report: ReportValue = {
        kind: 'Report',
        title: 'Training',
        rows: [{ steps: result.steps, resumedFrom: result.resumedFrom, guidedBy: guidance.label, encoder: encoder.space, ...result.last }, ...written],
      };
      return { enhancer: net, report };
    } catch (err) {
      net.dispose();
      if (err instanceof NonFiniteWeights) {
        ctx.fail('lr', `Training diverged: ${err.message}; nothing was saved from this point.`, params.checkpoint ? `${goodCheckpoint()}lower lr or guidanceWeight and run again.` : 'lower lr or guidanceWeight; set a checkpoint file to keep progress.');
      }
      if (err instanceof TrainingCollapsed) {
        // Stopped at the check, before that step's checkpoint: whatever checkpoint exists passed one.
        const again = `lower lr (now ${params.lr}) or guidanceWeight and run again`;
        const kept = !params.checkpoint || savedStep === undefined ? '' : savedStep < err.step ? `the checkpoint ${params.checkpoint} (step ${savedStep}, before the collapse) is kept; ` : `the checkpoint ${params.checkpoint} holds this collapsed state: set resume to false, `;
        ctx.fail('lr', `Training stopped: ${err.message}; it cannot recover (no gradient passes the clamp of a flat output), so nothing from this point was saved.`, `${kept}${again}${kept ? ' (a new lr starts a new run)' : ''}.`);
      }
      if (err instanceof TrainingDiverged) {
        ctx.fail('lr', `${err.message}.`, params.checkpoint ? `${goodCheckpoint()}lower lr and run again.` : 'lower lr; set a checkpoint file to keep progress.');
      }
      throw err;
    }
  },
});

function cloneNet(source: EnhancerNet): EnhancerNet {
  const sd = new Map([...source.stateDict()].map(([k, t]) => [k, { ...t, storage: 'FloatStorage' }]));
  return EnhancerNet.fromStateDict(sd);
}
