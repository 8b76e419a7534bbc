export { registerWasmTrainingKernels, conv2dBackpropFilterNHWC, conv2dBackpropInputNHWC } from './wasmTraining';
export { reflectPad2d } from './reflectPad';
