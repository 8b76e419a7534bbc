/**
 * onnxruntime-node is an optionalDependency (≈290 MB, binaries inside the package): the CLI's Enhance engine
 * (src/ml/onnx), the cross-check test's live part and bench/encode.ts use it; each copes with it missing.
 * Only the few members they call are typed here.
 */
export interface OrtTensor {
  dims: readonly number[];
  data: unknown;
}
export interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
export interface OrtModule {
  InferenceSession: { create(path: string, options?: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  env: { versions: { common: string } };
}

/** The module, or a sentence saying why it is unavailable. */
export async function loadOnnxRuntime(): Promise<OrtModule | string> {
  const name = 'onnxruntime-node'; // a variable, so bundlers and tsc do not require it to exist
  try {
    return (await import(/* @vite-ignore */ name)) as OrtModule;
  } catch {
    return 'onnxruntime-node is not installed (optional: npm install --no-save onnxruntime-node)';
  }
}
