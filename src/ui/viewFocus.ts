/**
 * The node the user last asked to see (error toast click, title double-click) and when. Automatic
 * view changes (the re-arrange after a run) keep that node in view instead of fitting the whole
 * graph, so a click made just as a run ends is not undone a moment later.
 */
export const viewFocus: { nodeId?: string; at: number } = { at: 0 };

/** How long a user's focus on a node outranks an automatic fit of the whole graph. */
export const FOCUS_HOLD_MS = 3000;

export function focusNode(nodeId: string): void {
  viewFocus.nodeId = nodeId;
  viewFocus.at = Date.now();
}

/** The node to keep in view after an automatic change, if the user chose one recently. */
export function recentFocus(): string | undefined {
  return viewFocus.nodeId && Date.now() - viewFocus.at < FOCUS_HOLD_MS ? viewFocus.nodeId : undefined;
}
