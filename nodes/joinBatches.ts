import { z } from 'zod';
import { defineNode, type ImageBatchValue, type NamedImage } from '../src/engine';
import { listNames, stem } from '../src/ml/interpret/pairing';

const PORTS = ['a', 'b', 'c', 'd'] as const;

/**
 * Joins up to four image batches into one (a, b, c, d in order), so image sets can be mixed without
 * another loader (two Synthetic Backlight renderings of the same photos, a second folder).
 * Downstream nodes pair images by file name, so a clash never passes silently (onDuplicate).
 */
export default defineNode({
  type: 'join-batches',
  title: 'Join Batches',
  category: 'Image',
  description:
    "Joins image batches into one, in the order a, b, c, d (sizes may differ). Names must stay unique because Metrics, Compare and the trainer's ground truth pair images by file name (extensions aside): onDuplicate 'suffix' renames later ones to name-2, name-3 …, 'keep-first' drops them, 'error' stops. Join the ground truth the same way and the renamed names still pair.",
  inputs: {
    a: { kind: 'ImageBatch', label: 'Images A' },
    b: { kind: 'ImageBatch', label: 'Images B' },
    c: { kind: 'ImageBatch', label: 'Images C', optional: true },
    d: { kind: 'ImageBatch', label: 'Images D', optional: true },
  },
  outputs: { images: { kind: 'ImageBatch', label: 'Images' } },
  // No per-input name prefix: 'suffix' already makes names unique, and deterministically, so ground
  // truth joined the same way gets the same names; a prefix would add four params and no new pairing.
  params: z.object({
    onDuplicate: z
      .enum(['suffix', 'error', 'keep-first'])
      .default('suffix')
      .describe("When two images share a name (extensions aside): 'suffix' renames later ones to name-2, name-3 …; 'keep-first' drops later ones; 'error' stops the run."),
  }),
  async run({ inputs, params, ctx }) {
    const parts = PORTS.filter((p) => inputs[p] !== undefined).map((port) => ({ port, images: (inputs[port] as ImageBatchValue).images }));
    const empty = parts.filter((p) => p.images.length === 0).map((p) => p.port);
    if (empty.length === parts.length) {
      ctx.fail('a', `Every wired input is empty (${empty.join(', ')}): there is nothing to join.`, 'wire batches that hold images (check the sources of the loaders upstream).');
    }
    if (empty.length) ctx.log(`input ${empty.join(', ')} ${empty.length > 1 ? 'are' : 'is'} empty: nothing taken from ${empty.length > 1 ? 'them' : 'it'}.`);

    // A name clashes when its stem does: pairing falls back to the stem (a.png meets a.jpg) and Output writes both as a.png.
    // Input images are passed on as they are, not copied: like a bypassed node, the cache entry shares
    // them with the upstream entries and the executor frees a tensor only when no entry holds it.
    const taken = new Set(parts.flatMap((p) => p.images.map((img) => stem(img.name))));
    const firstFrom = new Map<string, { name: string; port: string }>();
    const images: NamedImage[] = [];
    const renamed: string[] = [];
    const dropped: string[] = [];
    const clashes: Array<{ name: string; port: string; first: { name: string; port: string } }> = [];
    for (const { port, images: batch } of parts) {
      for (const img of batch) {
        const key = stem(img.name);
        const first = firstFrom.get(key);
        if (!first) {
          firstFrom.set(key, { name: img.name, port });
          images.push(img);
          continue;
        }
        if (params.onDuplicate === 'error') {
          clashes.push({ name: img.name, port, first });
          continue;
        }
        if (params.onDuplicate === 'keep-first') {
          dropped.push(`${img.name} (${port})`);
          continue;
        }
        const name = freeName(img.name, taken);
        renamed.push(`${img.name} (${port}) → ${name}`);
        images.push({ name, tensor: img.tensor });
      }
    }
    if (clashes.length) {
      const [c] = clashes;
      const more = clashes.length > 1 ? ` (${clashes.length} clashes in all: ${listNames(clashes.map((x) => `${x.name} (${x.port})`))})` : '';
      ctx.fail(
        c.port,
        `"${c.name}" (input ${c.port}) has the same name as "${c.first.name}" (input ${c.first.port})${c.name === c.first.name ? '' : ' (extensions aside)'}${more}; images are paired by file name downstream, so one would be taken for the other.`,
        "set onDuplicate to 'suffix' (renames later ones to name-2, name-3 …) or 'keep-first' (drops them), or rename the files.",
      );
    }
    if (renamed.length) ctx.log(`renamed ${renamed.length} duplicate name(s): ${listNames(renamed, 5)}.`);
    if (dropped.length) ctx.log(`dropped ${dropped.length} image(s) whose name was already taken (keep-first): ${listNames(dropped, 5)}.`);
    const value: ImageBatchValue = { kind: 'ImageBatch', images };
    return { images: value };
  },
});

/** `name-2.ext`, `name-3.ext` …: the first whose stem no input uses and no earlier rename took; reserves it. */
function freeName(name: string, taken: Set<string>): string {
  const base = stem(name);
  const ext = name.slice(base.length);
  let n = 2;
  while (taken.has(`${base}-${n}`)) n++;
  taken.add(`${base}-${n}`);
  return `${base}-${n}${ext}`;
}
