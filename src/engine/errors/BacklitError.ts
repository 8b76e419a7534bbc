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
  | 'cancelled'
  | 'image-unreadable'
  | 'image-too-large'
  | 'no-images'
  | 'output-exists'
  | 'bad-set-option'
  | 'batch-unsupported'
  | 'queue-unavailable';

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

export function isCancelled(err: unknown): boolean {
  return err instanceof BacklitError && err.info.code === 'cancelled';
}

export function cancelledError(): BacklitError {
  return new BacklitError({ code: 'cancelled', message: 'The run was cancelled.', fix: 'run again when ready.' });
}
