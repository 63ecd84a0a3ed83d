// mtrl-judge: multimodal LLM-as-a-judge trained with multi-task reinforcement learning.
// Public API. Importing this module does not load the native addon; the first tensor op does.
export { Tensor, memoryStats } from './tensor.js';
export type { TensorOptions, TypedData, MemoryStats } from './tensor.js';
export { devices, cudaAvailable, defaultDevice, parseDevice, buildInfo } from './device.js';
export type { DType, Device, DeviceInfo, CudaAvailability } from './device.js';
export { add, sub, mul, scale, matmulReference, synchronize } from './ops.js';
export type { MatmulOptions } from './ops.js';
export { native, nativePath, packageRoot } from './native.js';
