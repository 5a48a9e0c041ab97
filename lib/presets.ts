// Layer presets named after real models and papers. Each returns a full MoELayerConfig; any field can be
// overridden (e.g. smaller sizes for a test). Sizes are the published ones where the model has a
// checkpoint (Mixtral-8x7B, Qwen3-30B-A3B, DeepSeek-V3, Switch-Base-8); for the papers without one that
// we checked (XMoE, Dynamic-MoE, MoE++) they are illustrative and the routing is what matters.

import type { MoELayerConfig } from './layer';
import { Check } from './errors';

export type PresetName = 'mixtral' | 'qwen3-moe' | 'deepseek-v3' | 'switch' | 'xmoe' | 'dynamic-moe' | 'moe++';
export const PRESET_NAMES: readonly PresetName[] = ['mixtral', 'qwen3-moe', 'deepseek-v3', 'switch', 'xmoe', 'dynamic-moe', 'moe++'];

const PRESETS: Record<PresetName, MoELayerConfig> = {
  // Mixtral-8x7B: softmax top-2, always renormalised (SPEC §1.1), SwiGLU experts.
  mixtral: {
    hidden: 4096, intermediate: 14336, experts: 8, topK: 2,
    router: { method: 'softmax_topk', renormalize: true }, activation: 'swiglu',
  },
  // Qwen3-30B-A3B: 128 experts, top-8, norm_topk_prob = true.
  'qwen3-moe': {
    hidden: 2048, intermediate: 768, experts: 128, topK: 8,
    router: { method: 'softmax_topk', renormalize: true }, activation: 'swiglu',
  },
  // DeepSeek-V3 (one MoE layer): sigmoid scores, selection-only bias, 8 groups keep 4, top-8,
  // renormalised, x2.5, one shared expert of width 1 x 2048 (SPEC §2).
  'deepseek-v3': {
    hidden: 7168, intermediate: 2048, experts: 256, topK: 8,
    router: { method: 'sigmoid_topk', renormalize: true, groups: 8, topkGroups: 4, scale: 2.5 },
    selectionBias: true, sharedExpert: { intermediate: 2048 }, activation: 'swiglu',
  },
  // Switch-Base-8: top-1, raw p_max weight, capacity factor 1.25 with position dropping (SPEC §1.2, §3),
  // ReLU experts (T5 FFN).
  switch: {
    hidden: 768, intermediate: 3072, experts: 8, topK: 1,
    router: { method: 'softmax_topk', renormalize: false, capacity: { factor: 1.25, policy: 'position' } },
    activation: 'relu',
  },
  // XMoE: many small experts, threshold 0.9 on the sorted prefix, raw p, capacity ceil(T/E·C) with
  // rank-then-position dropping and min capacity 8 (SPEC §4.1).
  xmoe: {
    hidden: 1024, intermediate: 512, experts: 32, topK: 32,
    router: { method: 'xmoe_threshold', threshold: 0.9, capacity: { factor: 1.0, policy: 'rank_then_position', kCapacity: 1, minCapacity: 8 } },
    activation: 'gelu',
  },
  // Dynamic-MoE: top-p routing with p = 0.4, raw p, no capacity (SPEC §4.2).
  'dynamic-moe': {
    hidden: 1024, intermediate: 2816, experts: 16, topK: 16,
    router: { method: 'top_p', threshold: 0.4 }, activation: 'swiglu',
  },
  // MoE++: 16 FFN experts + 2 constant, 1 copy, 1 zero; two-layer router with gating residual; top-2 with the
  // zero expert's gate removed before renormalising; experts see u = 2x (SPEC §5).
  'moe++': {
    hidden: 1024, intermediate: 2816, experts: 16, topK: 2,
    constantExperts: 2, copyExperts: 1, zeroExperts: 1, zeroGateRenormalize: true, inputScale: 2,
    routerLayers: 2, gatingResidual: true,
    router: { method: 'softmax_topk', renormalize: true }, activation: 'swiglu', gluLayout: 'halves',
  },
};

/** The config of a named preset, with `overrides` applied on top (router options merge shallowly). */
export function preset(name: PresetName, overrides: Partial<MoELayerConfig> = {}): MoELayerConfig {
  const c = new Check('preset');
  c.oneOf('name', name, PRESET_NAMES);
  c.object('overrides', overrides);
  // Spreading a non-object would merge its characters or nothing; MoELayer checks every router field.
  if (overrides.router !== undefined) c.object('overrides.router', overrides.router);
  const base = PRESETS[name];
  const router = overrides.router === undefined ? base.router : { ...base.router, ...overrides.router };
  return structuredClone({ ...base, ...overrides, ...(router ? { router } : {}) });
}
