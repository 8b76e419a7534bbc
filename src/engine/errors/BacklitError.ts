/**
 * One catalogue of every error a user can meet (after xyflow's XYError): a code, and a builder
 * that says what happened, where (node, field) and what to do about it.
 */
export type ErrorCode =
  | 'graph-not-json'
  | 'graph-not-object'
  | 'graph-format'
  | 'graph-version-newer'
  | 'graph-version-invalid'
  | 'graph-shape'
  | 'node-duplicate-id'
  | 'node-unknown-type'
  | 'node-param-invalid'
  | 'node-version-newer'
  | 'edge-dangling-node'
  | 'edge-unknown-port'
  | 'edge-refused'
  | 'input-missing'
  | 'node-failed'
  | 'upstream-failed'
  | 'upstream-bypassed'
  | 'cancelled'
  | 'image-unreadable'
  | 'image-too-large'
  | 'no-images'
  | 'output-exists'
  | 'out-of-memory'
  | 'path-outside-output'
  | 'weights-not-finite'
  | 'bad-set-option'
  | 'batch-unsupported'
  | 'queue-unavailable'
  | 'subgraph-invalid';

export interface ErrorInfo {
  code: ErrorCode;
  /** What happened, in one sentence. */
  message: string;
  /** What to do about it. */
  fix: string;
  nodeId?: string;
  nodeType?: string;
  /** A param, port or JSON path inside the node or graph. */
  field?: string;
}

/**
 * A value as it may appear inside a message: JSON, cut to `max` characters (a 1 MB param is not
 * echoed whole), and never throwing (cycles, BigInt, deep nesting print as a placeholder).
 */
export function preview(value: unknown, max = 120): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Array.isArray(value) ? '[…]' : typeof value === 'object' && value !== null ? '{…}' : String(value);
  }
  return cut(text, max);
}

/** `text`, or its first `max` characters and how long it was. */
export function cut(text: string, max = 120): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} characters)` : text;
}

export class BacklitError extends Error {
  readonly info: ErrorInfo;
  constructor(info: ErrorInfo) {
    super(formatError(info));
    this.name = 'BacklitError';
    this.info = info;
  }
}

/** `node "load" (Image Loader), field "source": no images matched. Fix: …` */
export function formatError(e: ErrorInfo): string {
  const where: string[] = [];
  if (e.nodeId) where.push(`node "${e.nodeId}"${e.nodeType ? ` (${e.nodeType})` : ''}`);
  if (e.field) where.push(`field "${e.field}"`);
  const prefix = where.length ? `${where.join(', ')}: ` : '';
  return `${prefix}${e.message}${e.fix ? ` Fix: ${e.fix}` : ''}`;
}

/** Wraps anything thrown by a node into a BacklitError that names that node. */
export function asNodeError(err: unknown, nodeId: string, nodeType: string): BacklitError {
  if (err instanceof BacklitError) {
    if (err.info.nodeId) return err;
    return new BacklitError({ ...err.info, nodeId, nodeType });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new BacklitError({
    code: 'node-failed',
    message: message.endsWith('.') ? message : `${message}.`,
    fix: 'check this node\'s inputs and params; if the message is unclear, report it with the graph JSON.',
    nodeId,
    nodeType,
  });
}

/** Texts of allocation failures: JS typed arrays, the wasm heap, WebGL/WebGPU buffers. */
const OUT_OF_MEMORY = /memory access out of bounds|out of memory|offset is out of bounds|array buffer allocation failed|invalid typed array length|cannot enlarge memory|aborted\(|failed to allocate|allocation failed|\bOOM\b/i;

/** True for errors that mean the backend ran out of memory (not a bug in the node). */
export function isOutOfMemory(err: unknown): boolean {
  if (err instanceof BacklitError) return err.info.code === 'out-of-memory';
  const e = err as { name?: string; message?: string } | undefined;
  return typeof e?.message === 'string' && OUT_OF_MEMORY.test(e.message) && e.message.length < 2000;
}

/**
 * The node error for an out-of-memory: names the node, the param that sets memory use (from the
 * node definition's `memory` hint) and what to lower. The raw engine text is kept in brackets.
 */
export function outOfMemoryError(err: unknown, nodeId: string, def: { title: string; memory?: { field: string; fix: string } }): BacklitError {
  if (err instanceof BacklitError && err.info.code === 'out-of-memory') return err.info.nodeId ? err : new BacklitError({ ...err.info, nodeId, nodeType: def.title });
  const raw = cut(String((err as Error)?.message ?? err).replace(/\.$/, ''), 120);
  return new BacklitError({
    code: 'out-of-memory',
    nodeId,
    nodeType: def.title,
    field: def.memory?.field,
    message: `Ran out of memory (${raw}).`,
    fix: def.memory?.fix ?? 'use smaller or fewer images (Image Loader maxSide / maxCount), then run again.',
  });
}

export function isCancelled(err: unknown): boolean {
  return err instanceof BacklitError && err.info.code === 'cancelled';
}

export function cancelledError(): BacklitError {
  return new BacklitError({ code: 'cancelled', message: 'The run was cancelled.', fix: 'run again when ready.' });
}
