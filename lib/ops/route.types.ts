// Types of the `route` op (SPEC §1–§4, §7, §8). Validation and the public entry live in route.ts.

import type { Tensor, TensorLike } from '../tensor';

/**
 * How scores become a selection.
 * - `softmax_topk`   p = softmax(z); top-k of p (+ selection-only bias); weights p[idx], optionally renormalised
 *                    (Mixtral, Qwen3-MoE, Switch, GShard, MoE++). SPEC §1.1.
 * - `topk_softmax`   top-k of z; weights softmax(z[idx]) (SMoE-Dropout, MoE++ "mixtral gating"). SPEC §1.3.
 * - `sigmoid_topk`   s = sigmoid(z); selection on s + bias, optionally group-limited; weights s[idx],
 *                    optionally renormalised, times `scale` (DeepSeek-V3). SPEC §2.
 * - `xmoe_threshold` p = softmax(z); sorted prefix; keep j iff j == 0 or S_{j-1} < threshold. Raw p. SPEC §4.1.
 * - `top_p`          p = softmax(z); keep j iff S_{j-1} <= threshold (Dynamic-MoE). Raw p. SPEC §4.2.
 * - `external`       the caller supplies ids (and weights): hash, frozen (StableMoE) and task-level routers. SPEC §7.
 */
export type RouteMethod = 'softmax_topk' | 'topk_softmax' | 'sigmoid_topk' | 'xmoe_threshold' | 'top_p' | 'external';

export type DropPolicy = 'position' | 'probs' | 'rank_then_position';

export interface CapacityOptions {
  /** Capacity factor C > 0: cap = ceil(kCapacity * T * C / E) (computed in float64). */
  factor: number;
  /** Which assignments survive when an expert is over capacity. Default 'position'. SPEC §3. */
  policy?: DropPolicy;
  /** Lower bound on cap (DeepSpeed / XMoE use 8). Default 0. */
  minCapacity?: number;
  /** The k in the capacity formula (DeepSpeed top-1 and XMoE use 1). Default: the routing k (kmax). */
  kCapacity?: number;
  /** Renormalise the surviving weights of each token (GShard top-2 only). Default false. */
  renormalizeSurvivors?: boolean;
}

export interface PruneOptions {
  /** MC-MoE ODP: slot j >= 1 is dropped iff w_j < beta * w_0 (raw weights). beta in [0, 1]. SPEC §8. */
  beta: number;
  /** [tokens] 1 = exempt from pruning (the top tau_h tokens). */
  protect?: Uint8Array;
  /** [tokens] 1 = the token loses every expert (the bottom tau_l tokens; output 0). */
  dropAll?: Uint8Array;
}

export interface RouteArgs {
  /** Router logits z [tokens, experts] (f32; bf16 / f16 are widened to f32). Not needed for 'external'. */
  logits?: TensorLike;
  /** Default 'softmax_topk'. */
  method?: RouteMethod;
  /** Experts per token for the top-k methods, 1 <= k <= experts. */
  k?: number;
  /** Renormalise the selected weights to sum 1 (+1e-20 in the denominator). Default: true for
   *  'sigmoid_topk', false for 'softmax_topk' (Switch style). Ignored by 'topk_softmax' (always 1). */
  renormalize?: boolean;
  /** Selection-only bias [experts] added to the scores before selection; never to the weights. */
  bias?: TensorLike | Float32Array;
  /** Group-limited routing ('sigmoid_topk' and 'softmax_topk'): number of groups G (divides experts). */
  groups?: number;
  /** Groups kept per token, 1 <= topkGroups <= groups. */
  topkGroups?: number;
  /** A group's score is the sum of its top `groupTopN` selection scores. Default: 2 with a bias
   *  (DeepSeek-V3), 1 (= the group max, the V2 rule) without. */
  groupTopN?: number;
  /** Routed scaling factor r multiplied into the final weights (DeepSeek-V3: 2.5). Default 1. */
  scale?: number;
  /** Threshold t in (0, 1] for 'xmoe_threshold' and 'top_p'. */
  threshold?: number;
  /** Width of the padded output for variable k; default experts for threshold methods, k otherwise. */
  kmax?: number;
  /** MoE++: experts whose gate is set to 0 before renormalisation (the zero expert). SPEC §5.3. */
  zeroGateExperts?: readonly number[];
  /** Capacity and dropping. SPEC §3. */
  capacity?: CapacityOptions;
  /** Low-weight slot pruning (MC-MoE). SPEC §8. */
  prune?: PruneOptions;
  /** 'external': ids [tokens, k] (int32, -1 = empty slot). */
  ids?: TensorLike | Int32Array;
  /** 'external': weights [tokens, k] (f32). Default 1 for every valid slot. */
  weights?: TensorLike | Float32Array;
  /** 'external': number of experts (ids must be < experts). */
  experts?: number;
}

export interface RouteResult {
  /** [tokens, kmax] int32: the j-th pick of each token, by score descending (ties: lower id); -1 = empty
   *  (variable k, pruned or dropped by capacity). */
  ids: Tensor<'i32'>;
  /** [tokens, kmax] f32: the routing weight of each slot; 0 where ids is -1. */
  weights: Tensor<'f32'>;
  /** [tokens] int32: number of slots with an expert (ids != -1). */
  counts: Tensor<'i32'>;
  /** [tokens, experts] f32: softmax p or sigmoid s over all experts (what the losses use). Absent for 'external'. */
  scores?: Tensor<'f32'>;
  /** Present when capacity was applied. */
  capacity?: {
    /** The per-expert capacity used. */
    cap: number;
    /** [tokens, kmax] int32: the ids before dropping (-1 where empty). */
    selectedIds: Tensor<'i32'>;
    /** [tokens, kmax] uint8-like int32: 1 where the slot survived. */
    keep: Tensor<'i32'>;
    /** [experts] int32: kept assignments per expert. */
    load: Tensor<'i32'>;
    /** [experts] int32: assignments per expert before dropping. */
    demand: Tensor<'i32'>;
  };
}

/** `route` arguments after validation (lib/ops/route.ts): every tensor checked, every default resolved, so a
 *  backend needs no checks. Absent options are `null`. */
export interface RouteValidated {
  readonly method: RouteMethod;
  /** T and E (for 'external', E = `experts`). */
  readonly tokens: number;
  readonly experts: number;
  /** [tokens, experts] f32 logits (bf16 / f16 decoded); null for 'external'. */
  readonly logits: Tensor<'f32'> | null;
  /** Picks per token: k for the top-k methods, the ids width for 'external', 0 for the threshold methods. */
  readonly k: number;
  /** Width of the padded output, >= k; for the threshold methods the cap on the count. */
  readonly kmax: number;
  /** Resolved: always true for 'topk_softmax'. */
  readonly renormalize: boolean;
  /** [experts] finite selection-only bias, or null. */
  readonly bias: Float32Array | null;
  /** Group-limited selection; groups = 1 means none (then topkGroups = 1 and groupTopN = 1). */
  readonly groups: number;
  readonly topkGroups: number;
  readonly groupTopN: number;
  /** Multiplies the final weights. */
  readonly scale: number;
  /** Threshold t for 'xmoe_threshold' / 'top_p'; 0 for other methods. */
  readonly threshold: number;
  /** [experts] 1 = the expert's gate is set to 0 before renormalisation (MoE++ zero expert), or null. */
  readonly zeroGate: Uint8Array | null;
  readonly capacity: {
    readonly factor: number;
    readonly policy: DropPolicy;
    readonly minCapacity: number;
    readonly kCapacity: number;
    readonly renormalizeSurvivors: boolean;
    /** max(minCapacity, ceil(kCapacity * T * factor / E)) in float64, saturated at 2^31 - 1. */
    readonly cap: number;
  } | null;
  readonly prune: {
    readonly beta: number;
    /** [tokens] 0/1 masks, or null. */
    readonly protect: Uint8Array | null;
    readonly dropAll: Uint8Array | null;
  } | null;
  /** 'external': ids [tokens, k] in [-1, experts), distinct within a row except -1. */
  readonly ids: Tensor<'i32'> | null;
  /** 'external': [tokens * k] f32 weights (null = 1 for every valid slot). */
  readonly weights: Float32Array | null;
}
