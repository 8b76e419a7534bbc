/**
 * Matching images of two batches by file name (evaluation and comparison figures): the exact name
 * first, else the name without its extension (an enhanced `a.png` pairs with ground truth `a.jpg`).
 */

export function stem(name: string): string {
  return name.replace(/\.[^./]+$/, '');
}

export interface NameIndex<T> {
  get(name: string): T | undefined;
  readonly size: number;
}

export function indexByName<T extends { name: string }>(items: readonly T[]): NameIndex<T> {
  const exact = new Map<string, T>();
  const byStem = new Map<string, T | null>();
  for (const it of items) {
    if (!exact.has(it.name)) exact.set(it.name, it);
    const s = stem(it.name);
    // Two files with the same stem (a.jpg, a.png) are ambiguous: only exact names find them.
    byStem.set(s, byStem.has(s) ? null : it);
  }
  return {
    get: (name) => exact.get(name) ?? byStem.get(stem(name)) ?? undefined,
    size: items.length,
  };
}

/** Names of `wanted` with no partner in `index`. */
export function unmatched<T>(wanted: readonly { name: string }[], index: NameIndex<T>): string[] {
  return wanted.filter((w) => index.get(w.name) === undefined).map((w) => w.name);
}

/** "a.jpg, b.jpg and 3 more" */
export function listNames(names: readonly string[], max = 3): string {
  const shown = names.slice(0, max).map((n) => `"${n}"`).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}
