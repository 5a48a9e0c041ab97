#!/usr/bin/env bash
# The GPU check in one command (GPU.md, docs/gpu-check.md). On the GPU machine, with .gpu/ prepared by
# scripts/gpu-prepare.sh:
#   MOE_RESULTS_DIR=$OUT bash scripts/gpu-check.sh            correctness + timing + peers
#   MOE_RESULTS_DIR=$OUT bash scripts/gpu-check.sh --sanitize compute-sanitizer memcheck + racecheck
# Other options (--quick, --small, --no-timing, --no-correctness) go to scripts/gpu_check.ts.
# Finds node (>= 20 on PATH, else .gpu/node.xz), loads .gpu/moe_kernels.node (rebuilding it with CMake when it
# cannot load here), and exits with the check's code: 0 pass, 1 failures, 2 no usable GPU.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -f "$here/moe_kernels.node" ]; then gpu="$here"; else gpu="$(cd "$here/.." && pwd)/.gpu"; fi
repo="$(cd "$gpu/.." && pwd)"
if [ ! -f "$gpu/dist/scripts/gpu_check.js" ]; then
  echo "gpu-check: $gpu is not prepared (run scripts/gpu-prepare.sh on a machine with node_modules and nvcc)" >&2
  exit 3
fi
export MOE_RESULTS_DIR="${MOE_RESULTS_DIR:-$PWD/gpu-results}"
mkdir -p "$MOE_RESULTS_DIR"
[ -f "$gpu/COMMIT" ] && export MOE_COMMIT="${MOE_COMMIT:-$(cat "$gpu/COMMIT")}"
export MOE_PEERS_SCRIPT="$gpu/gpu_peers.py"

node_ok() { command -v node >/dev/null 2>&1 && node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; }
if node_ok; then
  NODE="$(command -v node)"
elif [ -f "$gpu/node.xz" ]; then
  NODE="${TMPDIR:-/tmp}/moe-node-$$"
  xz -dc "$gpu/node.xz" >"$NODE" && chmod +x "$NODE" || { echo "gpu-check: cannot unpack $gpu/node.xz" >&2; exit 3; }
  trap 'rm -f "$NODE"' EXIT
else
  echo "gpu-check: no node >= 20 on PATH and no $gpu/node.xz" >&2
  exit 3
fi

export MOE_KERNELS_BINARY="$gpu/moe_kernels.node"
if ! err="$("$NODE" -e 'require(process.env.MOE_KERNELS_BINARY)' 2>&1)"; then
  echo "gpu-check: $MOE_KERNELS_BINARY does not load here ($(echo "$err" | grep -m1 -i error)); rebuilding with CMake"
  build="${TMPDIR:-/tmp}/moe-gpu-build"
  if cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOE_REQUIRE_CUDA=ON \
       -DMOE_CUDA_ARCHS="90-real;90-virtual" -DCMAKE_JS_INC="$gpu/include/node;$gpu/include/node-addon-api" \
       -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$build/out" >"$MOE_RESULTS_DIR/rebuild.log" 2>&1 &&
     cmake --build "$build" -j "$(nproc)" >>"$MOE_RESULTS_DIR/rebuild.log" 2>&1; then
    export MOE_KERNELS_BINARY="$build/out/moe_kernels.node"
  else
    echo "gpu-check: the CMake rebuild failed (log: $MOE_RESULTS_DIR/rebuild.log)" >&2
    tail -n 20 "$MOE_RESULTS_DIR/rebuild.log" >&2
    exit 3
  fi
fi

echo "gpu-check: node $("$NODE" --version), binary $MOE_KERNELS_BINARY, results $MOE_RESULTS_DIR"
"$NODE" "$gpu/dist/scripts/gpu_check.js" "$@"
code=$?
echo "gpu-check: exit $code (0 pass, 1 failures, 2 no usable GPU)"
exit $code
