import type { Graph, PortView } from '../engine';
import type { NodeRunState } from './store';

/** One run asked for in the editor: queued, running or finished, with what it showed. */
export interface RunRecord {
  id: number;
  status: 'queued' | 'running' | 'done' | 'error' | 'cancelled';
  /** "Run to here" targets; undefined = the whole graph. */
  targets?: string[];
  /** The graph as it was when the run was asked for (later edits do not change a queued run). */
  graph: Graph;
  queuedAt: number;
  startedAt?: number;
  elapsedMs?: number;
  /** Params that differ from the run before it, e.g. "brighten.stops: 1 → 2.5". */
  changes: string[];
  /** What the nodes showed when this run ended (reopened from the history). */
  runState?: Record<string, NodeRunState>;
  views?: Record<string, Record<string, PortView>>;
  /** Nodes that failed, for the list. */
  failed?: string[];
}

/** Param and structure differences between two graphs, in words short enough for a list row. */
export function describeChanges(before: Graph | undefined, after: Graph): string[] {
  if (!before) return [];
  const out: string[] = [];
  const old = new Map(before.nodes.map((n) => [n.id, n]));
  for (const n of after.nodes) {
    const o = old.get(n.id);
    if (!o) {
      out.push(`+ ${n.id}`);
      continue;
    }
    for (const key of new Set([...Object.keys(o.params), ...Object.keys(n.params)])) {
      const a = JSON.stringify(o.params[key]);
      const b = JSON.stringify(n.params[key]);
      if (a !== b) out.push(`${n.id}.${key}: ${a ?? '—'} → ${b ?? '—'}`);
    }
    if (Boolean(o.bypass) !== Boolean(n.bypass)) out.push(`${n.id} ${n.bypass ? 'bypassed' : 'un-bypassed'}`);
  }
  for (const o of before.nodes) if (!after.nodes.some((n) => n.id === o.id)) out.push(`− ${o.id}`);
  const wires = (g: Graph) => new Set(g.edges.map((e) => `${e.from.node}.${e.from.port}->${e.to.node}.${e.to.port}`));
  const wa = wires(before);
  const wb = wires(after);
  const rewired = [...wb].filter((w) => !wa.has(w)).length + [...wa].filter((w) => !wb.has(w)).length;
  if (rewired) out.push(`${rewired} wire change(s)`);
  return out;
}
