import { RESERVED_KEYS } from './graphSchema';

/** Deepest nesting of arrays/objects a graph file may have (real graphs stay under 10). */
export const MAX_JSON_DEPTH = 64;

export interface JsonProblem {
  /** JSON path of the offending value, e.g. ["nodes", 0, "params", "x"]. */
  path: (string | number)[];
  message: string;
}

/**
 * Walks parsed JSON without recursion (a 100k-deep value cannot overflow the stack here) and
 * returns the first value nested deeper than `maxDepth` or the first object key that is
 * `__proto__`, `constructor` or `prototype`. Runs before any schema or migration touches the data,
 * so neither zod nor our own code ever meets such a value.
 */
export function scanJson(root: unknown, maxDepth = MAX_JSON_DEPTH): JsonProblem | undefined {
  const stack: Array<{ value: unknown; path: (string | number)[] }> = [{ value: root, path: [] }];
  while (stack.length) {
    const { value, path } = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (path.length >= maxDepth) return { path: path.slice(0, 8), message: `nesting deeper than ${maxDepth} levels` };
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], path: [...path, i] });
      continue;
    }
    const keys = Object.keys(value);
    for (const k of keys) if (RESERVED_KEYS.has(k)) return { path: [...path, k], message: `the key "${k}" is not allowed ("__proto__", "constructor" and "prototype" are reserved)` };
    for (let i = keys.length - 1; i >= 0; i--) stack.push({ value: (value as Record<string, unknown>)[keys[i]], path: [...path, keys[i]] });
  }
  return undefined;
}
