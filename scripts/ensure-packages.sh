#!/usr/bin/env bash
# Installs the Debian packages ringloop needs when they are missing (a no-op when all are there).
# Sourced by the other scripts; usage: ensure_packages pkg...
set -euo pipefail

RINGLOOP_BUILD_PACKAGES=(g++ cmake make pkg-config liburing-dev libmimalloc-dev libgtest-dev
                         libgmock-dev libbenchmark-dev)
# What scripts/test.sh adds: the HTTP client's tests run against a real nginx (tests/support/nginx.hpp).
RINGLOOP_TEST_PACKAGES=(nginx-light)
# What bench/run_fetch.py adds: nginx serves, libcurl and the Python clients fetch beside ringloop.
# The echo benchmark's peers need libuv1-dev (bench/echo_libuv_server; liburing-dev is already a
# build package), bench/callgrind_micro.py needs valgrind. bench/run_micro_peers.py adds
# libasio-dev (the Asio peer, header-only) and strace (its system call counts); its Tokio and Go
# peers are not installed here (large): apt-get install librust-tokio-dev cargo golang-go.
RINGLOOP_BENCH_PACKAGES=(nginx-light libcurl4-openssl-dev python3 python3-requests python3-aiohttp
                         python3-uvloop python3-matplotlib time libuv1-dev valgrind libasio-dev
                         strace)

ensure_packages() {
  local missing=()
  for package in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$package")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "ringloop: installing ${missing[*]}" >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "ringloop: need root or sudo to install ${missing[*]}" >&2; return 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
