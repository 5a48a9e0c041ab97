#!/usr/bin/env bash
# Builds the native CPU kernels and their C++ tests (test/native) with AddressSanitizer and
# UndefinedBehaviorSanitizer, and runs them under ctest. Exits non-zero on any failed check and on any
# sanitizer report (the build uses -fno-sanitize-recover=all, so the first report aborts its test).
#
#   bash scripts/native-sanitize.sh            # build in build/native-sanitize (reused between runs)
#   MOE_SANITIZE_BUILD=/tmp/x bash scripts/native-sanitize.sh
#
# Needs CMake >= 3.18 and a C++17 compiler with ASan/UBSan (g++ or clang++); no node headers.
set -euo pipefail
cd "$(dirname "$0")/.."

build="${MOE_SANITIZE_BUILD:-build/native-sanitize}"
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
jobs="$(nproc 2>/dev/null || echo 2)"

start=$(date +%s)
echo "== native sanitize: configure ($build)"
cmake "${generator[@]}" -S test/native -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOE_SANITIZE=ON >/dev/null
echo "== native sanitize: build"
cmake --build "$build" --parallel "$jobs"
echo "== native sanitize: run"
# halt_on_error / abort_on_error make a report fatal even where an option is missed at compile time.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ctest --test-dir "$build" --output-on-failure --timeout 900 -j "$jobs"
echo "== native sanitize: passed in $(( $(date +%s) - start )) s"
