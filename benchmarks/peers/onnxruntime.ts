// Peer: onnxruntime-node's com.microsoft MoE contrib operator on the CPU execution provider, as a whole
// layer: Gemm (router logits = x · W_rᵀ) then MoE. The model is built in memory (./onnx_proto) and the
// weights are graph inputs, fed as tensors over our own arrays each run (no initializers: Mixtral's 5.6 GB
// would not fit in a protobuf).
//
// The MoE op (onnxruntime contrib_ops/cpu/moe, 1.2x-1.30): inputs input [T, H], router_probs [T, E] (logits:
// the op applies the softmax itself), fc1_experts_weights [E, 2I, H], fc1_experts_bias (optional),
// fc2_experts_weights [E, H, I]; attributes k, activation_type, normalize_routing_weights (1 = renormalised
// top-k, as Mixtral and Qwen3), swiglu_fusion (the CPU kernel accepts only 1 = interleaved gate / up rows),
// activation_alpha / activation_beta (SwiGLU as gate · sigmoid(alpha · gate) · (up + beta): 1 and 0 give
// the usual SiLU form), swiglu_limit (default +inf: no clamp). Its top-k breaks ties towards the higher
// index (std::partial_sort on (p, index) pairs); ours towards the lower, so exact ties may differ.
// Install it with ONNXRUNTIME_NODE_INSTALL=skip (its postinstall fetches CUDA libraries and fails offline).

import type * as OrtTypes from 'onnxruntime-node';
import { ELEM, modelBytes } from './onnx_proto';

type Ort = typeof OrtTypes;

/** onnxruntime-node when it can be loaded (a dev dependency: absent from an installed package). */
export function loadOrt(): { ort: Ort | null; version: string | null; why: string | null } {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ort = require('onnxruntime-node') as Ort;
    let version: string | null = null;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      version = (require('onnxruntime-node/package.json') as { version: string }).version;
    } catch {
      version = null;
    }
    return { ort, version, why: null };
  } catch (e) {
    return { ort: null, version: null, why: `onnxruntime-node cannot be loaded: ${(e as Error).message.split('\n')[0]}` };
  }
}

export interface OrtMoEConfig {
  H: number;
  I: number;
  E: number;
  k: number;
  normalize: boolean;
  threads: number;
}

/** W1 [E, 2I, H] from our 'halves' layout (gate rows 0..I-1, up rows I..2I-1) to onnxruntime's interleaved
 *  one (row 2j gate j, row 2j+1 up j). */
export function interleaveW1(w1: Float32Array, E: number, I: number, H: number): Float32Array {
  const out = new Float32Array(w1.length);
  for (let e = 0; e < E; e++) {
    const base = e * 2 * I * H;
    for (let j = 0; j < I; j++) {
      out.set(w1.subarray(base + j * H, base + (j + 1) * H), base + 2 * j * H);
      out.set(w1.subarray(base + (I + j) * H, base + (I + j + 1) * H), base + (2 * j + 1) * H);
    }
  }
  return out;
}

export function moeModel(c: OrtMoEConfig): Uint8Array {
  const f = ELEM.float;
  return modelBytes({
    graphName: 'moe_layer',
    opsets: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
    inputs: [
      { name: 'x', elemType: f, dims: ['tokens', c.H] },
      { name: 'router_w', elemType: f, dims: [c.E, c.H] },
      { name: 'fc1', elemType: f, dims: [c.E, 2 * c.I, c.H] },
      { name: 'fc2', elemType: f, dims: [c.E, c.H, c.I] },
    ],
    outputs: [{ name: 'y', elemType: f, dims: ['tokens', c.H] }],
    nodes: [
      { opType: 'Gemm', name: 'router', inputs: ['x', 'router_w'], outputs: ['logits'], attrs: [{ name: 'transB', i: 1 }] },
      {
        opType: 'MoE', domain: 'com.microsoft', name: 'moe', inputs: ['x', 'logits', 'fc1', '', 'fc2'], outputs: ['y'],
        attrs: [
          { name: 'k', i: c.k },
          { name: 'activation_type', s: 'swiglu' },
          { name: 'swiglu_fusion', i: 1 },
          { name: 'normalize_routing_weights', i: c.normalize ? 1 : 0 },
          { name: 'activation_alpha', f: 1 },
          { name: 'activation_beta', f: 0 },
        ],
      },
    ],
  });
}

export class OrtMoE {
  private constructor(
    private readonly ort: Ort,
    private readonly session: OrtTypes.InferenceSession,
    private readonly weights: Record<string, OrtTypes.Tensor>,
    private readonly H: number,
  ) {}

  /** A session on `threads` intra-op threads (no spinning, so idle pool threads do not steal our cores). */
  static async create(ort: Ort, c: OrtMoEConfig, w: { router: Float32Array; w1Interleaved: Float32Array; w2: Float32Array }): Promise<OrtMoE> {
    const session = await ort.InferenceSession.create(moeModel(c), {
      intraOpNumThreads: c.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      executionProviders: ['cpu'],
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    });
    const weights = {
      router_w: new ort.Tensor('float32', w.router, [c.E, c.H]),
      fc1: new ort.Tensor('float32', w.w1Interleaved, [c.E, 2 * c.I, c.H]),
      fc2: new ort.Tensor('float32', w.w2, [c.E, c.H, c.I]),
    };
    return new OrtMoE(ort, session, weights, c.H);
  }

  async run(x: Float32Array): Promise<Float32Array> {
    const T = x.length / this.H;
    const out = await this.session.run({ ...this.weights, x: new this.ort.Tensor('float32', x, [T, this.H]) });
    return out.y!.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
