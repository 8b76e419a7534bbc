import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Cross-origin isolation lets tfjs's wasm backend use threads (SharedArrayBuffer).
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  plugins: [react()],
  server: { headers: isolation, host: '127.0.0.1' },
  preview: { headers: isolation, host: '127.0.0.1' },
  worker: { format: 'es' },
  // Not minified: minifying breaks the pthread worker source that tfjs-backend-wasm builds from a function's text (ReferenceError in the threaded backend).
  build: { target: 'es2022', chunkSizeWarningLimit: 8192, minify: false },
});
