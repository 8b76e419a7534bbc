import type { EnhancerNet } from '../enhancer/network';

/** Test helper: largest absolute difference between two networks' parameters. */
export function weightDiff(a: EnhancerNet, b: EnhancerNet): number {
  const sb = b.stateDict();
  let m = 0;
  for (const [k, t] of a.stateDict()) {
    const u = sb.get(k)!.data;
    for (let i = 0; i < u.length; i++) m = Math.max(m, Math.abs(u[i] - t.data[i]));
  }
  return m;
}
