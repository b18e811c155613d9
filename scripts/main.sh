#!/usr/bin/env bash
# The main job: builds ringloop (Release), prints the 500k-action benchmark table (ringloop's
# standard and optimized loops beside the floor, Python asyncio and uvloop), then runs the
# samples' demo.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/ensure-packages.sh"
ensure_packages python3 python3-uvloop
build="$root/build-release"
CMAKE_BUILD_TYPE=Release "$root/scripts/build.sh" "$build" -DRINGLOOP_BUILD_TESTS=OFF >/dev/null

echo "== The 500k-action producer/consumer benchmark =="
/usr/bin/python3 "$root/bench/run_producer_consumer.py" --build "$build" --runs 5

echo
echo "== samples/producer_consumer (both loops) =="
"$build/samples/producer_consumer_mimalloc" --loop both

echo
echo "== samples/hello_tasks (asyncio's first program, in ringloop) =="
"$build/samples/hello_tasks"
