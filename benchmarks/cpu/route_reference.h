// The plain C++ port of lib/reference/route*.ts that route_bench.cpp validates the kernels against
// (std::sort with the reference comparator, float64 gates, V8's exp). Part of that one harness (nothing
// else includes it).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "common/route.h"
#include "cpu/route_kernels.h"

using namespace moe;

// ---------------------------------------------------------------------------------------------------------
// The port of the reference: one Case in, one Out out.

struct Case {
  RouteArgs a;  // options; pointers into the vectors below
  std::vector<float> z, bias, extW;
  std::vector<int32_t> extIds;
  std::vector<uint8_t> zeroGate, protect, dropAll;
  std::string what;
};

// The case's options with the input pointers aimed at its vectors (set per use, so copies stay valid).
static RouteArgs bound(const Case& c) {
  RouteArgs a = c.a;
  a.logits = c.z.empty() ? nullptr : c.z.data();
  a.bias = c.bias.empty() ? nullptr : c.bias.data();
  a.zeroGate = c.zeroGate.empty() ? nullptr : c.zeroGate.data();
  a.pruneProtect = c.protect.empty() ? nullptr : c.protect.data();
  a.pruneDropAll = c.dropAll.empty() ? nullptr : c.dropAll.data();
  a.externalIds = c.extIds.empty() ? nullptr : c.extIds.data();
  a.externalWeights = c.extW.empty() ? nullptr : c.extW.data();
  return a;
}

struct Out {
  std::vector<int32_t> ids, counts, sel, keep, load, demand;
  std::vector<float> w, scores;
};

static int byScore(double va, int64_t ia, double vb, int64_t ib) {
  const bool na = va != va, nb = vb != vb;
  if (na != nb) return na ? -1 : 1;
  if (!na && va != vb) return va > vb ? -1 : 1;
  return ia < ib ? -1 : ia > ib ? 1 : 0;
}
template <typename V>
static std::vector<int64_t> sortBySelection(const V& v, std::vector<int64_t> idx) {
  std::sort(idx.begin(), idx.end(), [&](int64_t x, int64_t y) { return byScore(v[x], x, v[y], y) < 0; });
  return idx;
}

static Out reference(const Case& c) {
  const RouteArgs a = bound(c);
  const int64_t T = a.tokens, E = a.experts, K = a.kmax;
  Out o;
  o.ids.assign(T * K, -1);
  std::vector<double> gates(T * K, 0.0);
  if (a.method == RouteMethod::External) {
    for (int64_t t = 0; t < T; ++t) {
      double sum = 0;
      for (int64_t j = 0; j < a.k; ++j) {
        const int32_t e = c.extIds[t * a.k + j];
        o.ids[t * K + j] = e;
        gates[t * K + j] = e < 0 ? 0 : c.extW.empty() ? 1 : c.extW[t * a.k + j];
        sum += gates[t * K + j];
      }
      if (a.renormalize) for (int64_t j = 0; j < a.k; ++j) gates[t * K + j] = gates[t * K + j] / (sum + 1e-20);
    }
  } else {
    o.scores.resize(T * E);
    for (int64_t t = 0; t < T; ++t) {
      const float* z = &c.z[t * E];
      float* p = &o.scores[t * E];
      if (a.method == RouteMethod::SigmoidTopk) {
        for (int64_t i = 0; i < E; ++i) p[i] = static_cast<float>(1 / (1 + cpu::rt::expV8(-double(z[i]))));
      } else {
        double m = -INFINITY, sum = 0;
        for (int64_t i = 0; i < E; ++i) m = (m != m || z[i] != z[i]) ? NAN : std::max<double>(m, z[i]);
        std::vector<double> e(E);
        for (int64_t i = 0; i < E; ++i) sum += (e[i] = cpu::rt::expV8(z[i] - m));
        for (int64_t i = 0; i < E; ++i) p[i] = static_cast<float>(e[i] / sum);
      }
      std::vector<int64_t> picks, all(E);
      for (int64_t i = 0; i < E; ++i) all[i] = i;
      if (a.method == RouteMethod::XmoeThreshold || a.method == RouteMethod::TopP) {
        const auto order = sortBySelection(p, all);
        picks.push_back(order[0]);
        double s = p[order[0]];
        for (int64_t j = 1; j < K; ++j) {
          if (!(a.method == RouteMethod::TopP ? s <= a.threshold : s < a.threshold)) break;
          picks.push_back(order[j]);
          s += p[order[j]];
        }
      } else {
        const float* base = a.method == RouteMethod::TopkSoftmax ? z : p;
        std::vector<float> cs(E);
        for (int64_t i = 0; i < E; ++i) cs[i] = static_cast<float>(double(base[i]) + (a.bias ? double(a.bias[i]) : 0.0));
        std::vector<int64_t> allowed = all;
        if (a.groups > 1) {
          const int64_t size = E / a.groups;
          std::vector<float> gs(a.groups);
          std::vector<int64_t> gidx(a.groups);
          for (int64_t g = 0; g < a.groups; ++g) {
            std::vector<int64_t> mem(size);
            for (int64_t i = 0; i < size; ++i) mem[i] = g * size + i;
            const auto top = sortBySelection(cs, mem);
            double sum = 0;
            for (int64_t j = 0; j < a.groupTopN; ++j) sum += cs[top[j]];
            gs[g] = static_cast<float>(sum);
            gidx[g] = g;
          }
          auto kept = sortBySelection(gs, gidx);
          kept.resize(a.topkGroups);
          std::sort(kept.begin(), kept.end());
          allowed.clear();
          for (int64_t g : kept) for (int64_t i = 0; i < size; ++i) allowed.push_back(g * size + i);
        }
        picks = sortBySelection(cs, allowed);
        picks.resize(a.k);
      }
      std::vector<double> raw;
      double m = -INFINITY;
      for (int64_t e : picks) m = (m != m || z[e] != z[e]) ? NAN : std::max<double>(m, z[e]);
      for (int64_t e : picks) raw.push_back(a.method == RouteMethod::TopkSoftmax ? cpu::rt::expV8(z[e] - m) : p[e]);
      if (a.prune) {
        if (a.pruneDropAll && a.pruneDropAll[t]) {
          picks.clear();
          raw.clear();
        } else if (!(a.pruneProtect && a.pruneProtect[t]) && !picks.empty()) {
          size_t n = 1;
          for (size_t j = 1; j < picks.size(); ++j) {
            if (raw[j] < a.pruneBeta * raw[0]) continue;
            picks[n] = picks[j];
            raw[n++] = raw[j];
          }
          picks.resize(n);
          raw.resize(n);
        }
      }
      for (size_t j = 0; j < picks.size(); ++j) if (a.zeroGate && a.zeroGate[picks[j]]) raw[j] = 0;
      if (a.renormalize) {
        double sum = 0;
        for (double w : raw) sum += w;
        for (double& w : raw) w = w / (sum + 1e-20);
      }
      for (size_t j = 0; j < picks.size(); ++j) {
        o.ids[t * K + j] = static_cast<int32_t>(picks[j]);
        gates[t * K + j] = raw[j];
      }
    }
  }
  if (a.capacity) {
    o.sel = o.ids;
    o.keep.assign(T * K, 0);
    o.load.assign(E, 0);
    o.demand.assign(E, 0);
    for (int32_t e : o.sel) if (e >= 0) o.demand[e]++;
    if (a.dropPolicy == RouteDropPolicy::Probs) {
      std::vector<std::vector<int64_t>> byExpert(E);
      for (int64_t s = 0; s < T * K; ++s) if (o.sel[s] >= 0) byExpert[o.sel[s]].push_back(s);
      for (auto& slots : byExpert) {
        std::sort(slots.begin(), slots.end(), [&](int64_t x, int64_t y) {
          return byScore(float(gates[x]), x, float(gates[y]), y) < 0;
        });
        for (int64_t i = 0; i < int64_t(slots.size()) && i < a.cap; ++i) {
          o.keep[slots[i]] = 1;
          o.load[o.sel[slots[i]]]++;
        }
      }
    } else {
      for (int64_t r = 0; r < K; ++r) for (int64_t t = 0; t < T; ++t) {
        const int32_t e = o.sel[t * K + r];
        if (e >= 0 && o.load[e] < a.cap) { o.keep[t * K + r] = 1; o.load[e]++; }
      }
    }
    for (int64_t s = 0; s < T * K; ++s) if (!o.keep[s]) { o.ids[s] = -1; gates[s] = 0; }
    if (a.renormalizeSurvivors) for (int64_t t = 0; t < T; ++t) {
      double sum = 0;
      for (int64_t r = 0; r < K; ++r) sum += gates[t * K + r];
      for (int64_t r = 0; r < K; ++r) gates[t * K + r] = gates[t * K + r] / (sum + 1e-20);
    }
  }
  o.w.assign(T * K, 0.0f);
  o.counts.assign(T, 0);
  for (int64_t s = 0; s < T * K; ++s) {
    if (o.ids[s] < 0) continue;
    o.w[s] = static_cast<float>(gates[s] * a.scale);
    o.counts[s / K]++;
  }
  return o;
}
