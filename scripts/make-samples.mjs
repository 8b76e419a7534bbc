// Rebuilds public/samples/ from the redistributable photos in ../shared/data/images (see public/samples/LICENSES.md).
// Downscaled (longest side 384) so the repo and the editor stay light. Run: node scripts/make-samples.mjs
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';

const SRC = path.resolve('../shared/data/images');
const DST = path.resolve('public/samples');
const SETS = {
  'well-lit': [
    'well-lit/skimage_astronaut.png',
    'well-lit/skimage_chelsea.png',
    'well-lit/skimage_coffee.png',
    'well-lit/skimage_rocket.jpg',
    'well-lit/opencv_fruits.jpg',
    'well-lit/opencv_building.jpg',
    'well-lit/opencv_aero1.jpg',
    'pairs/imagemagick_bluebells_lin.jpg',
  ],
  pairs: ['pairs/imagemagick_bluebells_darker.jpg', 'pairs/imagemagick_bluebells_lin.jpg'],
  // More well-lit photos with clear licences, for training the bundled enhancer (graphs/train-bundled.json).
  'more-well-lit': [
    'well-lit/opencv_aloeL.jpg',
    'well-lit/opencv_alphamat_plant.jpg',
    'well-lit/opencv_apple.jpg',
    'well-lit/opencv_butterfly.jpg',
    'well-lit/opencv_home.jpg',
    'well-lit/opencv_orange.jpg',
    'well-lit/opencv_smarties.png',
    'well-lit/opencv_squirrel_cls.jpg',
    'well-lit/opencv_stuff.jpg',
    'well-lit/opencv_chicky_512.png',
  ],
};

const manifest = {};
for (const [set, files] of Object.entries(SETS)) {
  await fs.mkdir(path.join(DST, set), { recursive: true });
  manifest[set] = [];
  for (const f of files) {
    const name = path.basename(f).replace(/\.(png|jpg)$/, '.jpg');
    await sharp(path.join(SRC, f)).rotate().resize(384, 384, { fit: 'inside', withoutEnlargement: true }).flatten().jpeg({ quality: 90 }).toFile(path.join(DST, set, name));
    manifest[set].push(`${set}/${name}`);
  }
}
await fs.writeFile(path.join(DST, 'index.json'), `${JSON.stringify(manifest, null, 2)}\n`);
console.log(manifest);
