#!/usr/bin/env bash
# Fills .gpu/ (git-ignored) with everything the GPU check needs on a GPU machine that has no node_modules
# and perhaps no Node.js (GPU.md), so a later session runs it with one device call carrying ".gpu":
#   moe_kernels.node   the addon, built here for sm_90 (+ PTX), static cudart, stripped
#   dist/              the compiled JS of lib/ and scripts/ (tsc), nothing from node_modules
#   gpu-check.sh, gpu_peers.py, COMMIT
#   node.xz            this machine's node binary, xz-compressed (used when the GPU machine lacks node >= 20)
#   include/           node-api and node-addon-api headers, for a CMake rebuild there if the .node cannot load
# Total must stay under 60 MB (the device tool carries at most 64 MiB).
#   bash scripts/gpu-prepare.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=.gpu
rm -rf "$out"
mkdir -p "$out/include/node" "$out/include/node-addon-api"

echo "== native addon (sm_90 + PTX, CUDA required) in build/gpu"
# Its own build directory, configured by plain CMake (as the GPU machine's fallback does), so neither a
# CPU-only nor a release-arch configuration left in build/ by cmake-js can leak in.
build=build/gpu
inc="$PWD/node_modules/node-api-headers/include;$PWD/node_modules/node-addon-api"
if ! { cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOE_REQUIRE_CUDA=ON \
         -DMOE_CUDA_ARCHS="90-real;90-virtual" -DCMAKE_JS_INC="$inc" -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$PWD/$build/out" &&
       cmake --build "$build" -j "$(nproc)"; } >"$out/build.log" 2>&1; then
  tail -n 40 "$out/build.log"
  echo "gpu-prepare: the native build failed (log: $out/build.log)" >&2
  exit 1
fi
cp "$build/out/moe_kernels.node" "$out/moe_kernels.node"
strip --strip-unneeded "$out/moe_kernels.node"

echo "== TypeScript -> $out/dist"
npx tsc -p tsconfig.json --outDir "$out/dist" --sourceMap false --declaration false
rm -rf "$out/dist/test" "$out/dist/benchmarks"

cp scripts/gpu-check.sh scripts/gpu_peers.py "$out/"
cp node_modules/node-api-headers/include/*.h "$out/include/node/"
cp node_modules/node-addon-api/*.h "$out/include/node-addon-api/"
{
  git rev-parse HEAD 2>/dev/null || echo unknown
} | tr -d '\n' >"$out/COMMIT"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then printf ' (dirty)' >>"$out/COMMIT"; fi

echo "== node binary -> $out/node.xz ($(node --version))"
xz -T2 -c "$(command -v node)" >"$out/node.xz"

rm -f "$out/build.log"
total=$(du -sb "$out" | cut -f1)
echo "== $out: $((total / 1024 / 1024)) MB"
du -sh "$out"/* | sort -h | tail -n 6
if [ "$total" -gt $((60 * 1024 * 1024)) ]; then
  echo "gpu-prepare: $out is over 60 MB; the device tool will not carry it" >&2
  exit 1
fi
echo "ready: run the check on a GPU machine with carry [\".gpu\"] and: MOE_RESULTS_DIR=\$OUT bash scripts/gpu-check.sh"
