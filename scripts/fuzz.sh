#!/usr/bin/env bash
# Builds the ResponseParser libFuzzer target with clang 14 (ASan + UBSan) into build-fuzz/ and
# runs it for SECONDS (default 60) on a scratch copy of the seed corpus, so the committed corpus
# only grows by hand. Exits non-zero on any finding (the crashing input is left in build-fuzz/).
# usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
source "$root/scripts/ensure-packages.sh"
ensure_packages clang-14 libclang-rt-14-dev

build_dir="$root/build-fuzz"
mkdir -p "$build_dir"
# The parser needs only itself and Headers: no loop, no sockets.
clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -Wall -Wextra -Wpedantic -I"$root/include" -I"$root" \
  "$root/tests/fuzz/response_parser_fuzzer.cpp" "$root/http/response_parser.cpp" \
  "$root/http/headers.cpp" -o "$build_dir/response_parser_fuzzer"

corpus="$build_dir/corpus/response_parser"
rm -rf "$corpus"
mkdir -p "$corpus"
cp "$root/tests/fuzz/corpus/response_parser/"* "$corpus/"
cd "$build_dir"
./response_parser_fuzzer -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -dict="$root/tests/fuzz/response_parser.dict" -print_final_stats=1 \
  -artifact_prefix="$build_dir/" "$corpus"
