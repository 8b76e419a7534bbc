import type { NodeSpec, TensorInit } from './proto';

/**
 * Builds an ONNX graph node by node for the exporters (export.ts: the enhancer; clipExport.ts: the
 * CLIP vision tower): fresh value names, and each initializer (weight or constant) added once however
 * often a layer refers to it.
 */
export class GraphBuilder {
  readonly nodes: NodeSpec[] = [];
  readonly initializers: TensorInit[] = [];
  private readonly added = new Set<string>();
  private n = 0;

  /** One node with one output; returns the output's (fresh) name. */
  node(op: string, inputs: string[], attrs?: NodeSpec['attrs'], stem = op.toLowerCase()): string {
    const out = `${stem}_${this.n++}`;
    this.nodes.push({ op, inputs, outputs: [out], name: out, attrs });
    return out;
  }

  /** A node whose output is the graph output `name`. */
  output(name: string, from: string): void {
    this.nodes.push({ op: 'Identity', inputs: [from], outputs: [name], name: `out_${name}` });
  }

  /** The initializer `name`, made by `make` the first time it is asked for. */
  init(name: string, make: () => Omit<TensorInit, 'name'>): string {
    if (!this.added.has(name)) {
      this.initializers.push({ name, ...make() });
      this.added.add(name);
    }
    return name;
  }

  /** A float scalar constant. */
  float(name: string, v: number): string {
    return this.init(name, () => ({ dims: [], data: Float32Array.of(v) }));
  }

  /** An int64 constant (shapes, pads, indices). */
  ints(name: string, v: number[], dims: number[] = [v.length]): string {
    return this.init(name, () => ({ dims, int64: v }));
  }
}
