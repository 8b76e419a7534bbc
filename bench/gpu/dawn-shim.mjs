// Stand-in for the npm `webgpu` package inside the packed bundle (esbuild --alias:webgpu=…):
// loads Dawn's dawn.node from BACKLIT_DAWN_NODE (set by bench/gpu/run.sh after unpacking) or from
// next to the bundle, instead of node_modules/webgpu/dist/<platform>/dawn.node.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const path = process.env.BACKLIT_DAWN_NODE || join(dirname(fileURLToPath(import.meta.url)), 'dawn.node');
const { create, globals } = require(path);
export { create, globals };
