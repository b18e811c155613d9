#!/usr/bin/env bash
# The main job: builds ringloop (Release), prints the 500k-action benchmark table (ringloop's
# standard and optimized loops beside the floor, Python asyncio and uvloop), then runs the
# samples' demo (producer_consumer, hello_tasks, parallel_mean, echo server and client, fetch
# against a local nginx beside libcurl, requests and aiohttp, and the course's threads-vs-asyncio
# table).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/ensure-packages.sh"
# The fetch benchmark's peers (libcurl must be there before the build configures, so its
# client is built) and nginx.
ensure_packages python3 python3-uvloop "${RINGLOOP_BENCH_PACKAGES[@]}"
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

echo
echo "== samples/parallel_mean (one offload per row, gathered on the loop) =="
"$build/samples/parallel_mean" --scale 0.25

echo
echo "== samples/echo_server and echo_client (10 connections, 1 KiB messages, 2 s) =="
coproc ECHO_SERVER { exec "$build/samples/echo_server" --host 127.0.0.1 --port 0; }
server_pid=$ECHO_SERVER_PID
trap 'kill -TERM "$server_pid" 2>/dev/null || true' EXIT  # never leave the server behind
read -r listening <&"${ECHO_SERVER[0]}"
echo "$listening"
# "listening on 127.0.0.1:PORT (backend: NAME)"
port="$(sed -E 's/^listening on .*:([0-9]+) \(backend: .*$/\1/' <<<"$listening")"
"$build/samples/echo_client" --host 127.0.0.1 --port "$port" --conns 10 --size 1024 --duration 2
kill -TERM "$server_pid"
wait "$server_pid"
trap - EXIT

echo
echo "== samples/fetch against a local nginx: 500 fetches beside libcurl, requests, aiohttp (one round) =="
/usr/bin/python3 "$root/bench/run_fetch.py" --build "$build" --quick --course 1,10,50,100,500 \
  --plot "$build/fetch-course.png"
echo "(chart: $build/fetch-course.png)"
