export { EnhancerNet, parameterSpecs, retinexOut, PPM_BINS, type EnhanceResult, type ForwardOptions, type PadMode, type Weights } from './network';
export { enhanceTiled, enhanceFast, RECEPTIVE_RADIUS, type TiledOptions, type FastOptions } from './inference';
export { trainStep, type EnhancerLoss, type TrainStepOptions } from './train';
