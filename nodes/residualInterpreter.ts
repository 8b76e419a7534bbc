import { z } from 'zod';
import { defineNode, type EmbeddingValue, type ReportValue, type ResidualValue } from '../src/engine';
import type { ImageEncoder } from '../src/ml/encoder';
import {
  alongConcepts,
  buildOptions,
  conceptDirections,
  cosines,
  directionOf,
  parsePhraseList,
  round,
  splitRows,
  topBottom,
  vocabularyFor,
  vocabularyParams,
  withVocabularyErrors,
} from '../src/ml/interpret';

/**
 * Reads a direction of an embedding space (RAVE's residual r, a prompt, an image shift): ranks a
 * vocabulary by cos(direction, T(word)) and measures how much of it lies along chosen concepts
 * (DESIGN §1 "Interpretation and bias correction").
 */
export default defineNode({
  type: 'residual-interpreter',
  title: 'Residual Interpreter',
  category: 'Analysis',
  description:
    'Reads a direction in CLIP space (a residual r, or any embedding): the k vocabulary entries most and least aligned with it, cos(r, T(word)), and how much of r lies along chosen concepts (cos, and share = cos² of ‖r‖²; "span" = all concepts together). Words need an encoder with a text tower (CLIP + tokenizer files); "tokens" also works without tokenizer files (tokens named by id); "features" reads the stats encoder.',
  inputs: {
    encoder: { kind: 'Encoder', label: 'Encoder', description: 'The encoder the direction was computed with; its text tower embeds the words.' },
    residual: { kind: 'Residual', label: 'Residual', optional: true },
    embedding: { kind: 'Embedding', label: 'Embedding', optional: true, description: 'Any direction instead of a residual: a prompt, an image, a difference of means.' },
  },
  outputs: {
    report: { kind: 'Report', label: 'Reading' },
    summary: { kind: 'Text', label: 'Summary' },
  },
  params: z.object({
    ...vocabularyParams('concepts'),
    k: z.number().int().min(1).max(200).default(5).describe('How many entries to list at each end (the node card shows the first 12 rows; files and the CLI get all).'),
    concepts: z
      .string()
      .max(10_000)
      .default('sunset, blue sky, orange, indoor, people')
      .describe('Concepts to measure the direction along (comma/newline separated): phrases (need a text tower), or vocabulary entries such as #5 (tokens) or mean_b (features). Empty: none.'),
  }),
  async run({ inputs, params, ctx }) {
    const encoder = inputs.encoder as ImageEncoder;
    const residual = inputs.residual as ResidualValue | undefined;
    const embedding = inputs.embedding as EmbeddingValue | undefined;
    if (!residual && !embedding) ctx.fail('residual', 'Nothing to read: neither a residual nor an embedding is connected.', 'wire a Residual Vector (or any Embedding) into the interpreter.');
    if (residual && embedding) ctx.fail('embedding', 'Both a residual and an embedding are connected; the interpreter reads one direction.', 'disconnect one of them (or use two interpreters).');
    const field = residual ? 'residual' : 'embedding';
    const direction = await directionOf(ctx, encoder, field, residual ? { space: residual.space, tensor: residual.r } : embedding!);

    const vocab = await withVocabularyErrors(ctx, () => vocabularyFor(encoder, params, ctx.host.readModelFile.bind(ctx.host), buildOptions(ctx, `embedding the ${params.vocabulary}`)));
    const { top, bottom } = topBottom(cosines(vocab.vectors, vocab.dim, direction), params.k);
    const rows: ReportValue['rows'] = [
      ...top.map((t, i) => ({ section: 'top', rank: i + 1, label: vocab.labels[t.index], cos: round(t.score, 6) })),
      ...bottom.map((t, i) => ({ section: 'bottom', rank: i + 1, label: vocab.labels[t.index], cos: round(t.score, 6) })),
    ];

    const names = parsePhraseList(params.concepts);
    if (names.length) {
      const matrix = await withVocabularyErrors(ctx, () => conceptDirections(encoder, names, vocab, 'concepts', buildOptions(ctx, 'embedding the concepts')));
      const along = alongConcepts(direction, splitRows(matrix, vocab.dim), names);
      along.each.forEach((c, i) => rows.push({ section: 'along', rank: i + 1, label: c.label, cos: round(c.cos, 6), share: round(c.share, 6) }));
      if (names.length > 1) rows.push({ section: 'along', rank: names.length + 1, label: `span of all ${along.spanRank}`, cos: round(along.span, 6), share: round(along.span ** 2, 6) });
      if (along.dependent.length) ctx.log(`${along.dependent.map((i) => `"${names[i]}"`).join(', ')} add no direction beyond the concepts before them (counted once in the span).`);
    }
    const list = (xs: typeof top) => xs.slice(0, 5).map((t) => vocab.labels[t.index]).join(', ');
    const summary = `the ${field} reads as + ${list(top)} | − ${list(bottom)} (${vocab.description})`;
    ctx.log(summary);
    const report: ReportValue = { kind: 'Report', title: `Reading of the ${field}: ${vocab.description}`, rows };
    return { report, summary };
  },
});
