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
  // Over unique ids: a file with duplicate ids must still get an answer (validation reports them).
  const ready = [...succ.keys()].filter((id) => indegree.get(id) === 0);
  const order: string[] = [];
  // A read pointer instead of shift(): shift is O(n), which made 30k-node chains quadratic.
  for (let head = 0; head < ready.length; head++) {
    const id = ready[head];
    order.push(id);
    for (const s of succ.get(id)!) {
      const d = indegree.get(s)! - 1;
      indegree.set(s, d);
      if (d === 0) ready.push(s);
    }
  }
  if (order.length === succ.size) return { order };
  const done = new Set(order);
  const remaining = new Set([...succ.keys()].filter((id) => !done.has(id)));
  const pred = new Map<string, string[]>([...succ.keys()].map((id) => [id, []]));
  for (const [from, tos] of succ) for (const to of tos) pred.get(to)!.push(from);
  return { order, cycle: findCycle(remaining, pred) };
}

function findCycle(nodes: Set<string>, pred: Map<string, string[]>): string[] {
  // Walk backwards inside the unsorted remainder until a node repeats: that loop is a cycle.
  // (Backwards, because every left-over node still has a left-over predecessor; walking forwards
  // gets stuck on nodes that are merely downstream of a cycle.)
  let current = nodes.values().next().value as string;
  const path: string[] = [];
  const seenAt = new Map<string, number>();
  while (!seenAt.has(current)) {
    seenAt.set(current, path.length);
    path.push(current);
    current = pred.get(current)!.find((p) => nodes.has(p))!;
  }
  const loop = path.slice(seenAt.get(current)!).reverse();
  return [...loop, loop[0]];
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
