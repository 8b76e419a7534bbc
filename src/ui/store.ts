import { create } from 'zustand';
import * as Comlink from 'comlink';
import { addEdge, applyEdgeChanges, applyNodeChanges, type Connection, type Edge, type EdgeChange, type NodeChange } from '@xyflow/react';
import {
  checkConnection,
  expandSubgraphs,
  formatError,
  groupNodes,
  loadGraph,
  nodeSpec,
  pruneSubgraphs,
  subgraphPorts,
  subgraphsUsedBy,
  ungroupNode,
  SUBGRAPH_INPUT,
  SUBGRAPH_OUTPUT,
  type PortKind,
  type SubgraphDefinition,
  type ErrorInfo,
  type ExecutorEvent,
  type Graph,
  type GraphMeta,
  type NodeStatus,
  type PortView,
} from '../engine';
import { registry } from '../worker/nodes';
import type { BackendReport } from '../worker/pickBackend';
import type { BackendChange, MemoryInfo } from '../worker/worker';
import { layeredLayout, overlapping } from './layout';
import { describeChanges, type RunRecord } from './runHistory';
import { annotationNode, edgeId, fromFlowEdge, fromGraph, toGraph, type AnnotationKind, type EditorNode } from './graphConvert';
import { worker } from './workerClient';
import { canvasToDefinition, canvasToLevel, freePortName, levelToCanvas, mergeDefinitions, prefixOf, type OpenLevel } from './subgraphs';
import type { CompareRequest } from './components/CompareViewer';

export interface NodeRunState {
  status: NodeStatus;
  elapsedMs?: number;
  /** Date.now() when the node started running, so its badge can tick while it runs. */
  startedAt?: number;
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
  /** The node the message is about: clicking the toast zooms to it. */
  nodeId?: string;
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
  /** A run was asked for before the backend was ready: it starts as soon as it is. */
  waitingForBackend: boolean;
  /** Latest tensor memory of the worker (polled when idle, sent with run events while running). */
  memory?: MemoryInfo;
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
  setName(name: string): void;
  renameNode(nodeId: string, label: string): void;
  /** A wire's reroute points (drawn through; saved in meta.reroutes). `undoable` false while dragging. */
  setReroutePoints(edgeId: string, points: Array<{ x: number; y: number }>, undoable?: boolean): void;
  /** Adds a reroute point to a wire at `at`, in order along the wire. */
  addReroutePoint(edgeId: string, at: { x: number; y: number }): void;
  /** Bypassed nodes pass their matching input straight to their output (saved in the graph JSON). */
  toggleBypass(nodeIds: string[]): void;
  /** Adds a node and wires it to the handle a wire was dragged from (dropped on empty canvas); one undo step. */
  addConnected(type: string, position: { x: number; y: number }, from: NonNullable<EditorState['dragFrom']>): string;
  /** Splits a wire with a new node: source → new node → target; one undo step. */
  insertOnEdge(edgeId: string, type: string, position: { x: number; y: number }): string | undefined;
  /** Lays the graph out left to right (dagre) so no two nodes overlap; one undo step. */
  arrange(): void;
  /** Bumped when a newly loaded graph should be arranged once its nodes have been measured. */
  arrangeRequest: number;
  /** Bumped by New: the canvas goes back to zoom 1. */
  resetViewRequest: number;
  newGraph(): void;
  graph(): Graph;
  /** Runs now, or queues behind the run in progress (with the graph as it is now). */
  run(targets?: string[]): Promise<void>;
  /** Cancels the run in progress (queued runs stay queued). */
  cancel(): void;
  /** Run queue and history, oldest first. */
  runs: RunRecord[];
  cancelQueued(id: number): void;
  /** Shows a past run's results on the nodes (statuses, previews, logs). */
  showRun(id: number): void;
  /** The run whose results the nodes show. */
  shownRunId?: number;
  initBackend(): Promise<void>;
  toast(kind: Toast['kind'], text: string, nodeId?: string): void;
  /** The node whose title is being edited in place (context menu → Rename). */
  renamingId?: string;
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
  /** Pastes with the copied nodes' top-left at `at` (the cursor), or 40 px along from the last paste. */
  paste(at?: { x: number; y: number }): void;

  duplicateSelection(): void;

  /** Subgraph definitions (those of open levels are refreshed from the canvas by graph()). */
  subgraphs: SubgraphDefinition[];
  /** Open groups, outermost first; empty at the top level. */
  openPath: OpenLevel[];
  /** The level on the canvas as an engine graph (canvas ids), with all definitions: for wire checks. */
  levelGraph(): Graph;
  /** Kind carried by an output handle of a canvas node (group and group-port nodes included). */
  sourceKind(nodeId: string, port: string): PortKind | undefined;
  /** Collapses the selected nodes into one group node whose ports are the cut wires; one undo step. */
  groupSelection(): string | undefined;
  /** Puts a group node's inner nodes back in its place; one undo step. */
  ungroup(groupId: string): void;
  /** Shows the inside of a group node (double-click, menu "Open"); `fit` false keeps the view for the caller to set. */
  openGroup(groupId: string, fit?: boolean): void;
  /** Opens or leaves groups until the node with this expanded id is on the canvas; its id there, if found. */
  revealNode(id: string): string | undefined;
  /** Back up to `depth` open groups (0 = the top graph), as the breadcrumb does. */
  closeGroups(depth: number): void;
  /** Renames a group port (its label; wires keep using the name). */
  renamePort(subgraphId: string, dir: 'inputs' | 'outputs', name: string, label: string): void;
  /** Renames a subgraph definition (the title of its group nodes). */
  renameSubgraph(subgraphId: string, name: string): void;
}

/** Size assumed for a node React Flow has not measured yet. */
const NODE_SIZE = { width: 260, height: 160 };

let backendStarting: Promise<void> | undefined;

/** While true, checkpoint() is a no-op: a compound edit (add + wire) is taken as one undo step. */
let batching = false;
function batched<T>(edit: () => T): T {
  useEditor.getState().checkpoint();
  batching = true;
  try {
    return edit();
  } finally {
    batching = false;
  }
}

/**
 * Where the pointer last was over the canvas, in flow coordinates (Mod+V pastes there). Kept out of
 * the store on purpose: updating it on every mouse move would re-run every store subscriber.
 */
export const canvasPointer: { at?: { x: number; y: number } } = {};

/** Copied nodes live in this module (and the system clipboard when allowed) as graph JSON. */
let clipboard: Graph | undefined;

export function hasClipboard(): boolean {
  return Boolean(clipboard?.nodes.length);
}

const AUTOSAVE_KEY = 'backlit-studio:autosave';
let toastSeq = 0;

export const useEditor = create<EditorState>()((set, get) => ({
  nodes: [],
  edges: [],
  meta: { name: 'Untitled' },
  running: false,
  runs: [],
  waitingForBackend: false,
  fitRequest: 0,
  arrangeRequest: 0,
  resetViewRequest: 0,
  runState: {},
  views: {},
  problems: {},
  toasts: [],
  past: [],
  future: [],
  subgraphs: [],
  openPath: [],

  // Undo checkpoints are taken BEFORE a change: at drag start (Canvas onNodeDragStart) and in
  // onBeforeDelete (one step for a node and its wires), not here, where the change has already begun.
  onNodesChange(changes) {
    set((s) => ({ nodes: applyNodeChanges([...changes, ...carriedByFrames(changes, s.nodes)], s.nodes) }));
    if (changes.some((c) => c.type === 'remove')) revalidate();
  },

  onEdgesChange(changes) {
    set((s) => ({ edges: applyEdgeChanges(changes, s.edges) }));
    if (changes.some((c) => c.type !== 'select')) revalidate();
  },

  refusalReason(c) {
    const io = portWireRefusal(c);
    if (io !== null) return io;
    const edge = fromFlowEdge(c);
    const graph = get().levelGraph();
    // An input that already has a wire accepts a new one: connect() replaces the old wire.
    graph.edges = graph.edges.filter((e) => !(e.to.node === edge.to.node && e.to.port === edge.to.port));
    const check = checkConnection(graph, registry, edge);
    return check.ok ? undefined : check.reason;
  },

  connect(c) {
    if (portWireRefusal(c) !== null) return connectPortWire(c);
    const edge = fromFlowEdge(c);
    const graph = get().levelGraph();
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
    // Inside an open group, ids carry the group's prefix (they are the ids the engine will report).
    const prefix = prefixOf(get().openPath);
    let i = 1;
    while (taken.has(`${prefix}${type}-${i}`)) i++;
    const id = `${prefix}${type}-${i}`;
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
    const prefix = prefixOf(get().openPath);
    let i = 1;
    while (taken.has(`${prefix}${kind}-${i}`)) i++;
    const id = `${prefix}${kind}-${i}`;
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
    set((s) => ({ nodes, edges, meta, subgraphs: result.graph!.subgraphs ?? [], openPath: [], runState: {}, views: {}, selectedId: undefined, fitRequest: s.fitRequest + 1, arrangeRequest: s.arrangeRequest + 1 }));
    revalidate();
    if (result.errors.length) get().toast('error', `${origin} loaded with ${result.errors.length} problem(s): ${formatError(result.errors[0])}`);
    return true;
  },

  newGraph() {
    get().checkpoint();
    set((s) => ({ nodes: [], edges: [], meta: { name: 'Untitled' }, subgraphs: [], openPath: [], runState: {}, views: {}, selectedId: undefined, problems: {}, resetViewRequest: s.resetViewRequest + 1 }));
  },

  setReroutePoints(edgeId, points, undoable = true) {
    if (undoable) get().checkpoint();
    set((s) => ({ edges: s.edges.map((e) => (e.id === edgeId ? { ...e, data: { ...e.data, points } } : e)) }));
  },

  addReroutePoint(edgeId, at) {
    const edge = get().edges.find((e) => e.id === edgeId);
    if (!edge) return;
    const points = [...((edge.data?.points as Array<{ x: number; y: number }> | undefined) ?? []), { x: Math.round(at.x), y: Math.round(at.y) }];
    // Wires run left to right, so ordering by x keeps the path from doubling back.
    points.sort((a, b) => a.x - b.x);
    get().setReroutePoints(edgeId, points);
  },

  renameNode(nodeId, label) {
    get().checkpoint();
    set((s) => ({ nodes: s.nodes.map((n) => (n.id === nodeId ? { ...n, data: { ...n.data, label: label.trim() || undefined } } : n)) }));
  },

  toggleBypass(nodeIds) {
    if (!nodeIds.length) return;
    get().checkpoint();
    const ids = new Set(nodeIds);
    // Several at once: all on unless all were already on (as in ComfyUI's Ctrl+B).
    const on = !get().nodes.filter((n) => ids.has(n.id)).every((n) => n.data.bypass);
    set((s) => ({ nodes: s.nodes.map((n) => (ids.has(n.id) ? { ...n, data: { ...n.data, bypass: on || undefined } } : n)) }));
  },

  addConnected(type, position, from) {
    return batched(() => {
      const id = get().addNode(type, position);
      const def = registry.get(type)!;
      const ports = from.handleType === 'source' ? Object.keys(def.inputs) : Object.keys(def.outputs);
      const port = ports.find((p) => get().canWire(from, id, p));
      if (port) {
        get().connect(
          from.handleType === 'source'
            ? { source: from.nodeId, sourceHandle: from.handleId, target: id, targetHandle: port }
            : { source: id, sourceHandle: port, target: from.nodeId, targetHandle: from.handleId },
        );
      }
      return id;
    });
  },

  insertOnEdge(edgeId, type, position) {
    const edge = get().edges.find((e) => e.id === edgeId);
    if (!edge) return undefined;
    return batched(() => {
      set((s) => ({ edges: s.edges.filter((e) => e.id !== edgeId) }));
      const id = get().addNode(type, position);
      const def = registry.get(type)!;
      const input = Object.keys(def.inputs).find((p) => get().canWire({ nodeId: edge.source, handleId: edge.sourceHandle ?? '', handleType: 'source' }, id, p));
      if (input) get().connect({ source: edge.source, sourceHandle: edge.sourceHandle ?? null, target: id, targetHandle: input });
      const output = Object.keys(def.outputs).find((p) => get().canWire({ nodeId: edge.target, handleId: edge.targetHandle ?? '', handleType: 'target' }, id, p));
      if (output) get().connect({ source: id, sourceHandle: output, target: edge.target, targetHandle: edge.targetHandle ?? null });
      return id;
    });
  },

  setName(name) {
    get().checkpoint();
    set((s) => ({ meta: { ...s.meta, name } }));
  },

  arrange() {
    const movable = get().nodes.filter((n) => n.type === 'backlit' || n.type === 'subgraph' || n.type === 'group-io');
    if (!movable.length) return;
    const size = (n: EditorNode) => ({ width: n.measured?.width ?? NODE_SIZE.width, height: n.measured?.height ?? NODE_SIZE.height });
    const origin = { x: Math.min(...movable.map((n) => n.position.x)), y: Math.min(...movable.map((n) => n.position.y)) };
    const at = layeredLayout(movable.map((n) => ({ id: n.id, ...size(n) })), get().edges, { origin });
    get().checkpoint();
    set((s) => ({ nodes: s.nodes.map((n) => (at.has(n.id) ? { ...n, position: at.get(n.id)! } : n)) }));
  },

  graph() {
    return composeGraph(get());
  },

  levelGraph() {
    const s = get();
    const nodes = s.nodes.filter((n) => n.type !== 'group-io');
    const ids = new Set(nodes.map((n) => n.id));
    const level = toGraph(nodes, s.edges.filter((e) => ids.has(e.source) && ids.has(e.target)), s.meta);
    const subgraphs = s.openPath.length ? composeGraph(s).subgraphs : s.subgraphs;
    return subgraphs?.length ? { ...level, subgraphs } : level;
  },

  sourceKind(nodeId, port) {
    const s = get();
    const node = s.nodes.find((n) => n.id === nodeId);
    if (!node) return undefined;
    if (node.type === 'group-io') return openPorts(s)?.inputs.find((p) => p.name === port)?.kind;
    if (node.type === 'subgraph') {
      const def = s.subgraphs.find((d) => d.id === node.data.subgraph);
      return def ? subgraphPorts(s, def, registry).outputs.find((p) => p.name === port)?.kind : undefined;
    }
    return registry.get(node.data.type)?.outputs[port]?.kind;
  },

  groupSelection() {
    const s = get();
    const ids = s.nodes.filter((n) => n.selected && (n.type === 'backlit' || n.type === 'subgraph')).map((n) => n.id);
    if (!ids.length) {
      get().toast('info', 'Select the nodes to group first (Shift+drag or Ctrl+click), then Ctrl+G.');
      return undefined;
    }
    const prefix = prefixOf(s.openPath);
    const whole = composeGraph(s);
    const level = { ...canvasToLevel(s.nodes, s.edges, prefix, {}), subgraphs: whole.subgraphs };
    const result = groupNodes(level, ids.map((id) => id.slice(prefix.length)));
    get().checkpoint();
    replaceLevel(result.graph, result.graph.subgraphs ?? []);
    const groupId = prefix + result.groupId;
    moveResults(new Map(ids.map((id) => [id, `${groupId}/${id.slice(prefix.length)}`])));
    set((st) => ({ nodes: st.nodes.map((n) => ({ ...n, selected: n.id === groupId })), selectedId: groupId }));
    revalidate();
    return groupId;
  },

  ungroup(groupId) {
    const s = get();
    const node = s.nodes.find((n) => n.id === groupId);
    if (!node || node.type !== 'subgraph') return;
    const prefix = prefixOf(s.openPath);
    const whole = composeGraph(s);
    const level = { ...canvasToLevel(s.nodes, s.edges, prefix, {}), subgraphs: whole.subgraphs };
    let result;
    try {
      result = ungroupNode(level, groupId.slice(prefix.length));
    } catch (err) {
      get().toast('error', `Cannot ungroup: ${(err as Error).message}`);
      return;
    }
    get().checkpoint();
    replaceLevel(result.graph, result.graph.subgraphs ?? []);
    const inner = new Set(result.nodeIds.map((id) => prefix + id));
    const def = level.subgraphs?.find((d) => d.id === node.data.subgraph);
    moveResults(new Map((def?.nodes ?? []).map((n, i) => [`${groupId}/${n.id}`, prefix + result.nodeIds[i]])));
    set((st) => ({
      nodes: st.nodes.map((n) => ({ ...n, selected: inner.has(n.id) })),
      selectedId: undefined,
      subgraphs: pruneSubgraphs(composeGraph(st)).subgraphs ?? [],
    }));
    revalidate();
  },

  openGroup(groupId, fit = true) {
    const s = get();
    const node = s.nodes.find((n) => n.id === groupId);
    if (!node || node.type !== 'subgraph') return;
    const whole = composeGraph(s);
    const def = whole.subgraphs?.find((d) => d.id === node.data.subgraph);
    if (!def) {
      get().toast('error', `This group's subgraph "${node.data.subgraph}" is missing from the graph; it cannot be opened.`);
      return;
    }
    const canvas = levelToCanvas({ nodes: def.nodes, edges: def.edges, meta: def.meta ?? {} }, `${groupId}/`, def);
    set((st) => ({
      subgraphs: whole.subgraphs ?? [],
      openPath: [...st.openPath, { groupId, subgraphId: def.id, parent: { nodes: st.nodes.map((n) => ({ ...n, selected: false })), edges: st.edges, selectedId: groupId } }],
      nodes: canvas.nodes,
      edges: canvas.edges,
      selectedId: undefined,
      fitRequest: st.fitRequest + (fit ? 1 : 0),
    }));
  },

  revealNode(id) {
    const here = () => get().nodes.some((n) => n.id === id);
    while (!here() && get().openPath.length && !id.startsWith(prefixOf(get().openPath))) get().closeGroups(get().openPath.length - 1);
    for (let depth = 0; depth < 16 && !here(); depth++) {
      const group = get().nodes.find((n) => n.type === 'subgraph' && id.startsWith(`${n.id}/`));
      if (!group) break;
      get().openGroup(group.id, false);
    }
    return here() ? id : undefined;
  },

  closeGroups(depth) {
    const s = get();
    if (depth >= s.openPath.length) return;
    const whole = composeGraph(s);
    const target = s.openPath[depth];
    set((st) => ({
      subgraphs: whole.subgraphs ?? [],
      nodes: target.parent.nodes.map((n) => ({ ...n, selected: n.id === target.groupId })),
      edges: target.parent.edges,
      openPath: st.openPath.slice(0, depth),
      selectedId: target.groupId,
      fitRequest: st.fitRequest + 1,
    }));
    revalidate();
  },

  renamePort(subgraphId, dir, name, label) {
    const whole = composeGraph(get());
    if (!whole.subgraphs?.some((d) => d.id === subgraphId)) return;
    get().checkpoint();
    const subgraphs = whole.subgraphs.map((d) => (d.id === subgraphId ? { ...d, [dir]: d[dir].map((p) => (p.name === name ? { name, ...(label.trim() ? { label: label.trim() } : {}) } : p)) } : d));
    set({ subgraphs });
  },

  renameSubgraph(subgraphId, name) {
    const whole = composeGraph(get());
    if (!whole.subgraphs?.some((d) => d.id === subgraphId) || !name.trim()) return;
    get().checkpoint();
    set({ subgraphs: whole.subgraphs.map((d) => (d.id === subgraphId ? { ...d, name: name.trim() } : d)) });
  },

  async run(targets) {
    const graph = get().graph();
    const previous = get().runs[get().runs.length - 1]?.graph;
    const record: RunRecord = { id: ++runSeq, status: 'queued', targets, graph, queuedAt: Date.now(), changes: describeChanges(previous && expandSubgraphs(previous).graph, expandSubgraphs(graph).graph) };
    set((s) => ({ runs: [...s.runs.slice(-(MAX_RUNS - 1)), record] }));
    if (get().running) {
      get().toast('info', `Run #${record.id} queued (${get().runs.filter((r) => r.status === 'queued').length} waiting).`);
      return;
    }
    await drainQueue();
  },

  cancelQueued(id) {
    updateRun(id, (r) => (r.status === 'queued' ? { ...r, status: 'cancelled' } : r));
  },

  showRun(id) {
    const r = get().runs.find((x) => x.id === id);
    if (r?.runState) set({ runState: r.runState, views: r.views ?? {}, shownRunId: id });
  },

  cancel() {
    void worker.cancel();
  },

  initBackend() {
    backendStarting ??= (async () => {
      try {
        // `?backend=wasm|webgl|webgpu` forces one (tests run the same pipeline on each); otherwise the fastest measured wins.
        const forced = new URLSearchParams(location.search).get('backend') as BackendReport['chosen'] | null;
        const onChange = Comlink.proxy((change: BackendChange) => {
          set({ backend: change.report });
          get().toast('error', change.message);
        });
        set({ backend: await worker.init(forced ?? undefined, onChange), backendError: undefined });
      } catch (err) {
        set({ backendError: (err as Error).message });
        backendStarting = undefined; // the next Run tries again
      }
    })();
    return backendStarting;
  },

  toast(kind, text, nodeId) {
    const id = ++toastSeq;
    set((s) => ({ toasts: [...s.toasts.slice(-3), { id, kind, text, nodeId }] }));
    setTimeout(() => get().dismiss(id), kind === 'error' ? 9000 : 4000);
  },

  dismiss(id) {
    set((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) }));
  },

  checkpoint() {
    if (batching) return;
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
    const io = portWireRefusal({ source: edge.from.node, sourceHandle: edge.from.port, target: edge.to.node, targetHandle: edge.to.port });
    if (io !== null) return io === undefined;
    const graph = get().levelGraph();
    // An input that already has a wire still counts as compatible: dropping replaces it.
    graph.edges = graph.edges.filter((e) => !(e.to.node === edge.to.node && e.to.port === edge.to.port));
    return checkConnection(graph, registry, edge).ok;
  },

  openViewer(request) {
    set({ viewer: request });
  },

  copySelection() {
    const s = get();
    // Canvas ids without the open group's prefix; group nodes travel with their definitions.
    const prefix = prefixOf(s.openPath);
    const whole = composeGraph(s);
    const graph = { ...canvasToLevel(s.nodes, s.edges, prefix, s.meta), subgraphs: whole.subgraphs };
    const selected = new Set(s.nodes.filter((n) => n.selected && n.type !== 'group-io').map((n) => n.id.slice(prefix.length)));
    if (!selected.size) return;
    const nodes = graph.nodes.filter((n) => selected.has(n.id));
    const used = subgraphsUsedBy(graph, nodes);
    const { subgraphs: _all, ...rest } = graph;
    clipboard = {
      ...rest,
      nodes,
      edges: graph.edges.filter((e) => selected.has(e.from.node) && selected.has(e.to.node)),
      ...(used.length ? { subgraphs: used } : {}),
    };
    void navigator.clipboard?.writeText(JSON.stringify(clipboard)).catch(() => undefined);
    get().toast('info', `Copied ${clipboard.nodes.length} node(s).`);
  },

  paste(at) {
    if (!clipboard?.nodes.length) return;
    const left = Math.min(...clipboard.nodes.map((n) => n.position.x));
    const top = Math.min(...clipboard.nodes.map((n) => n.position.y));
    const offset = at ? { x: Math.round(at.x - left), y: Math.round(at.y - top) } : { x: 40, y: 40 };
    get().checkpoint();
    const prefix = prefixOf(get().openPath);
    const taken = new Set(get().nodes.map((n) => n.id));
    const rename = new Map<string, string>();
    for (const n of clipboard.nodes) {
      let i = 1;
      const base = n.id.replace(/-\d+$/, '');
      while (taken.has(`${prefix}${base}-${i}`)) i++;
      taken.add(`${prefix}${base}-${i}`);
      rename.set(n.id, `${prefix}${base}-${i}`);
    }
    // Pasted group nodes bring their definitions; one that differs from a same-named one here is renamed.
    const { merged, rename: renamedDefs } = mergeDefinitions(composeGraph(get()).subgraphs ?? [], clipboard.subgraphs ?? []);
    const pasted = fromGraph({
      ...clipboard,
      nodes: clipboard.nodes.map((n) => ({ ...n, id: rename.get(n.id)!, position: { x: n.position.x + offset.x, y: n.position.y + offset.y }, ...(n.subgraph && renamedDefs.has(n.subgraph) ? { subgraph: renamedDefs.get(n.subgraph) } : {}) })),
      edges: clipboard.edges.map((e) => ({ from: { ...e.from, node: rename.get(e.from.node)! }, to: { ...e.to, node: rename.get(e.to.node)! } })),
    });
    if (merged.length) set({ subgraphs: merged });
    set((s) => ({
      nodes: [...s.nodes.map((n) => ({ ...n, selected: false })), ...pasted.nodes.map((n) => ({ ...n, selected: true }))],
      edges: [...s.edges, ...pasted.edges],
      selectedId: pasted.nodes.length === 1 ? pasted.nodes[0].id : undefined,
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


const MAX_RUNS = 50;
let runSeq = 0;

function updateRun(id: number, change: (r: RunRecord) => RunRecord) {
  useEditor.setState((s) => ({ runs: s.runs.map((r) => (r.id === id ? change(r) : r)) }));
}

/** Runs queued records one after another until none is left. */
async function drainQueue(): Promise<void> {
  const get = useEditor.getState;
  const set = useEditor.setState;
  for (let next = get().runs.find((r) => r.status === 'queued'); next; next = get().runs.find((r) => r.status === 'queued')) {
    const record = next;
    const startedAt = Date.now();
    updateRun(record.id, (r) => ({ ...r, status: 'running', startedAt }));
    set({ running: true, shownRunId: record.id });
    let status: RunRecord['status'] = 'error';
    try {
      // Asked for during start-up: wait for the backend being measured (the toolbar says so).
      if (!get().backend) {
        set({ waitingForBackend: true });
        await (backendStarting ?? get().initBackend());
        set({ waitingForBackend: false });
        if (!get().backend) {
          get().toast('error', `Run not started: no backend (${get().backendError ?? 'unknown reason'}). Reload the page, or force one with ?backend=wasm.`);
          return;
        }
      }
      const summary = await worker.run(
        record.graph,
        { targets: record.targets },
        Comlink.proxy((events: ExecutorEvent[], memory?: MemoryInfo) => {
          applyEvents(events);
          if (memory) set({ memory });
        }),
      );
      status = summary.cancelled ? 'cancelled' : summary.ok ? 'done' : 'error';
    } catch (err) {
      get().toast('error', `Run failed: ${(err as Error).message}`);
    } finally {
      const failed = Object.entries(get().runState).filter(([, r]) => r.status === 'error').map(([id]) => id);
      updateRun(record.id, (r) => ({ ...r, status, elapsedMs: Date.now() - startedAt, runState: get().runState, views: get().views, failed }));
      set({ running: false, waitingForBackend: false });
    }
  }
}

/** The whole graph: open levels' canvases folded back into their definitions, up to the top. */
function composeGraph(s: Pick<EditorState, 'nodes' | 'edges' | 'meta' | 'subgraphs' | 'openPath'>): Graph {
  const defs = new Map(s.subgraphs.map((d) => [d.id, d]));
  let nodes = s.nodes;
  let edges = s.edges;
  for (let i = s.openPath.length - 1; i >= 0; i--) {
    const level = s.openPath[i];
    const old = defs.get(level.subgraphId);
    if (old) defs.set(level.subgraphId, canvasToDefinition(nodes, edges, `${level.groupId}/`, old));
    nodes = level.parent.nodes;
    edges = level.parent.edges;
  }
  const graph = toGraph(nodes, edges, s.meta);
  return defs.size ? pruneSubgraphs({ ...graph, subgraphs: [...defs.values()] }) : graph;
}

/** Ports of the group open on the canvas (typed from the wires inside), or undefined at the top. */
function openPorts(s: EditorState) {
  const level = s.openPath[s.openPath.length - 1];
  if (!level) return undefined;
  const whole = composeGraph(s);
  const def = whole.subgraphs?.find((d) => d.id === level.subgraphId);
  return def ? subgraphPorts(whole, def, registry) : undefined;
}

/**
 * Statuses and previews follow nodes renamed by grouping ("a" → "group-1/a") and ungrouping, nested
 * ids included, as the executor's cache does (Executor.prune), so results stay on screen.
 */
function moveResults(renames: Map<string, string>) {
  const move = <T,>(record: Record<string, T>): Record<string, T> => {
    const out: Record<string, T> = {};
    for (const [id, value] of Object.entries(record)) {
      let to = id;
      for (const [from, dest] of renames) {
        if (id === from) to = dest;
        else if (id.startsWith(`${from}/`)) to = dest + id.slice(from.length);
      }
      out[to] = value;
    }
    return out;
  };
  useEditor.setState((s) => ({ runState: move(s.runState), views: move(s.views) }));
}

/** Shows `level` (engine data of the level on the canvas, new definitions) in place of the canvas. */
function replaceLevel(level: Graph, subgraphs: SubgraphDefinition[]) {
  const s = useEditor.getState();
  const prefix = prefixOf(s.openPath);
  // The open definition is refreshed from the canvas by composeGraph; keep its port nodes where they are.
  const canvas = levelToCanvas(level, prefix);
  const ports = s.nodes.filter((n) => n.type === 'group-io');
  const before = new Map(s.nodes.map((n) => [n.id, n]));
  useEditor.setState({
    nodes: [...ports, ...canvas.nodes.map((n) => (before.has(n.id) ? { ...n, measured: before.get(n.id)!.measured } : n))],
    edges: canvas.edges,
    subgraphs,
  });
}

/**
 * Wires to or from the port nodes inside an open group: null when `c` is not such a wire, else the
 * reason it is refused (undefined: accepted). The "+" handle makes a new port named after the inner one.
 */
function portWireRefusal(c: Pick<Connection, 'source' | 'target' | 'sourceHandle' | 'targetHandle'>): string | undefined | null {
  const s = useEditor.getState();
  if (!s.openPath.length) return null;
  const prefix = prefixOf(s.openPath);
  const inId = prefix + SUBGRAPH_INPUT;
  const outId = prefix + SUBGRAPH_OUTPUT;
  const touches = [c.source, c.target].some((id) => id === inId || id === outId);
  if (!touches) return null;
  if (c.target === inId || c.source === outId) return 'the group inputs node only feeds inner nodes, and the group outputs node only takes wires from them.';
  if (c.source === inId && c.target === outId) return 'a group input cannot feed a group output directly; put a node between them.';
  const ports = openPorts(s);
  const level = s.levelGraph();
  const innerId = c.source === inId ? c.target : c.source;
  const inner = level.nodes.find((n) => n.id === innerId);
  const spec = inner && nodeSpec(level, inner, registry);
  if (!spec) return `there is no node "${innerId}" here.`;
  if (c.source === inId) {
    const inp = spec.inputs[c.targetHandle ?? ''];
    if (!inp) return `${spec.title} has no input "${c.targetHandle}".`;
    const port = ports?.inputs.find((p) => p.name === c.sourceHandle);
    if (c.sourceHandle !== '+' && port?.kind && port.kind !== inp.kind) return `group input "${port.label}" carries ${port.kind}, but ${spec.title} → ${inp.label} expects ${inp.kind}.`;
    return undefined;
  }
  const out = spec.outputs[c.sourceHandle ?? ''];
  if (!out) return `${spec.title} has no output "${c.sourceHandle}".`;
  const port = ports?.outputs.find((p) => p.name === c.targetHandle);
  if (c.targetHandle !== '+' && port?.kind && port.kind !== out.kind) return `group output "${port.label}" carries ${port.kind}, but ${spec.title} → ${out.label} is ${out.kind}.`;
  return undefined;
}

function connectPortWire(c: Connection) {
  const s = useEditor.getState();
  const reason = portWireRefusal(c);
  if (reason) {
    s.toast('error', `Wire refused: ${reason}`);
    return;
  }
  const prefix = prefixOf(s.openPath);
  const ports = openPorts(s);
  let { sourceHandle, targetHandle } = c;
  if (c.source === prefix + SUBGRAPH_INPUT && sourceHandle === '+') sourceHandle = freePortName(targetHandle ?? 'input', ports?.inputs.map((p) => p.name) ?? []);
  if (c.target === prefix + SUBGRAPH_OUTPUT && targetHandle === '+') targetHandle = freePortName(sourceHandle ?? 'output', ports?.outputs.map((p) => p.name) ?? []);
  const edge = fromFlowEdge({ ...c, sourceHandle, targetHandle });
  s.checkpoint();
  // One wire per input, and one per group output: a new one replaces the old.
  useEditor.setState((st) => ({
    edges: addEdge({ source: c.source, target: c.target, sourceHandle, targetHandle, id: edgeId(edge) }, st.edges.filter((e) => !(e.target === c.target && e.targetHandle === targetHandle))),
  }));
  revalidate();
}

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

/** Undo/redo: the graph comes back; selection, measured sizes and the params panel stay. */
function restore(snapshot: string) {
  const result = loadGraph(snapshot, registry);
  if (!result.graph) return;
  // The top level comes back first; then the groups that were open are reopened while they still exist.
  const reopen = useEditor.getState().openPath.map((l) => l.groupId);
  const selectedBefore = useEditor.getState().selectedId;
  if (reopen.length) useEditor.setState({ openPath: [] });
  const { nodes, edges, meta } = fromGraph(result.graph);
  useEditor.setState({ subgraphs: result.graph.subgraphs ?? [] });
  const before = new Map(useEditor.getState().nodes.map((n) => [n.id, n]));
  const selectedEdges = new Set(useEditor.getState().edges.filter((e) => e.selected).map((e) => e.id));
  useEditor.setState((s) => ({
    nodes: nodes.map((n) => {
      const old = before.get(n.id);
      return old ? { ...n, selected: old.selected, measured: old.measured } : n;
    }),
    edges: edges.map((e) => (selectedEdges.has(e.id) ? { ...e, selected: true } : e)),
    meta,
    selectedId: s.selectedId && nodes.some((n) => n.id === s.selectedId) ? s.selectedId : undefined,
  }));
  for (const groupId of reopen) {
    const st = useEditor.getState();
    if (!st.nodes.some((n) => n.id === groupId && n.type === 'subgraph')) break;
    st.openGroup(groupId);
    useEditor.setState((x) => ({ fitRequest: x.fitRequest - 1 }));
  }
  if (reopen.length) {
    const st = useEditor.getState();
    useEditor.setState({ selectedId: selectedBefore && st.nodes.some((n) => n.id === selectedBefore) ? selectedBefore : undefined });
  }
  revalidate();
}

/** Nodes that overlap (measured sizes, 8 px of air), e.g. after a run made some grow. */
export function overlappingNodes(): Array<[string, string]> {
  const nodes = useEditor.getState().nodes.filter((n) => (n.type === 'backlit' || n.type === 'subgraph') && n.measured?.width);
  return overlapping(nodes.map((n) => ({ id: n.id, x: n.position.x, y: n.position.y, width: n.measured!.width!, height: n.measured!.height! })), 8);
}

/** Marks problems on nodes before anything runs. */
function revalidate() {
  const graph = useEditor.getState().graph();
  const result = loadGraph(JSON.parse(JSON.stringify(graph)), registry);
  const problems: Record<string, ErrorInfo[]> = {};
  for (const e of result.errors) (problems[e.nodeId ?? ''] ??= []).push(e);
  // A required input with no wire is a problem now, not only when Run reaches the node. Checked on
  // the expanded graph: inside groups too, under the ids the open group's canvas uses.
  const flat = expandSubgraphs(result.graph ?? graph).graph;
  for (const node of flat.nodes) {
    const def = registry.get(node.type);
    if (!def) continue;
    for (const [port, spec] of Object.entries(def.inputs)) {
      if (spec.optional || flat.edges.some((e) => e.to.node === node.id && e.to.port === port)) continue;
      (problems[node.id] ??= []).push({ code: 'input-missing', nodeId: node.id, nodeType: def.title, field: port, message: `Input "${spec.label}" is not connected.`, fix: `wire a ${spec.kind} output into it.` });
    }
  }
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
        const prev = runState[e.nodeId];
        runState[e.nodeId] = {
          ...prev,
          logs: prev?.logs ?? [],
          status: e.status,
          elapsedMs: e.elapsedMs,
          error: e.error,
          progress: e.status === 'running' ? undefined : prev?.progress,
          startedAt: e.status === 'running' ? Date.now() : prev?.startedAt,
        };
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
        setTimeout(() => useEditor.getState().toast('error', formatError(e.summary.errors[0]), e.summary.errors[0].nodeId));
      } else if (e.type === 'run-end') {
        // Name the first node that failed; clicking the toast zooms to it.
        const failed = Object.entries(e.summary.nodes).find(([, r]) => r.status === 'error');
        if (failed) setTimeout(() => useEditor.getState().toast('error', `${formatError(failed[1].error ?? { code: 'node-failed', message: 'failed', fix: 'see the node.' })} (click to show the node)`, failed[0]));
      }
    }
    return { runState, views };
  });
}

/** Autosave: the graph survives reloads (restored on start). */
export function startAutosave(): void {
  let last = '';
  useEditor.subscribe((s) => {
    // The whole graph, groups open on the canvas included.
    const json = JSON.stringify(composeGraph(s));
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
