export { parseClipConfig, ClipConfigError, type ClipConfig, type ClipTextConfig, type ClipVisionConfig, type HiddenAct } from './config';
export { ClipModel, l2Normalize, type VisionOutput, type TextOutput } from './model';
export { ClipEncoder, readPreprocessorConfig, type ClipEncoderOptions, type ClipBytes, type ClipTextTokenizer } from './encoder';
export { preprocessForClip, normalizeForClip, CLIP_MEAN, CLIP_STD, type ClipPreprocessOptions, type PreprocessMode } from './preprocess';
export { clipTensorSpecs, checkClipWeights, loadClipTensors, safetensorsSource, ClipWeightsError, type TensorSpec, type TensorSource } from './weights';
export { clipFromFiles, loadClipFromUrl, loadClipFromHub, hubBaseUrl, tokenizerFromFiles, type ClipFolderFiles, type ClipLoadOptions, type FetchLike, type FetchedFile } from './load';
// loadNode.ts is Node-only and deliberately not re-exported here.
