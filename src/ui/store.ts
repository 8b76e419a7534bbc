import { create } from 'zustand';
import * as Comlink from 'comlink';
import { addEdge, applyEdgeChanges, applyNodeChanges, type Connection, type Edge, type EdgeChange, type NodeChange } from '@xyflow/react';
import {
  checkConnection,
  formatError,
  loadGraph,
  type ErrorInfo,
  type ExecutorEvent,
  type Graph,
  type GraphMeta,
  type NodeStatus,
  type PortView,
} from '../engine';
import { registry } from '../worker/nodes';
import type { BackendReport } from '../worker/pickBackend';
import { annotationNode, edgeId, fromFlowEdge, fromGraph, toGraph, type AnnotationKind, type EditorNode } from './graphConvert';
import { worker } from './workerClient';
import type { CompareRequest } from './components/CompareViewer';

export interface NodeRunState {
  status: NodeStatus;
  elapsedMs?: number;
  error?: ErrorInfo;
  progress?: { step: number; total: number; message?: string };
  logs: string[];
  /** Metrics reported with progress (loss terms), for live curves. */
  series?: Array<Record<string, number>>;
}

const MAX_SERIES_POINTS = 2000;

export interface Toast {
  id: number;
  kind: 'info' | 'error';
  text: string;
}

interface EditorState {
  nodes: EditorNode[];
  edges: Edge[];
  meta: GraphMeta;
  selectedId?: string;
  running: boolean;
  runState: Record<string, NodeRunState>;
  views: Record<string, Record<string, PortView>>;
  /** Problems found by validating the graph, per node id ('' for graph-wide). */
  problems: Record<string, ErrorInfo[]>;
  backend?: BackendReport;
  backendError?: string;
  toasts: Toast[];
  past: string[];
  future: string[];

  onNodesChange(changes: NodeChange<EditorNode>[]): void;
  onEdgesChange(changes: EdgeChange[]): void;
  connect(c: Connection): void;
  refusalReason(c: Connection): string | undefined;
  addNode(type: string, position: { x: number; y: number }): string;
  addAnnotation(kind: AnnotationKind, position: { x: number; y: number }): string;
  setParam(nodeId: string, key: string, value: unknown): void;
  select(nodeId?: string): void;
  loadGraphJson(json: unknown, origin: string): boolean;
  newGraph(): void;
  graph(): Graph;
  run(targets?: string[]): Promise<void>;
  cancel(): void;
  initBackend(): Promise<void>;
  toast(kind: Toast['kind'], text: string): void;
  dismiss(id: number): void;
  checkpoint(): void;
  undo(): void;
  redo(): void;
  /** The handle a wire is being dragged from, so compatible ports can light up. */
  dragFrom?: { nodeId: string; handleId: string; handleType: 'source' | 'target' };
  setDragFrom(from?: EditorState['dragFrom']): void;
  /** Would a wire between these handles be accepted? (used to highlight while dragging) */
  canWire(a: NonNullable<EditorState['dragFrom']>, nodeId: string, handleId: string): boolean;
  /** Bumped when a whole graph is loaded, so the canvas fits it into view. */
  fitRequest: number;
  viewer?: CompareRequest;
  openViewer(request?: CompareRequest): void;
  copySelection(): void;
  paste(offset?: { x: number; y: number }): void;
  duplicateSelection(): void;
}

/** Copied nodes live in this module (and the system clipboard when allowed) as graph JSON. */
let clipboard: Graph | undefined;

const AUTOSAVE_KEY = 'backlit-studio:autosave';
let toastSeq = 0;

export const useEditor = create<EditorState>()((set, get) => ({
  nodes: [],
  edges: [],
  meta: { name: 'Untitled' },
  running: false,
  fitRequest: 0,
  runState: {},
  views: {},
  problems: {},
  toasts: [],
  past: [],
  future: [],

  onNodesChange(changes) {
    const structural = changes.some((c) => c.type === 'remove' || (c.type === 'position' && c.dragging === false));
    if (structural) get().checkpoint();
    set((s) => ({ nodes: applyNodeChanges([...changes, ...carriedByFrames(changes, s.nodes)], s.nodes) }));
    if (changes.some((c) => c.type === 'remove')) revalidate();
  },

  onEdgesChange(changes) {
    if (changes.some((c) => c.type === 'remove')) get().checkpoint();
    set((s) => ({ edges: applyEdgeChanges(changes, s.edges) }));
    revalidate();
  },

  refusalReason(c) {
    const edge = fromFlowEdge(c);
    const check = checkConnection(get().graph(), registry, edge);
    return check.ok ? undefined : check.reason;
  },

  connect(c) {
    const edge = fromFlowEdge(c);
    const graph = get().graph();
    // Dropping a wire on an input that already has one replaces it (as in Blender and ComfyUI).
    graph.edges = graph.edges.filter((e) => !(e.to.node === edge.to.node && e.to.port === edge.to.port));
    const check = checkConnection(graph, registry, edge);
    if (!check.ok) {
      get().toast('error', `Wire refused: ${check.reason}`);
      return;
    }
    get().checkpoint();
    set((s) => ({
      edges: addEdge(
        { ...c, id: edgeId(edge) },
        s.edges.filter((e) => !(e.target === c.target && e.targetHandle === c.targetHandle)),
      ),
    }));
    revalidate();
  },

  addNode(type, position) {
    const def = registry.get(type)!;
    const taken = new Set(get().nodes.map((n) => n.id));
    let i = 1;
    while (taken.has(`${type}-${i}`)) i++;
    const id = `${type}-${i}`;
    get().checkpoint();
    set((s) => ({
      nodes: [...s.nodes.map((n) => ({ ...n, selected: false })), { id, type: 'backlit', position, selected: true, data: { type, params: registry.defaults(type), version: def.migrations?.length ?? 0 } }],
      selectedId: id,
    }));
    revalidate();
    return id;
  },

  addAnnotation(kind, position) {
    const taken = new Set(get().nodes.map((n) => n.id));
    let i = 1;
    while (taken.has(`${kind}-${i}`)) i++;
    const id = `${kind}-${i}`;
    get().checkpoint();
    const node = annotationNode({ id, kind, text: '', position });
    // Frames go first so they draw behind the nodes they group.
    set((s) => ({ nodes: kind === 'frame' ? [node, ...s.nodes] : [...s.nodes, node] }));
    return id;
  },

  setParam(nodeId, key, value) {
    get().checkpoint();
    set((s) => ({ nodes: s.nodes.map((n) => (n.id === nodeId ? { ...n, data: { ...n.data, params: { ...n.data.params, [key]: value } } } : n)) }));
    revalidate();
  },

  select(nodeId) {
    set({ selectedId: nodeId });
  },

  loadGraphJson(json, origin) {
    const result = loadGraph(json, registry);
    if (!result.graph) {
      get().toast('error', `${origin}: ${formatError(result.errors[0])}`);
      return false;
    }
    const { nodes, edges, meta } = fromGraph(result.graph);
    get().checkpoint();
    set((s) => ({ nodes, edges, meta, runState: {}, views: {}, selectedId: undefined, fitRequest: s.fitRequest + 1 }));
    revalidate();
    if (result.errors.length) get().toast('error', `${origin} loaded with ${result.errors.length} problem(s): ${formatError(result.errors[0])}`);
    return true;
  },

  newGraph() {
    get().checkpoint();
    set({ nodes: [], edges: [], meta: { name: 'Untitled' }, runState: {}, views: {}, selectedId: undefined, problems: {} });
  },

  graph() {
    const { nodes, edges, meta } = get();
    return toGraph(nodes, edges, meta);
  },

  async run(targets) {
    if (get().running) return;
    const graph = get().graph();
    set({ running: true });
    try {
      await worker.run(graph, { targets }, Comlink.proxy((events: ExecutorEvent[]) => applyEvents(events)));
    } catch (err) {
      get().toast('error', `Run failed: ${(err as Error).message}`);
    } finally {
      set({ running: false });
    }
  },

  cancel() {
    void worker.cancel();
  },

  async initBackend() {
    try {
      // `?backend=wasm|webgl|webgpu` forces one (tests run the same pipeline on each); otherwise the fastest measured wins.
      const forced = new URLSearchParams(location.search).get('backend') as BackendReport['chosen'] | null;
      set({ backend: await worker.init(forced ?? undefined) });
    } catch (err) {
      set({ backendError: (err as Error).message });
    }
  },

  toast(kind, text) {
    const id = ++toastSeq;
    set((s) => ({ toasts: [...s.toasts.slice(-3), { id, kind, text }] }));
    setTimeout(() => get().dismiss(id), kind === 'error' ? 9000 : 4000);
  },

  dismiss(id) {
    set((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) }));
  },

  checkpoint() {
    const snapshot = JSON.stringify(get().graph());
    set((s) => (s.past[s.past.length - 1] === snapshot ? s : { past: [...s.past.slice(-99), snapshot], future: [] }));
  },

  undo() {
    const { past } = get();
    if (!past.length) return;
    const current = JSON.stringify(get().graph());
    const previous = past[past.length - 1];
    restore(previous);
    set((s) => ({ past: s.past.slice(0, -1), future: [current, ...s.future] }));
  },

  setDragFrom(from) {
    set({ dragFrom: from });
  },

  canWire(a, nodeId, handleId) {
    const edge =
      a.handleType === 'source'
        ? { from: { node: a.nodeId, port: a.handleId }, to: { node: nodeId, port: handleId } }
        : { from: { node: nodeId, port: handleId }, to: { node: a.nodeId, port: a.handleId } };
    const graph = get().graph();
    // An input that already has a wire still counts as compatible: dropping replaces it.
    graph.edges = graph.edges.filter((e) => !(e.to.node === edge.to.node && e.to.port === edge.to.port));
    return checkConnection(graph, registry, edge).ok;
  },

  openViewer(request) {
    set({ viewer: request });
  },

  copySelection() {
    const graph = get().graph();
    const selected = new Set(get().nodes.filter((n) => n.selected).map((n) => n.id));
    if (!selected.size) return;
    clipboard = {
      ...graph,
      nodes: graph.nodes.filter((n) => selected.has(n.id)),
      edges: graph.edges.filter((e) => selected.has(e.from.node) && selected.has(e.to.node)),
    };
    void navigator.clipboard?.writeText(JSON.stringify(clipboard)).catch(() => undefined);
    get().toast('info', `Copied ${clipboard.nodes.length} node(s).`);
  },

  paste(offset = { x: 40, y: 40 }) {
    if (!clipboard?.nodes.length) return;
    get().checkpoint();
    const taken = new Set(get().nodes.map((n) => n.id));
    const rename = new Map<string, string>();
    for (const n of clipboard.nodes) {
      let i = 1;
      const base = n.id.replace(/-\d+$/, '');
      while (taken.has(`${base}-${i}`)) i++;
      taken.add(`${base}-${i}`);
      rename.set(n.id, `${base}-${i}`);
    }
    const pasted = fromGraph({
      ...clipboard,
      nodes: clipboard.nodes.map((n) => ({ ...n, id: rename.get(n.id)!, position: { x: n.position.x + offset.x, y: n.position.y + offset.y } })),
      edges: clipboard.edges.map((e) => ({ from: { ...e.from, node: rename.get(e.from.node)! }, to: { ...e.to, node: rename.get(e.to.node)! } })),
    });
    set((s) => ({
      nodes: [...s.nodes.map((n) => ({ ...n, selected: false })), ...pasted.nodes.map((n) => ({ ...n, selected: true }))],
      edges: [...s.edges, ...pasted.edges],
    }));
    // Paste again lands further along instead of on top of the last paste.
    clipboard = { ...clipboard, nodes: clipboard.nodes.map((n) => ({ ...n, position: { x: n.position.x + offset.x, y: n.position.y + offset.y } })) };
    revalidate();
  },

  duplicateSelection() {
    get().copySelection();
    get().paste();
  },

  redo() {
    const { future } = get();
    if (!future.length) return;
    const current = JSON.stringify(get().graph());
    restore(future[0]);
    set((s) => ({ future: s.future.slice(1), past: [...s.past, current] }));
  },
}));

/** A dragged frame carries the nodes lying inside it (those not already moving with the selection). */
function carriedByFrames(changes: NodeChange<EditorNode>[], nodes: EditorNode[]): NodeChange<EditorNode>[] {
  const extra: NodeChange<EditorNode>[] = [];
  const size = (n: EditorNode) => ({ w: n.measured?.width ?? n.width ?? 0, h: n.measured?.height ?? n.height ?? 0 });
  for (const c of changes) {
    if (c.type !== 'position' || !c.position) continue;
    const frame = nodes.find((n) => n.id === c.id && n.type === 'frame');
    if (!frame) continue;
    const dx = c.position.x - frame.position.x;
    const dy = c.position.y - frame.position.y;
    if (!dx && !dy) continue;
    const f = size(frame);
    for (const n of nodes) {
      if (n.id === frame.id || n.selected || changes.some((o) => o.type === 'position' && o.id === n.id)) continue;
      const { w, h } = size(n);
      const inside = n.position.x >= frame.position.x && n.position.y >= frame.position.y && n.position.x + w <= frame.position.x + f.w && n.position.y + h <= frame.position.y + f.h;
      if (inside) extra.push({ type: 'position', id: n.id, position: { x: n.position.x + dx, y: n.position.y + dy }, dragging: c.dragging });
    }
  }
  return extra;
}

function restore(snapshot: string) {
  const result = loadGraph(snapshot, registry);
  if (!result.graph) return;
  const { nodes, edges, meta } = fromGraph(result.graph);
  useEditor.setState({ nodes, edges, meta });
  revalidate();
}

/** Marks problems on nodes before anything runs. */
function revalidate() {
  const graph = useEditor.getState().graph();
  const result = loadGraph(JSON.parse(JSON.stringify(graph)), registry);
  const problems: Record<string, ErrorInfo[]> = {};
  for (const e of result.errors) (problems[e.nodeId ?? ''] ??= []).push(e);
  useEditor.setState({ problems });
}

function applyEvents(events: ExecutorEvent[]) {
  useEditor.setState((s) => {
    const runState = { ...s.runState };
    const views = { ...s.views };
    for (const e of events) {
      if (e.type === 'run-start') {
        for (const id of e.nodeIds) runState[id] = { status: 'queued', logs: [], series: undefined };
      } else if (e.type === 'status') {
        runState[e.nodeId] = { ...runState[e.nodeId], logs: runState[e.nodeId]?.logs ?? [], status: e.status, elapsedMs: e.elapsedMs, error: e.error, progress: e.status === 'running' ? undefined : runState[e.nodeId]?.progress };
      } else if (e.type === 'progress') {
        const prev = runState[e.nodeId];
        let series = prev?.series;
        if (e.metrics) {
          series = [...(series ?? []), { step: e.step, ...e.metrics }];
          // Keep long runs cheap to draw: thin the history to every other point when it grows too long.
          if (series.length > MAX_SERIES_POINTS) series = series.filter((_, i) => i % 2 === 0);
        }
        runState[e.nodeId] = { ...prev, progress: { step: e.step, total: e.total, message: e.message }, series };
      } else if (e.type === 'log') {
        const prev = runState[e.nodeId];
        runState[e.nodeId] = { ...prev, logs: [...(prev?.logs ?? []), e.message].slice(-20) };
      } else if (e.type === 'views') {
        views[e.nodeId] = e.views;
      } else if (e.type === 'run-end' && e.summary.errors.length) {
        setTimeout(() => useEditor.getState().toast('error', formatError(e.summary.errors[0])));
      }
    }
    return { runState, views };
  });
}

/** Autosave: the graph survives reloads (restored on start). */
export function startAutosave(): void {
  let last = '';
  useEditor.subscribe((s) => {
    const json = JSON.stringify(toGraph(s.nodes, s.edges, s.meta));
    if (json === last) return;
    last = json;
    try {
      localStorage.setItem(AUTOSAVE_KEY, json);
    } catch {
      /* storage full or disabled: the editor still works, only autosave is lost */
    }
  });
}

export function autosaved(): string | null {
  return localStorage.getItem(AUTOSAVE_KEY);
}
