import type { Graph } from './model';

/** Node ids in dependency order, or the ids of one cycle when there is one. */
export function topologicalOrder(graph: Graph): { order: string[]; cycle?: string[] } {
  const succ = new Map<string, string[]>();
  const indegree = new Map<string, number>();
  for (const n of graph.nodes) {
    succ.set(n.id, []);
    indegree.set(n.id, 0);
  }
  for (const e of graph.edges) {
    if (!succ.has(e.from.node) || !succ.has(e.to.node)) continue;
    succ.get(e.from.node)!.push(e.to.node);
    indegree.set(e.to.node, indegree.get(e.to.node)! + 1);
  }
  // Kahn's algorithm, seeded in file order so runs are deterministic.
  const ready = graph.nodes.filter((n) => indegree.get(n.id) === 0).map((n) => n.id);
  const order: string[] = [];
  while (ready.length) {
    const id = ready.shift()!;
    order.push(id);
    for (const s of succ.get(id)!) {
      const d = indegree.get(s)! - 1;
      indegree.set(s, d);
      if (d === 0) ready.push(s);
    }
  }
  if (order.length === graph.nodes.length) return { order };
  const remaining = new Set(graph.nodes.map((n) => n.id).filter((id) => !order.includes(id)));
  return { order, cycle: findCycle(remaining, succ) };
}

function findCycle(nodes: Set<string>, succ: Map<string, string[]>): string[] {
  // Walk forward inside the unsorted remainder until a node repeats: that loop is a cycle.
  let current = nodes.values().next().value as string;
  const path: string[] = [];
  const seenAt = new Map<string, number>();
  while (!seenAt.has(current)) {
    seenAt.set(current, path.length);
    path.push(current);
    current = succ.get(current)!.find((s) => nodes.has(s))!;
  }
  return [...path.slice(seenAt.get(current)!), current];
}

/** `target` and every node it depends on. */
export function upstreamClosure(graph: Graph, targets: Iterable<string>): Set<string> {
  const preds = new Map<string, string[]>();
  for (const e of graph.edges) {
    if (!preds.has(e.to.node)) preds.set(e.to.node, []);
    preds.get(e.to.node)!.push(e.from.node);
  }
  const out = new Set<string>();
  const stack = [...targets];
  while (stack.length) {
    const id = stack.pop()!;
    if (out.has(id)) continue;
    out.add(id);
    stack.push(...(preds.get(id) ?? []));
  }
  return out;
}

/** True when `to` can already reach `from`, i.e. an edge from → to would close a loop. */
export function pathExists(graph: Graph, from: string, to: string): string[] | undefined {
  const succ = new Map<string, string[]>();
  for (const e of graph.edges) {
    if (!succ.has(e.from.node)) succ.set(e.from.node, []);
    succ.get(e.from.node)!.push(e.to.node);
  }
  const prev = new Map<string, string>();
  const queue = [from];
  const seen = new Set([from]);
  while (queue.length) {
    const id = queue.shift()!;
    if (id === to) {
      const path = [to];
      let cur = to;
      while (cur !== from) {
        cur = prev.get(cur)!;
        path.unshift(cur);
      }
      return path;
    }
    for (const s of succ.get(id) ?? []) {
      if (!seen.has(s)) {
        seen.add(s);
        prev.set(s, id);
        queue.push(s);
      }
    }
  }
  return undefined;
}
