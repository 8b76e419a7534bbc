export { REFINE_WEIGHT, refinementLoss, initStageLoss, refineStageLoss, type PromptScores, type PromptBatch } from './losses';
export {
  hasTextTower,
  latentPrompts,
  randomLatentInit,
  scaledLatentInit,
  textPrompts,
  placeholderTokenIds,
  PLACEHOLDER_TOKENS,
  CLIP_BPE_IDS,
  type PromptParameters,
  type PromptSnapshot,
  type TextTowerEncoder,
  type PlaceholderIds,
} from './models';
export {
  trainPrompts,
  promptPairStats,
  seededRandom,
  PromptTrainingDiverged,
  type PromptData,
  type PromptTrainingConfig,
  type PromptTrainingResult,
  type PromptStepMetrics,
  type PromptCallbacks,
  type PromptStage,
  type PromptPairStats,
} from './train';
export { plateauStep } from './plateau';
export { encodeSet, type LearnedPromptPair } from './value';
