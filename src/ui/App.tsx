import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Background, Controls, MiniMap, ReactFlow, ReactFlowProvider, useOnViewportChange, useReactFlow, type FinalConnectionState } from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import './styles.css';
import { GraphNodeView } from './components/GraphNodeView';
import { AnnotationView } from './components/AnnotationView';
import { uploadImages } from './uploads';
import { Palette, DRAG_MIME } from './components/Palette';
import { ParamsPanel } from './components/ParamsPanel';
import { Toolbar } from './components/Toolbar';
import { Toasts } from './components/Toasts';
import { canvasPointer, hasClipboard, overlappingNodes, useEditor } from './store';
import { registry } from '../worker/nodes';
import { PORT_KINDS, checkConnection, type AnyNodeDefinition } from '../engine';
import { ContextMenu, type MenuItem } from './components/ContextMenu';
import { NodeHelp } from './components/NodeHelp';
import { RunHistory } from './components/RunHistory';
import { RoutedEdge } from './components/RoutedEdge';
import { graphFromPng } from '../engine/schema/pngWorkflow';
import type { EditorNode } from './graphConvert';
import { HelpPanel } from './components/HelpPanel';
import { ModelsPanel } from './models/ModelsPanel';
import { CompareViewer } from './components/CompareViewer';
import { actions, matches } from './actions';
import { focusNode, recentFocus } from './viewFocus';
import { GroupNodeView, GroupPortsView } from './components/GroupNodeView';
import { Breadcrumbs } from './components/GroupPanel';

const nodeTypes = { backlit: GraphNodeView, note: AnnotationView, frame: AnnotationView, subgraph: GroupNodeView, 'group-io': GroupPortsView };
const edgeTypes = { default: RoutedEdge };

/** Below this zoom, nodes show a level-of-detail face: title, status and problem in type that stays readable. */
export const LOD_ZOOM = 0.6;

type MenuState = { x: number; y: number; label: string; items: MenuItem[] };
type QuickAddState = {
  x: number;
  y: number;
  flow: { x: number; y: number };
  /** Dropped wire: the new node is wired to this handle. */
  from?: NonNullable<ReturnType<typeof useEditor.getState>['dragFrom']>;
  /** "Insert node" on a wire: the new node splits it. */
  edgeId?: string;
};

/** Node types with a port that could take a wire from (or to) `from`, checked by the engine's own rules. */
function acceptsWire(from: NonNullable<QuickAddState['from']>) {
  const graph = useEditor.getState().levelGraph();
  return (def: AnyNodeDefinition) => {
    const candidate = { id: '__candidate__', type: def.type, params: registry.defaults(def.type), position: { x: 0, y: 0 } };
    const g = { ...graph, nodes: [...graph.nodes, candidate] };
    const ports = from.handleType === 'source' ? Object.keys(def.inputs) : Object.keys(def.outputs);
    return ports.some((p) => {
      const edge = from.handleType === 'source' ? { from: { node: from.nodeId, port: from.handleId }, to: { node: candidate.id, port: p } } : { from: { node: candidate.id, port: p }, to: { node: from.nodeId, port: from.handleId } };
      // A wire into an occupied input replaces the old one (connect() does so), so the old one does not count.
      const replaced = { ...g, edges: g.edges.filter((e) => !(e.to.node === edge.to.node && e.to.port === edge.to.port)) };
      return checkConnection(replaced, registry, edge).ok;
    });
  };
}

function Canvas({ onHelp }: { onHelp(type: string): void }) {
  const nodes = useEditor((s) => s.nodes);
  const edges = useEditor((s) => s.edges);
  const { onNodesChange, onEdgesChange, connect, select, addNode, refusalReason, toast, loadGraphJson, setDragFrom, checkpoint } = useEditor.getState();
  // Wires take the colour of the kind they carry; a selected wire is drawn thick with a glow.
  const styledEdges = useMemo(() => {
    const { sourceKind } = useEditor.getState();
    return edges.map((e) => {
      const kind = sourceKind(e.source, e.sourceHandle ?? '');
      const color = kind ? PORT_KINDS[kind].color : '#888';
      return { ...e, interactionWidth: 16, style: { stroke: color, strokeWidth: e.selected ? 5 : 2 } };
    });
  }, [edges, nodes]);
  const [quickAdd, setQuickAdd] = useState<QuickAddState>();
  const [menu, setMenu] = useState<MenuState>();
  const flow = useReactFlow();
  const wrapper = useRef<HTMLDivElement>(null);
  const fitRequest = useEditor((s) => s.fitRequest);
  const arrangeRequest = useEditor((s) => s.arrangeRequest);
  const resetViewRequest = useEditor((s) => s.resetViewRequest);
  useEffect(() => {
    // After React Flow has measured the new nodes.
    const t = setTimeout(() => void flow.fitView({ padding: 0.15 }), 50);
    return () => clearTimeout(t);
  }, [fitRequest, flow]);
  useEffect(() => {
    if (!arrangeRequest) return;
    // A loaded graph whose nodes overlap (once measured) is laid out afresh; tidy ones keep their author's layout.
    const t = setTimeout(() => {
      if (overlappingNodes().length) {
        useEditor.getState().arrange();
        void flow.fitView({ padding: 0.15 });
      }
    }, 150);
    return () => clearTimeout(t);
  }, [arrangeRequest, flow]);
  useEffect(() => {
    if (resetViewRequest) void flow.setViewport({ x: 40, y: 40, zoom: 1 });
  }, [resetViewRequest, flow]);
  useEffect(
    // Nodes grow when results arrive (tables, thumbnails, charts): when a run ends with overlaps, re-arrange.
    () =>
      useEditor.subscribe((s, prev) => {
        if (prev.running && !s.running) {
          setTimeout(() => {
            if (!overlappingNodes().length) return;
            useEditor.getState().arrange();
            useEditor.getState().toast('info', 'Nodes grew with their results and overlapped: arranged them (Undo puts them back).');
            setTimeout(() => {
              const focused = recentFocus();
              void flow.fitView(focused ? { nodes: [{ id: focused }], maxZoom: 1.2, duration: 200 } : { padding: 0.15, duration: 200 });
            }, 50);
          }, 200);
        }
      }),
    [flow],
  );
  useOnViewportChange({
    onChange: (v) => {
      // Straight to the DOM: re-rendering every node on each zoom step would be slow.
      wrapper.current?.style.setProperty('--inv-zoom', String(1 / v.zoom));
      wrapper.current?.classList.toggle('zoomed-out', v.zoom < LOD_ZOOM);
    },
  });
  const onInit = useCallback((instance: { getZoom(): number }) => {
    wrapper.current?.style.setProperty('--inv-zoom', String(1 / instance.getZoom()));
    wrapper.current?.classList.toggle('zoomed-out', instance.getZoom() < LOD_ZOOM);
  }, []);

  /** Where a popup (menu, quick-add) opens: at the pointer, moved in so that it stays inside the canvas. */
  const at = (e: { clientX: number; clientY: number }, popup = { w: 250, h: 370 }) => {
    const box = wrapper.current!.getBoundingClientRect();
    return {
      x: Math.max(4, Math.min(e.clientX - box.left, box.width - popup.w - 4)),
      y: Math.max(4, Math.min(e.clientY - box.top, box.height - popup.h - 4)),
      flow: flow.screenToFlowPosition({ x: e.clientX, y: e.clientY }),
    };
  };

  const onConnectEnd = useCallback(
    (event: MouseEvent | TouchEvent, state: FinalConnectionState) => {
      const from = useEditor.getState().dragFrom;
      setDragFrom(undefined);
      // Tell why a wire dropped on a handle was refused (React Flow only refuses silently).
      if (state.isValid === false && state.fromHandle && state.toHandle) {
        const src = state.fromHandle.type === 'source' ? state.fromHandle : state.toHandle;
        const dst = state.fromHandle.type === 'source' ? state.toHandle : state.fromHandle;
        const reason = refusalReason({ source: src.nodeId, sourceHandle: src.id ?? null, target: dst.nodeId, targetHandle: dst.id ?? null });
        if (reason) toast('error', `Wire refused: ${reason}`);
        return;
      }
      // Dropped on empty canvas: quick-add, filtered to nodes that can take this wire (as in ComfyUI).
      const point = 'changedTouches' in event ? event.changedTouches[0] : event;
      const under = document.elementFromPoint(point.clientX, point.clientY);
      if (!state.toHandle && from && under?.closest('.react-flow__pane, .react-flow__edges, .react-flow__connectionline') && !under.closest('.react-flow__node')) {
        setQuickAdd({ ...at(point), from });
      }
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [refusalReason, toast, setDragFrom],
  );

  const groupItem = (): MenuItem => {
    const count = useEditor.getState().nodes.filter((n) => n.selected && (n.type === 'backlit' || n.type === 'subgraph')).length;
    return { label: 'Group into subgraph', hint: 'Ctrl+G', testId: 'menu-group', disabled: count ? undefined : 'select the nodes to group first', perform: () => useEditor.getState().groupSelection() };
  };

  const nodeMenu = (node: EditorNode): MenuItem[] => {
    const state = useEditor.getState();
    if (node.type === 'group-io') return [];
    if (!node.selected) useEditor.setState((s) => ({ nodes: s.nodes.map((n) => ({ ...n, selected: n.id === node.id })) }));
    if (node.type === 'subgraph') {
      return [
        { label: 'Open', hint: 'double-click', testId: 'menu-open-group', perform: () => state.openGroup(node.id) },
        { label: 'Ungroup', hint: 'Shift+Ctrl+G', testId: 'menu-ungroup', perform: () => state.ungroup(node.id) },
        { label: 'Run to here', hint: 'Shift+Ctrl+↵', testId: 'menu-run-to-here', disabled: state.running ? 'a run is in progress' : undefined, perform: () => void state.run([node.id]) },
        { label: node.data.bypass ? 'Un-bypass' : 'Bypass', hint: 'Ctrl+B', testId: 'menu-bypass', perform: () => state.toggleBypass([node.id]) },
        groupItem(),
        { label: 'Duplicate', hint: 'Ctrl+D', testId: 'menu-duplicate', perform: () => useEditor.getState().duplicateSelection() },
        { label: 'Rename…', testId: 'menu-rename', perform: () => useEditor.setState({ renamingId: node.id }) },
        { label: 'Delete', hint: 'Del', testId: 'menu-delete', perform: () => void flow.deleteElements({ nodes: [{ id: node.id }] }) },
      ];
    }
    if (node.type !== 'backlit') return [{ label: 'Delete', hint: 'Del', testId: 'menu-delete', perform: () => void flow.deleteElements({ nodes: [{ id: node.id }] }) }];
    return [
      groupItem(),
      { label: 'Run to here', hint: 'Shift+Ctrl+↵', testId: 'menu-run-to-here', disabled: state.running ? 'a run is in progress' : undefined, perform: () => void state.run([node.id]) },
      { label: node.data.bypass ? 'Un-bypass' : 'Bypass', hint: 'Ctrl+B', testId: 'menu-bypass', perform: () => state.toggleBypass([node.id]) },
      {
        label: 'Duplicate',
        hint: 'Ctrl+D',
        testId: 'menu-duplicate',
        perform: () => {
          useEditor.setState((s) => ({ nodes: s.nodes.map((n) => ({ ...n, selected: n.id === node.id })) }));
          useEditor.getState().duplicateSelection();
        },
      },
      { label: 'Rename…', testId: 'menu-rename', perform: () => useEditor.setState({ renamingId: node.id }) },
      { label: 'Delete', hint: 'Del', testId: 'menu-delete', perform: () => void flow.deleteElements({ nodes: [{ id: node.id }] }) },
      { label: 'Help', testId: 'menu-help', perform: () => onHelp(node.data.type) },
    ];
  };

  const paneMenu = (e: { clientX: number; clientY: number }): MenuItem[] => {
    const where = at(e);
    const byCategory = new Map<string, AnyNodeDefinition[]>();
    for (const d of registry.all()) byCategory.set(d.category, [...(byCategory.get(d.category) ?? []), d]);
    return [
      {
        label: 'Add node',
        testId: 'menu-add-node',
        items: [...byCategory].map(([category, defs]) => ({
          label: category,
          testId: `menu-category-${category}`,
          items: defs.map((d) => ({ label: d.title, testId: `menu-add-${d.type}`, perform: () => void addNode(d.type, where.flow) })),
        })),
      },
      { label: 'Paste here', hint: 'Ctrl+V', testId: 'menu-paste', disabled: hasClipboard() ? undefined : 'nothing copied yet (Ctrl+C on selected nodes)', perform: () => useEditor.getState().paste(where.flow) },
      { label: 'Arrange', hint: 'Shift+A', testId: 'menu-arrange', perform: () => useEditor.getState().arrange() },
      { label: 'Fit view', testId: 'menu-fit', perform: () => void flow.fitView({ padding: 0.15 }) },
    ];
  };

  return (
    <div
      className="canvas"
      ref={wrapper}
      onMouseMove={(e) => {
        canvasPointer.at = flow.screenToFlowPosition({ x: e.clientX, y: e.clientY });
      }}
      onDragOver={(e) => {
        e.preventDefault();
        e.dataTransfer.dropEffect = 'move';
      }}
      onDrop={async (e) => {
        e.preventDefault();
        const type = e.dataTransfer.getData(DRAG_MIME);
        const position = flow.screenToFlowPosition({ x: e.clientX, y: e.clientY });
        if (type === 'note' || type === 'frame') {
          useEditor.getState().addAnnotation(type, position);
          return;
        }
        if (type) {
          addNode(type, position);
          return;
        }
        const files = [...e.dataTransfer.files];
        const json = files.find((f) => f.name.endsWith('.json'));
        if (json) {
          loadGraphJson(await json.text(), json.name);
          return;
        }
        // A PNG written by Output carries the graph that made it: dropping it loads that graph.
        for (const png of files.filter((f) => f.type === 'image/png')) {
          const embedded = graphFromPng(new Uint8Array(await png.arrayBuffer()));
          if (embedded) {
            loadGraphJson(embedded, `${png.name} (embedded workflow)`);
            return;
          }
        }
        // Images dropped on the canvas become a new Image Loader holding them.
        if (files.some((f) => f.type.startsWith('image/'))) await uploadImages(addNode('image-loader', position), files);
      }}
    >
      <ReactFlow
        nodes={nodes}
        edges={styledEdges}
        nodeTypes={nodeTypes}
        edgeTypes={edgeTypes}
        onInit={onInit}
        onEdgeDoubleClick={(e, edge) => useEditor.getState().addReroutePoint(edge.id, flow.screenToFlowPosition({ x: e.clientX, y: e.clientY }))}
        onConnectStart={(_, p) => p.nodeId && p.handleId && p.handleType && setDragFrom({ nodeId: p.nodeId, handleId: p.handleId, handleType: p.handleType })}
        onDoubleClick={(e) => {
          // Double-click on empty canvas: quick-add search at the cursor (as in ComfyUI).
          if (!(e.target as HTMLElement).classList.contains('react-flow__pane')) return;
          setQuickAdd(at(e));
        }}
        onNodeDoubleClick={(e, node) => {
          // Double-click a group node: open it (as in Blender's Tab / ComfyUI's subgraph button).
          if (node.type === 'subgraph' && !(e.target as HTMLElement).closest('input, button')) {
            useEditor.getState().openGroup(node.id);
            return;
          }
          // Double-click a title: zoom to that node.
          if ((e.target as HTMLElement).closest('.node-header, .node-lod')) {
            focusNode(node.id);
            void flow.fitView({ nodes: [{ id: node.id }], maxZoom: 1.2, duration: 250 });
          }
        }}
        onNodeContextMenu={(e, node) => {
          e.preventDefault();
          setMenu({ ...at(e, { w: 200, h: 230 }), label: `${node.data.label ?? registry.get(node.data.type)?.title ?? node.id} menu`, items: nodeMenu(node) });
        }}
        onEdgeContextMenu={(e, edge) => {
          e.preventDefault();
          const where = at(e, { w: 200, h: 110 });
          setMenu({
            ...where,
            label: 'Wire menu',
            items: [
              { label: 'Delete wire', hint: 'Del', testId: 'menu-delete-wire', perform: () => void flow.deleteElements({ edges: [{ id: edge.id }] }) },
              { label: 'Add reroute point', hint: 'double-click', testId: 'menu-add-reroute', perform: () => useEditor.getState().addReroutePoint(edge.id, where.flow) },
              { label: 'Insert node…', testId: 'menu-insert-node', perform: () => setQuickAdd({ ...at(e), edgeId: edge.id }) },
            ],
          });
        }}
        onSelectionContextMenu={(e, sel) => {
          e.preventDefault();
          const ids = sel.filter((n) => n.type === 'backlit' || n.type === 'subgraph').map((n) => n.id);
          setMenu({
            ...at(e, { w: 220, h: 130 }),
            label: 'Selection menu',
            items: [
              groupItem(),
              { label: 'Bypass', hint: 'Ctrl+B', testId: 'menu-bypass', perform: () => useEditor.getState().toggleBypass(ids) },
              { label: 'Duplicate', hint: 'Ctrl+D', testId: 'menu-duplicate', perform: () => useEditor.getState().duplicateSelection() },
              { label: 'Delete', hint: 'Del', testId: 'menu-delete', perform: () => void flow.deleteElements({ nodes: ids.map((id) => ({ id })) }) },
            ],
          });
        }}
        onPaneContextMenu={(e) => {
          e.preventDefault();
          // Room for the menu and its two levels of submenus to the right.
          setMenu({ ...at(e, { w: 580, h: 260 }), label: 'Canvas menu', items: paneMenu(e) });
        }}
        onNodeDragStart={() => checkpoint()}
        onSelectionDragStart={() => checkpoint()}
        onBeforeDelete={async () => {
          // One undo step for a node and its wires (React Flow removes them as two changes).
          checkpoint();
          return true;
        }}
        zoomOnDoubleClick={false}
        multiSelectionKeyCode={['Shift', 'Meta', 'Control']}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={connect}
        onConnectEnd={onConnectEnd}
        isValidConnection={(c) => refusalReason({ ...c, sourceHandle: c.sourceHandle ?? null, targetHandle: c.targetHandle ?? null }) === undefined}
        onSelectionChange={({ nodes: sel }) => select(sel.length === 1 ? sel[0].id : undefined)}
        fitView
        fitViewOptions={{ padding: 0.15 }}
        minZoom={0.1}
        deleteKeyCode={['Backspace', 'Delete']}
        colorMode="dark"
      >
        <Background gap={24} />
        <Breadcrumbs />
        {quickAdd && (
          <div className="quick-add" style={{ left: quickAdd.x, top: quickAdd.y }} data-testid="quick-add">
            <Palette
              autoFocus
              filter={quickAdd.from ? acceptsWire(quickAdd.from) : quickAdd.edgeId ? splitsWire(quickAdd.edgeId) : undefined}
              title={quickAdd.from ? 'Nodes that can take this wire' : quickAdd.edgeId ? 'Nodes that fit on this wire' : undefined}
              onAdd={(type) => {
                const state = useEditor.getState();
                if (quickAdd.from) state.addConnected(type, quickAdd.flow, quickAdd.from);
                else if (quickAdd.edgeId) {
                  state.insertOnEdge(quickAdd.edgeId, type, quickAdd.flow);
                  // The new node sits on the wire's midpoint; once measured, make room if it covers a neighbour.
                  setTimeout(() => overlappingNodes().length && useEditor.getState().arrange(), 150);
                }
                else addNode(type, quickAdd.flow);
                setQuickAdd(undefined);
              }}
              onClose={() => setQuickAdd(undefined)}
            />
          </div>
        )}
        {menu && <ContextMenu {...menu} onClose={() => setMenu(undefined)} />}
        <MiniMap pannable zoomable />
        <Controls />
      </ReactFlow>
    </div>
  );
}

/** Node types that can sit on a wire: one input takes its source, one output feeds its target. */
function splitsWire(edgeId: string) {
  const edge = useEditor.getState().edges.find((e) => e.id === edgeId);
  if (!edge) return () => false;
  const takes = acceptsWire({ nodeId: edge.source, handleId: edge.sourceHandle ?? '', handleType: 'source' });
  const feeds = acceptsWire({ nodeId: edge.target, handleId: edge.targetHandle ?? '', handleType: 'target' });
  return (def: AnyNodeDefinition) => takes(def) && feeds(def);
}

export function App() {
  const flowRef = useRef<ReturnType<typeof useReactFlow> | null>(null);
  const [help, setHelp] = useState(false);
  const [nodeHelp, setNodeHelp] = useState<string>();
  const [history, setHistory] = useState(false);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement;
      if (target.tagName === 'INPUT' || target.tagName === 'SELECT' || target.tagName === 'TEXTAREA') return;
      if (e.key === '?') {
        setHelp((h) => !h);
        return;
      }
      if (e.key === 'Escape') setHelp(false);
      const action = actions.find((a) => a.keys.some((k) => matches(e, k)));
      if (action) {
        e.preventDefault();
        action.perform();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
  return (
    <ReactFlowProvider>
      <div className="app">
        <Toolbar onToggleHistory={() => setHistory((h) => !h)} historyOpen={history} />
        <div className="main">
          <PaletteWithPlacement flowRef={flowRef} />
          <Canvas onHelp={setNodeHelp} />
          {history ? <RunHistory onClose={() => setHistory(false)} /> : <ParamsPanel />}
        </div>
        <Toasts />
        {help && <HelpPanel onClose={() => setHelp(false)} />}
        {nodeHelp && <NodeHelp type={nodeHelp} onClose={() => setNodeHelp(undefined)} />}
        <Viewer />
        <ModelsPanel />
      </div>
    </ReactFlowProvider>
  );
}

const NODE_BOX = { w: 300, h: 170 };

/** First place right of `start` (then on following rows) where a new node overlaps no existing one. */
function freeSpot(start: { x: number; y: number }, nodes: Array<{ position: { x: number; y: number }; measured?: { width?: number; height?: number }; width?: number; height?: number }>, box = NODE_BOX) {
  const w = (n: (typeof nodes)[number]) => n.measured?.width ?? n.width ?? NODE_BOX.w;
  const h = (n: (typeof nodes)[number]) => n.measured?.height ?? n.height ?? NODE_BOX.h;
  const overlaps = (x: number, y: number) => nodes.some((n) => x < n.position.x + w(n) + 40 && n.position.x < x + box.w + 40 && y < n.position.y + h(n) + 40 && n.position.y < y + box.h + 40);
  for (let row = 0; row < 20; row++) {
    for (let col = 0; col < 6; col++) {
      const x = start.x + col * (box.w + 60);
      const y = start.y + row * (box.h + 60);
      if (!overlaps(x, y)) return { x, y };
    }
  }
  return start;
}

function Viewer() {
  const request = useEditor((s) => s.viewer);
  const openViewer = useEditor((s) => s.openViewer);
  return request ? <CompareViewer request={request} onClose={() => openViewer(undefined)} /> : null;
}

/** Palette clicks add the node at the centre of the current view. */
function PaletteWithPlacement({ flowRef }: { flowRef: React.MutableRefObject<ReturnType<typeof useReactFlow> | null> }) {
  const flow = useReactFlow();
  flowRef.current = flow;
  const addNode = useEditor((s) => s.addNode);
  return (
    <Palette
      onAnnotate={(kind) => {
        const rect = document.querySelector('.canvas')?.getBoundingClientRect();
        const centre = rect ? flow.screenToFlowPosition({ x: rect.left + rect.width / 2, y: rect.top + rect.height / 4 }) : { x: 0, y: 0 };
        // Like nodes, a new note or frame goes where it covers nothing (a note used to land on a new frame).
        useEditor.getState().addAnnotation(kind, freeSpot(centre, useEditor.getState().nodes, kind === 'frame' ? { w: 480, h: 300 } : { w: 200, h: 100 }));
      }}
      onAdd={(type) => {
        const rect = document.querySelector('.canvas')?.getBoundingClientRect();
        const centre = rect ? flow.screenToFlowPosition({ x: rect.left + rect.width / 3, y: rect.top + rect.height / 3 }) : { x: 0, y: 0 };
        addNode(type, freeSpot(centre, useEditor.getState().nodes));
      }}
    />
  );
}
