#!/usr/bin/env bash
# Builds ringloop and runs its whole test suite (both backends).
# usage: scripts/test.sh [--sanitize address,undefined|thread] [--werror]
#   --sanitize thread runs only the tests that start threads (ctest label "threads").
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sanitize=""
cmake_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) sanitize="$2"; shift 2 ;;
    --werror) cmake_args+=(-DRINGLOOP_WERROR=ON); shift ;;
    *) echo "usage: scripts/test.sh [--sanitize address,undefined|thread] [--werror]" >&2; exit 2 ;;
  esac
done
source "$root/scripts/ensure-packages.sh"
ensure_packages "${RINGLOOP_TEST_PACKAGES[@]}"
# nginx-light is installed now: an HTTP test that finds no nginx fails instead of skipping.
export RINGLOOP_REQUIRE_NGINX=1
build_dir="$root/build"
ctest_args=(--output-on-failure --timeout 600)
if [ -n "$sanitize" ]; then
  build_dir="$root/build-${sanitize//,/-}"
  # Debug (-O0): deep await chains must survive without the tail calls optimizers add.
  cmake_args+=(-DRINGLOOP_SANITIZE="$sanitize" -DRINGLOOP_BUILD_BENCH=OFF)
  export CMAKE_BUILD_TYPE=Debug
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
  [ "$sanitize" = "thread" ] && ctest_args+=(-L threads)
fi
"$root/scripts/build.sh" "$build_dir" "${cmake_args[@]}"
cd "$build_dir"
ctest "${ctest_args[@]}" -j"$(nproc 2>/dev/null || echo 2)"
