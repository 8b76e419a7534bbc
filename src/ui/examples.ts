import type { Graph } from '../engine';

/** Every graph in graphs/ is an example in the editor (and a CLI test fixture). */
const files = import.meta.glob<Graph>('../../graphs/*.json', { eager: true, import: 'default' });

export const examples: Array<{ file: string; graph: Graph }> = Object.entries(files)
  .map(([path, graph]) => ({ file: path.split('/').pop()!, graph }))
  .sort((a, b) => a.file.localeCompare(b.file));

/** The graph the editor opens with on a first visit. */
export const DEFAULT_EXAMPLE = 'quick-start.json';
