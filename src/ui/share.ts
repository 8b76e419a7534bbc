import LZString from 'lz-string';
import type { Graph } from '../engine';

const PREFIX = '#graph=';

/** A link that carries the whole graph, compressed, in the URL hash (nothing is uploaded). */
export function shareUrl(graph: Graph): string {
  return `${location.origin}${location.pathname}${location.search}${PREFIX}${LZString.compressToEncodedURIComponent(JSON.stringify(graph))}`;
}

/** The graph JSON in the current URL's hash, or undefined. */
export function graphFromHash(hash: string): string | undefined {
  if (!hash.startsWith(PREFIX)) return undefined;
  return LZString.decompressFromEncodedURIComponent(hash.slice(PREFIX.length)) ?? undefined;
}
