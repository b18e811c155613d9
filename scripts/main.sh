#!/usr/bin/env bash
# The main job: builds ringloop (optimized) and runs the samples' demo.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
CMAKE_BUILD_TYPE=Release "$root/scripts/build.sh" "$root/build-release" -DRINGLOOP_BUILD_TESTS=OFF >/dev/null
echo "== hello_tasks (asyncio's first program, in ringloop) =="
"$root/build-release/samples/hello_tasks"
