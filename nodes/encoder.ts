import { z } from 'zod';
import { defineNode } from '../src/engine';
import { clipFromFiles } from '../src/ml/clip';
import { StatsEncoder } from '../src/ml/encoders/stats';

const decoder = new TextDecoder();

/** The encoder's name inside its space id: an explicit name, else the folder/repo's last part. */
function clipName(source: string, name: string): string {
  return name || source.replace(/\/+$/, '').split('/').pop() || 'clip';
}

/**
 * Loads an image encoder once, for every node that needs it (Encode Images, trainers, interpreters).
 * `stats` needs no weights (works offline, no text tower); `clip` loads Hugging Face CLIP weights.
 */
export default defineNode({
  type: 'encoder',
  title: 'Encoder',
  category: 'Embedding',
  description: 'An image encoder: "stats" (differentiable image statistics, offline, no text tower) or "clip" (Hugging Face CLIP: config.json + model.safetensors from a folder, the HF cache, or a URL).',
  inputs: {},
  outputs: { encoder: { kind: 'Encoder', label: 'Encoder' } },
  params: z.object({
    model: z.enum(['stats', 'clip']).default('stats').describe('stats = offline image statistics; clip = CLIP weights from `source`.'),
    source: z.string().default('').describe('CLIP only: a folder with config.json + model.safetensors (relative to the graph), an HF repo id in the local cache (openai/clip-vit-base-patch32), or a URL base.'),
    name: z.string().regex(/^[\w.-]*$/, 'letters, digits, "-", "_" and "." only').default('').describe('CLIP only: name of the embedding space (defaults to the folder name).'),
  }),
  spaceOf: (p) => (p.model === 'stats' ? 'stats:v1' : `clip:${clipName(p.source, p.name)}`),
  async run({ params, ctx }) {
    if (params.model === 'stats') return { encoder: new StatsEncoder() };
    if (!params.source) ctx.fail('source', 'No CLIP model given.', 'set source to a folder with config.json and model.safetensors, e.g. ../shared/data/tiny-clip, or pick model "stats" to work offline.');
    const read = (file: string) => ctx.host.readModelFile(params.source, file);
    const [config, weights] = await Promise.all([read('config.json'), read('model.safetensors')]);
    if (!config || !weights) {
      return ctx.fail('source', `"${params.source}" has no ${!config ? 'config.json' : 'model.safetensors'}.`, 'point source at a Hugging Face CLIP folder (pytorch_model.bin must be converted to safetensors first).');
    }
    const optional = async (file: string) => {
      const bytes = await read(file);
      return bytes ? decoder.decode(bytes) : undefined;
    };
    const [preprocessorConfig, tokenizerJson, vocabJson, mergesTxt] = await Promise.all(
      ['preprocessor_config.json', 'tokenizer.json', 'vocab.json', 'merges.txt'].map(optional),
    );
    const encoder = clipFromFiles(
      { config: decoder.decode(config), weights, preprocessorConfig, tokenizerJson, vocabJson, mergesTxt },
      { name: clipName(params.source, params.name) },
    );
    if (!encoder.encodeText) ctx.log('no tokenizer files next to the weights: the text tower is unavailable (fine for residual vectors and latent prompts).');
    return { encoder };
  },
});
