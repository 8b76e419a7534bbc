import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { DEFAULT_EXAMPLE, examples } from './examples';
import { autosaved, startAutosave, useEditor } from './store';
import { graphFromHash } from './share';
import { restoreUploads } from './uploads';

// A shared link wins, then the autosaved graph, then the default example on a first visit.
const shared = graphFromHash(location.hash);
const saved = autosaved();
const state = useEditor.getState();
if (!(shared && state.loadGraphJson(shared, 'shared link')) && !(saved && state.loadGraphJson(saved, 'autosave'))) {
  const ex = examples.find((e) => e.file === DEFAULT_EXAMPLE) ?? examples[0];
  if (ex) state.loadGraphJson(ex.graph, ex.file);
}
useEditor.setState({ past: [], future: [] });
startAutosave();
void state.initBackend();
void restoreUploads();

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
