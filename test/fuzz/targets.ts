// Every fuzz target by name: one per public op, plus the composites.

import type { OpFuzz } from './core';
import { auxLossFuzz } from './ops/aux_loss';
import { convertFuzz } from './ops/convert';
import { groupedGemmFuzz } from './ops/grouped_gemm';
import { layerFuzz } from './ops/layer';
import { permuteFuzz } from './ops/permute';
import { routeFuzz } from './ops/route';
import { routerStatsFuzz } from './ops/router_stats';
import { unpermuteFuzz } from './ops/unpermute';

/** A target with its spec and result types erased (each target's functions only ever see their own). */
export type AnyFuzz = OpFuzz<unknown, unknown>;
const erase = <S, R>(f: OpFuzz<S, R>): AnyFuzz => f as unknown as AnyFuzz;

export const TARGETS: Record<string, AnyFuzz> = {
  route: erase(routeFuzz),
  permute: erase(permuteFuzz),
  grouped_gemm: erase(groupedGemmFuzz),
  unpermute: erase(unpermuteFuzz),
  router_stats: erase(routerStatsFuzz),
  aux_loss: erase(auxLossFuzz),
  convert: erase(convertFuzz),
  MoELayer: erase(layerFuzz),
};
