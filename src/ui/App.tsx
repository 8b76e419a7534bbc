import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Background, Controls, MiniMap, ReactFlow, ReactFlowProvider, useReactFlow, type FinalConnectionState } from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import './styles.css';
import { GraphNodeView } from './components/GraphNodeView';
import { AnnotationView } from './components/AnnotationView';
import { uploadImages } from './uploads';
import { Palette, DRAG_MIME } from './components/Palette';
import { ParamsPanel } from './components/ParamsPanel';
import { Toolbar } from './components/Toolbar';
import { Toasts } from './components/Toasts';
import { useEditor } from './store';
import { registry } from '../worker/nodes';
import { PORT_KINDS } from '../engine';
import { HelpPanel } from './components/HelpPanel';
import { CompareViewer } from './components/CompareViewer';
import { actions, matches } from './actions';

const nodeTypes = { backlit: GraphNodeView, note: AnnotationView, frame: AnnotationView };

function Canvas() {
  const nodes = useEditor((s) => s.nodes);
  const edges = useEditor((s) => s.edges);
  const { onNodesChange, onEdgesChange, connect, select, addNode, refusalReason, toast, loadGraphJson, setDragFrom } = useEditor.getState();
  const nodeTypesById = useEditor((s) => s.nodes);
  // Wires take the colour of the kind they carry.
  const styledEdges = useMemo(() => {
    const typeOf = new Map(nodeTypesById.map((n) => [n.id, n.data.type]));
    return edges.map((e) => {
      const kind = registry.get(typeOf.get(e.source) ?? '')?.outputs[e.sourceHandle ?? '']?.kind;
      return kind ? { ...e, style: { stroke: PORT_KINDS[kind].color, strokeWidth: 2 } } : e;
    });
  }, [edges, nodeTypesById]);
  const [quickAdd, setQuickAdd] = useState<{ x: number; y: number; flow: { x: number; y: number } }>();
  const flow = useReactFlow();
  const wrapper = useRef<HTMLDivElement>(null);
  const fitRequest = useEditor((s) => s.fitRequest);
  useEffect(() => {
    // After React Flow has measured the new nodes.
    const t = setTimeout(() => void flow.fitView({ padding: 0.15 }), 50);
    return () => clearTimeout(t);
  }, [fitRequest, flow]);


  const onConnectEnd = useCallback(
    (_: MouseEvent | TouchEvent, state: FinalConnectionState) => {
      setDragFrom(undefined);
      // Tell why a wire dropped on a handle was refused (React Flow only refuses silently).
      if (state.isValid === false && state.fromHandle && state.toHandle) {
        const from = state.fromHandle.type === 'source' ? state.fromHandle : state.toHandle;
        const to = state.fromHandle.type === 'source' ? state.toHandle : state.fromHandle;
        const reason = refusalReason({ source: from.nodeId, sourceHandle: from.id ?? null, target: to.nodeId, targetHandle: to.id ?? null });
        if (reason) toast('error', `Wire refused: ${reason}`);
      }
    },
    [refusalReason, toast, setDragFrom],
  );

  return (
    <div
      className="canvas"
      ref={wrapper}
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
        if (type === 'note' || type === 'frame') return;
        const files = [...e.dataTransfer.files];
        const json = files.find((f) => f.name.endsWith('.json'));
        if (json) {
          loadGraphJson(await json.text(), json.name);
          return;
        }
        // Images dropped on the canvas become a new Image Loader holding them.
        if (files.some((f) => f.type.startsWith('image/'))) await uploadImages(addNode('image-loader', position), files);
      }}
    >
      <ReactFlow
        nodes={nodes}
        edges={styledEdges}
        nodeTypes={nodeTypes}
        onConnectStart={(_, p) => p.nodeId && p.handleId && p.handleType && setDragFrom({ nodeId: p.nodeId, handleId: p.handleId, handleType: p.handleType })}
        onDoubleClick={(e) => {
          // Double-click on empty canvas: quick-add search at the cursor (as in ComfyUI).
          if (!(e.target as HTMLElement).classList.contains('react-flow__pane')) return;
          const box = wrapper.current!.getBoundingClientRect();
          setQuickAdd({ x: e.clientX - box.left, y: e.clientY - box.top, flow: flow.screenToFlowPosition({ x: e.clientX, y: e.clientY }) });
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
        fitViewOptions={{ padding: 0.2 }}
        minZoom={0.1}
        deleteKeyCode={['Backspace', 'Delete']}
        colorMode="dark"
      >
        <Background gap={24} />
        {quickAdd && (
          <div className="quick-add" style={{ left: quickAdd.x, top: quickAdd.y }} data-testid="quick-add">
            <Palette
              autoFocus
              onAdd={(type) => {
                addNode(type, quickAdd.flow);
                setQuickAdd(undefined);
              }}
              onClose={() => setQuickAdd(undefined)}
            />
          </div>
        )}
        <MiniMap pannable zoomable />
        <Controls />
      </ReactFlow>
    </div>
  );
}

export function App() {
  const flowRef = useRef<ReturnType<typeof useReactFlow> | null>(null);
  const [help, setHelp] = useState(false);
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
        <Toolbar />
        <div className="main">
          <PaletteWithPlacement flowRef={flowRef} />
          <Canvas />
          <ParamsPanel />
        </div>
        <Toasts />
        {help && <HelpPanel onClose={() => setHelp(false)} />}
        <Viewer />
      </div>
    </ReactFlowProvider>
  );
}

const NODE_BOX = { w: 300, h: 170 };

/** First place right of `start` (then on following rows) where a new node overlaps no existing one. */
function freeSpot(start: { x: number; y: number }, nodes: Array<{ position: { x: number; y: number }; measured?: { width?: number; height?: number } }>) {
  const overlaps = (x: number, y: number) =>
    nodes.some((n) => x < n.position.x + (n.measured?.width ?? NODE_BOX.w) + 40 && n.position.x < x + NODE_BOX.w && y < n.position.y + (n.measured?.height ?? NODE_BOX.h) + 40 && n.position.y < y + NODE_BOX.h);
  for (let row = 0; row < 20; row++) {
    for (let col = 0; col < 6; col++) {
      const x = start.x + col * (NODE_BOX.w + 60);
      const y = start.y + row * (NODE_BOX.h + 60);
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
        useEditor.getState().addAnnotation(kind, centre);
      }}
      onAdd={(type) => {
        const rect = document.querySelector('.canvas')?.getBoundingClientRect();
        const centre = rect ? flow.screenToFlowPosition({ x: rect.left + rect.width / 3, y: rect.top + rect.height / 3 }) : { x: 0, y: 0 };
        addNode(type, freeSpot(centre, useEditor.getState().nodes));
      }}
    />
  );
}
