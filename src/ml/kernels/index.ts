export {
  registerWasmTrainingKernels, conv2dBackpropFilterNHWC, conv2dBackpropFilterLegacy, conv2dBackpropInputNHWC,
  setTrainingKernelImpl, getTrainingKernelImpl, type TrainingKernelImpl,
} from './wasmTraining';
export { reflectPad2d } from './reflectPad';
export { activationGrad, heapKernelsAvailable, reflectFold, sliceRows, splitChannels } from './heapKernels';
