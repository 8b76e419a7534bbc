/**
 * When a loss curve stops improving — the definition the methods benchmark uses. With
 * MA_t = mean of losses t−w+1 … t (1-based, w = `window`), the curve has plateaued at the first
 * step t ≥ 2w where the last w steps improved the moving average by at most `tol` (1%) of the drop
 * achieved so far:
 *   MA_{t−w} − MA_t ≤ tol · (max_{w ≤ s ≤ t} MA_s − MA_t)
 * Relative to the drop rather than to the value, so curves that converge to 0 (prompt
 * cross-entropy) and curves that level off high (guidance losses) are judged alike; a curve that
 * never improved plateaus at t = 2w. Returns t, or undefined when the curve is still improving at
 * its end.
 */
export function plateauStep(losses: readonly number[], opts: { window?: number; tol?: number } = {}): number | undefined {
  const w = opts.window ?? 10;
  const tol = opts.tol ?? 0.01;
  if (w < 1) throw new Error('plateauStep: window must be ≥ 1.');
  const prefix = [0];
  for (const l of losses) prefix.push(prefix[prefix.length - 1] + l);
  const ma = (t: number) => (prefix[t] - prefix[t - w]) / w; // mean of losses t−w+1..t (1-based)
  let peak = -Infinity;
  for (let t = w; t <= losses.length; t++) {
    peak = Math.max(peak, ma(t));
    if (t < 2 * w) continue;
    const now = ma(t);
    if (ma(t - w) - now <= tol * (peak - now)) return t;
  }
  return undefined;
}
