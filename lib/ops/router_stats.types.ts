// Types of `router_stats` and `aux_loss` (SPEC §6): statistics split from the loss so counts can be summed
// across data-parallel ranks and micro-batches (global-batch balancing) between the two calls.

import type { Tensor, TensorLike } from '../tensor';

export interface RouterStatsArgs {
  /** Routing ids [tokens, kmax] BEFORE capacity dropping; -1 = empty. */
  ids: TensorLike | Int32Array;
  /** Scores [tokens, experts] (route's `scores`: softmax p, or sigmoid s). */
  scores: TensorLike | Float32Array;
  /** Optional logits [tokens, experts] for the z-loss. */
  logits?: TensorLike | Float32Array;
  /** Renormalise each token's scores to sum 1 before summing (Megatron does this for sigmoid). Default false. */
  normalizeScores?: boolean;
  /** [tokens] 1 = real token, 0 = padding (excluded everywhere). Default all 1. */
  tokenMask?: Uint8Array;
}

export interface RouterStats {
  /** [experts] selections per expert (every valid slot counts). */
  counts: Tensor<'i32'>;
  /** [experts] selections per expert counting only each token's first slot (XMoE's f). */
  top1Counts: Tensor<'i32'>;
  /** [experts] Σ_t scores[t, e] over unmasked tokens (f32 from an f64 sum). */
  probSum: Tensor<'f32'>;
  /** Number of unmasked tokens. */
  tokens: number;
  /** Number of valid (token, slot) selections. */
  selections: number;
  /** Σ_t logsumexp(z_t)^2 over unmasked tokens (when logits were given). */
  zSquareSum?: number;
  /** Σ_t -Σ_e p log p over unmasked tokens (Dynamic-MoE's entropy loss numerator). */
  entropySum: number;
}

export interface AuxLossArgs {
  /** [experts] selection counts, possibly summed over ranks / micro-batches (global). */
  counts: ArrayLike<number>;
  /** Tokens behind `counts` (global). */
  tokens: number;
  /** [experts] Σ of scores over the local tokens. */
  probSum: ArrayLike<number>;
  /** Tokens behind `probSum` (local). */
  localTokens: number;
  /** Experts per token k (for Megatron's f = c / (k T)). */
  k: number;
  /** 'megatron': f = c / (kT) (default); 'hf': f = c / T (k times larger); 'selections': f = c / selections
   *  (variable k: threshold / top-p routing, SPEC §4.2). */
  fNormalization?: 'megatron' | 'hf' | 'selections';
  /** Total valid selections behind `counts` (global), for 'selections'. */
  selections?: number;
  /** For the z-loss: Σ logsumexp² and its token count. */
  zSquareSum?: number;
  zTokens?: number;
}

export interface AuxLoss {
  /** E · Σ_i f_i P_i (no coefficient applied). */
  loadBalance: number;
  /** (1/T) Σ_t logsumexp(z_t)² (no coefficient applied); NaN when no z statistics were given. */
  zLoss: number;
}

/** Arguments after validation (lib/ops/router_stats.ts): flat arrays and sizes, defaults resolved. */
export interface RouterStatsValidated {
  /** [tokens, kmax] int32, every id in [-1, experts). */
  ids: Int32Array;
  /** [tokens, experts] f32 (half-precision inputs are decoded to f32). */
  scores: Float32Array;
  /** [tokens, experts] f32, or undefined. */
  logits?: Float32Array;
  tokens: number;
  kmax: number;
  experts: number;
  normalizeScores: boolean;
  /** [tokens] of 0 / 1, or undefined (every token real). */
  tokenMask?: Uint8Array;
}
