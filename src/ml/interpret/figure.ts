/**
 * Comparison figures: a grid of image cells (rows × columns) with a header of column titles and a
 * caption under each cell, composed on plain Float32 RGB pixels (text from the 5×7 bitmap font).
 * The layout is pure arithmetic (`gridLayout`), so tests can check sizes without drawing.
 */
import { drawText, fitText, GLYPH_HEIGHT } from './font5x7';

export interface Canvas {
  width: number;
  height: number;
  /** [height, width, 3] row-major, 0..1. */
  data: Float32Array;
}

export interface GridLayout {
  width: number;
  height: number;
  cell: number;
  pad: number;
  headerHeight: number;
  captionHeight: number;
  headerScale: number;
  /** Height of each row's image boxes (the tallest fitted image of the row). */
  rowHeights: number[];
  /** Top-left corner of the image box of (row, col). */
  cellOrigin(row: number, col: number): { x: number; y: number };
}

/**
 * Sizes of a grid with `cols` columns of width `cell` and rows whose image boxes are `rowHeights`
 * high (a row of landscape photos is lower than `cell`), each followed by a caption line.
 */
export function gridLayout(rowHeights: number[], cols: number, cell: number): GridLayout {
  const pad = Math.max(2, Math.round(cell / 40));
  const headerScale = cell >= 120 ? 2 : 1;
  const headerHeight = GLYPH_HEIGHT * headerScale + 2 * pad + 2;
  const captionHeight = GLYPH_HEIGHT + 2 * pad;
  const tops: number[] = [];
  let y = headerHeight;
  for (const h of rowHeights) {
    tops.push(y);
    y += h + captionHeight + pad;
  }
  return {
    width: pad + cols * (cell + pad),
    height: y,
    cell,
    pad,
    headerHeight,
    captionHeight,
    headerScale,
    rowHeights: [...rowHeights],
    cellOrigin: (row, col) => ({ x: pad + col * (cell + pad), y: tops[row] }),
  };
}

export const BACKGROUND: readonly [number, number, number] = [0.11, 0.12, 0.14];
const EMPTY_CELL: readonly [number, number, number] = [0.2, 0.21, 0.24];
const TEXT: readonly [number, number, number] = [0.93, 0.93, 0.9];
const DIM_TEXT: readonly [number, number, number] = [0.68, 0.7, 0.74];

export function blankCanvas(width: number, height: number, color = BACKGROUND): Canvas {
  const data = new Float32Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(color, i * 3);
  return { width, height, data };
}

/** Copies an RGB image into the box at (x, y) of size boxWidth × boxHeight, centred. */
export function pasteCentered(canvas: Canvas, img: { width: number; height: number; data: ArrayLike<number> }, x: number, y: number, boxWidth: number, boxHeight: number): void {
  const ox = x + Math.floor((boxWidth - img.width) / 2);
  const oy = y + Math.floor((boxHeight - img.height) / 2);
  for (let r = 0; r < img.height; r++) {
    const py = oy + r;
    if (py < 0 || py >= canvas.height) continue;
    for (let c = 0; c < img.width; c++) {
      const px = ox + c;
      if (px < 0 || px >= canvas.width) continue;
      const s = (r * img.width + c) * 3;
      const d = (py * canvas.width + px) * 3;
      canvas.data[d] = img.data[s];
      canvas.data[d + 1] = img.data[s + 1];
      canvas.data[d + 2] = img.data[s + 2];
    }
  }
}

function fill(canvas: Canvas, x: number, y: number, w: number, h: number, color: readonly [number, number, number]): void {
  for (let r = Math.max(0, y); r < Math.min(canvas.height, y + h); r++) {
    for (let c = Math.max(0, x); c < Math.min(canvas.width, x + w); c++) canvas.data.set(color, (r * canvas.width + c) * 3);
  }
}

/** Size of an image fitted inside a `box`×`box` square, aspect kept, never upscaled past the box. */
export function fitSize(width: number, height: number, box: number): { width: number; height: number } {
  const s = box / Math.max(width, height);
  return { width: Math.max(1, Math.round(width * s)), height: Math.max(1, Math.round(height * s)) };
}

export interface GridCell {
  /** Fitted pixels (see fitSize), or undefined for an empty cell. */
  image?: { width: number; height: number; data: ArrayLike<number> };
  caption?: string;
}

/** Draws the figure: column titles on top, then each row of cells with a caption under each. */
export function drawGrid(titles: string[], cells: GridCell[][], cell: number): Canvas {
  const rowHeights = cells.map((row) => Math.max(1, ...row.map((c) => c.image?.height ?? 1)));
  const layout = gridLayout(rowHeights, titles.length, cell);
  const canvas = blankCanvas(layout.width, layout.height);
  const { pad, headerScale } = layout;
  titles.forEach((t, col) => {
    const { x } = layout.cellOrigin(0, col);
    drawText(canvas, fitText(t, cell, headerScale), x, pad + 1, TEXT, headerScale);
  });
  cells.forEach((row, r) =>
    row.forEach((c, col) => {
      const { x, y } = layout.cellOrigin(r, col);
      const h = layout.rowHeights[r];
      if (c.image) pasteCentered(canvas, c.image, x, y, cell, h);
      else fill(canvas, x, y, cell, h, EMPTY_CELL);
      if (c.caption) drawText(canvas, fitText(c.caption, cell), x, y + h + pad, DIM_TEXT, 1);
    }),
  );
  return canvas;
}
