// moe-kernels: the public API. Every op takes named arguments and an optional { backend }.

export { route, routeAsync } from './ops/route';
export { permute, permuteAsync, permuteCapacity } from './ops/permute';
export { groupedGemm, groupedGemmAsync } from './ops/grouped_gemm';
export { unpermute, unpermuteAsync } from './ops/unpermute';
export { routerStats, routerStatsAsync } from './ops/router_stats';
export { auxLoss } from './ops/aux_loss';
export { convert, convertAsync } from './ops/convert';

export { MoELayer } from './layer';
export { preset, PRESET_NAMES } from './presets';
export { tensor, zeros, toF32, numel } from './tensor';
export { f32ToBf16, bf16ToF32, f32ToF16, f16ToF32 } from './dtype';
export { Rng } from './random';
export { availableBackends } from './backends';
export { capabilities } from './native';
export { getNumThreads, setNumThreads, setSimdPath } from './threads';
export { DeviceTensor, cudaSynchronize, cudaMemInfo } from './device';

export type { Tensor, TensorLike } from './tensor';
export type { DType, FloatDType } from './dtype';
export type { BackendChoice, BackendName, OpOptions } from './backends/backend';
export type { RouteArgs, RouteResult, RouteMethod, CapacityOptions, DropPolicy, PruneOptions } from './ops/route.types';
export type { PermuteArgs, PermuteResult, PermuteOut, PermuteCapacity } from './ops/permute.types';
export type { GroupedGemmArgs, GroupedGemmResult, Activation, GluLayout } from './ops/grouped_gemm.types';
export type { UnpermuteArgs, UnpermuteResult, ConstantExperts } from './ops/unpermute.types';
export type { RouterStatsArgs, RouterStats, AuxLossArgs, AuxLoss } from './ops/router_stats.types';
export type { ConvertArgs, ConvertResult } from './ops/convert.types';
export type { MoELayerConfig, MoELayerWeights, ForwardArgs, ForwardResult, LayerOptions, RouterConfig } from './layer';
export type { PresetName } from './presets';
