#!/usr/bin/env bash
# Configures and builds ringloop into a build directory.
# usage: scripts/build.sh BUILD_DIR [extra cmake arguments...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/ensure-packages.sh"
ensure_packages "${RINGLOOP_BUILD_PACKAGES[@]}"
build_dir="$1"
shift
jobs="$(nproc 2>/dev/null || echo 2)"
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
cmake --build "$build_dir" -j"$jobs"
