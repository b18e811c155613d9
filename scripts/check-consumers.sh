#!/usr/bin/env bash
# Builds and runs tests/consumer/ (an out-of-tree program) against ringloop the ways a user would:
# installed static and shared (cmake --install into temporary prefixes) through find_package and
# through pkg-config, and through add_subdirectory. Exits non-zero at the first way that breaks.
# usage: scripts/check-consumers.sh [extra cmake arguments for ringloop, e.g. -DRINGLOOP_WITH_URING=OFF]
#   KEEP=1 keeps the work directory (printed at the start).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/ensure-packages.sh"
ensure_packages g++ cmake make pkg-config binutils liburing-dev libmimalloc-dev
library_args=("$@")

work="$(mktemp -d "${TMPDIR:-/tmp}/ringloop-consumers.XXXXXX")"
if [ "${KEEP:-0}" = 1 ]; then
  echo "work directory: $work (kept)"
else
  trap 'rm -rf "$work"' EXIT
fi
consumer="$root/tests/consumer"
step=0

fail() {
  echo "check-consumers: FAIL: $*" >&2
  exit 1
}
# Runs a command quietly; on failure shows its output and stops.
quiet() {
  step=$((step + 1))
  local log="$work/step-$step.log"
  echo "+ $*"
  if ! "$@" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    fail "$*"
  fi
}
# Runs a consumer program; it must exit 0 and print its "consumer ok" line.
run_app() {
  echo "+ $*"
  local output
  output="$("$@" 2>&1)" || { echo "$output" >&2; fail "$* exited non-zero"; }
  echo "  $output"
  grep -q '^consumer ok: ' <<<"$output" || fail "$* did not print its success line"
  if [ "$with_uring" = 0 ]; then
    grep -q 'backend epoll' <<<"$output" || fail "$*: built without io_uring but not on epoll"
  fi
}

echo "== The installed package never carries sanitizer flags (configure with RINGLOOP_SANITIZE) =="
quiet cmake -S "$root" -B "$work/sanitize" -DRINGLOOP_SANITIZE=address,undefined \
  -DRINGLOOP_BUILD_TESTS=OFF -DRINGLOOP_BUILD_BENCH=OFF -DRINGLOOP_BUILD_SAMPLES=OFF "${library_args[@]}"
if grep -rl -e sanitize -e ringloop_build_flags "$work/sanitize/CMakeFiles/Export" \
     "$work/sanitize/ringloopConfig.cmake" "$work/sanitize/ringloop.pc.in"; then
  fail "sanitizer flags leak into the installed export (files above)"
fi
echo "  ok: no -fsanitize in the export, the config or ringloop.pc"

for kind in static shared; do
  shared=OFF
  [ "$kind" = shared ] && shared=ON
  prefix="$work/prefix-$kind"
  echo
  echo "== ringloop $kind: build and install into $prefix =="
  quiet cmake -S "$root" -B "$work/lib-$kind" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=$shared \
    -DRINGLOOP_BUILD_TESTS=OFF -DRINGLOOP_BUILD_BENCH=OFF -DRINGLOOP_BUILD_SAMPLES=OFF "${library_args[@]}"
  quiet cmake --build "$work/lib-$kind" -j2
  quiet cmake --install "$work/lib-$kind" --prefix "$prefix"
  cmake_dir="$prefix/lib/cmake/ringloop"
  for file in ringloopConfig.cmake ringloopConfigVersion.cmake ringloopTargets.cmake; do
    [ -f "$cmake_dir/$file" ] || fail "$cmake_dir/$file not installed"
  done
  [ -f "$prefix/lib/pkgconfig/ringloop.pc" ] || fail "ringloop.pc not installed"
  if grep -l 'PkgConfig::' "$cmake_dir"/*.cmake; then fail "the export names a PkgConfig:: target"; fi
  with_uring=1
  grep -Eq 'set\(ringloop_WITH_URING (OFF|FALSE|0|NO)\)' "$cmake_dir/ringloopConfig.cmake" && with_uring=0
  # Only the static library with io_uring needs liburing from its consumers: prove the others
  # configure with liburing out of reach.
  consumer_args=()
  if [ "$with_uring" = 0 ] || [ "$kind" = shared ]; then
    if [ -f "$cmake_dir/Findliburing.cmake" ] ||
       grep -l -e liburing -e -luring "$cmake_dir"/ringloopTargets*.cmake "$prefix/lib/pkgconfig/ringloop.pc"; then
      fail "the installed package asks its consumers for liburing"
    fi
    consumer_args+=(-DCMAKE_DISABLE_FIND_PACKAGE_liburing=ON)
  fi
  with_mimalloc=0
  [ -f "$cmake_dir/ringloopMimallocTargets.cmake" ] && with_mimalloc=1

  # find_package(ringloop 0.1) accepts 0.1.x only (SameMinorVersion, 0.x).
  cat >"$work/version-check.cmake" <<EOF
foreach(request 0.1 0.1.0 0.2 1.0 0.0)
  set(PACKAGE_FIND_VERSION \${request})
  string(REPLACE "." ";" parts \${request})
  list(GET parts 0 PACKAGE_FIND_VERSION_MAJOR)
  list(GET parts 1 PACKAGE_FIND_VERSION_MINOR)
  set(PACKAGE_VERSION_COMPATIBLE)
  include("$cmake_dir/ringloopConfigVersion.cmake")
  message("\${request}=\${PACKAGE_VERSION_COMPATIBLE}")
endforeach()
EOF
  versions="$(cmake -P "$work/version-check.cmake" 2>&1 | tr '\n' ' ')"
  echo "  version requests accepted: $versions"
  [ "$versions" = "0.1=TRUE 0.1.0=TRUE 0.2=FALSE 1.0=FALSE 0.0=FALSE " ] ||
    fail "ringloopConfigVersion.cmake: unexpected answers"

  if [ "$kind" = shared ]; then
    soname="$(readelf -d "$prefix/lib/libringloop.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
    echo "  readelf -d libringloop.so: SONAME $soname"
    [ "$soname" = libringloop.so.0 ] || fail "SONAME is '$soname', not libringloop.so.0"
    [ -f "$prefix/lib/libringloop.so.0.1.0" ] || fail "libringloop.so.0.1.0 not installed"
  else
    [ -f "$prefix/lib/libringloop.a" ] || fail "libringloop.a not installed"
  fi

  echo "-- find_package(ringloop 0.1 REQUIRED), $kind"
  quiet cmake -S "$consumer" -B "$work/find-$kind" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    "${consumer_args[@]}"
  quiet cmake --build "$work/find-$kind" -j2
  if [ "$kind" = shared ]; then
    # CMake gives the build-tree program an RPATH to the imported library. The tools' output is
    # captured first: with pipefail, `tool | grep -q` fails at random when grep exits at its first
    # match and the tool, still writing, dies of SIGPIPE.
    grep -q "libringloop.so.0 => $prefix/lib/libringloop.so.0" <<<"$(ldd "$work/find-$kind/app")" ||
      fail "app does not load $prefix/lib/libringloop.so.0"
  fi
  run_app "$work/find-$kind/app"
  run_app "$work/find-$kind/http_app"
  if [ "$with_mimalloc" = 1 ]; then
    [ -x "$work/find-$kind/app_mimalloc" ] || fail "ringloop::mimalloc was installed but not found"
    grep -q 'NEEDED.*libmimalloc' <<<"$(readelf -d "$work/find-$kind/app_mimalloc")" ||
      fail "app_mimalloc does not link libmimalloc"
    run_app "$work/find-$kind/app_mimalloc"
    grep -q 'allocator mimalloc' <<<"$("$work/find-$kind/app_mimalloc")" || fail "mimalloc not in use"
  fi

  echo "-- pkg-config, $kind"
  export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
  pkg_args=(--cflags --libs ringloop)  # the README's line, the same for the static library
  echo "  pkg-config ${pkg_args[*]}: $(pkg-config "${pkg_args[@]}")"
  # shellcheck disable=SC2046  # the flags are meant to split into words
  quiet g++ -std=c++20 -O2 "$consumer/app.cpp" -o "$work/pkg-$kind" $(pkg-config "${pkg_args[@]}")
  http_args=(--cflags --libs ringloop-http)
  echo "  pkg-config ${http_args[*]}: $(pkg-config "${http_args[@]}")"
  # shellcheck disable=SC2046
  quiet g++ -std=c++20 -O2 "$consumer/http_app.cpp" -o "$work/pkg-http-$kind" $(pkg-config "${http_args[@]}")
  if [ "$kind" = shared ]; then
    run_app env LD_LIBRARY_PATH="$prefix/lib" "$work/pkg-$kind"
    run_app env LD_LIBRARY_PATH="$prefix/lib" "$work/pkg-http-$kind"
  else
    run_app "$work/pkg-http-$kind"
    grep -q 'NEEDED.*libringloop' <<<"$(readelf -d "$work/pkg-$kind")" && fail "static consumer needs libringloop.so"
    run_app "$work/pkg-$kind"
    if [ "$with_mimalloc" = 1 ]; then
      # shellcheck disable=SC2046
      quiet g++ -std=c++20 -O2 "$consumer/app.cpp" -o "$work/pkg-$kind-mimalloc" \
        $(pkg-config "${pkg_args[@]}") -lmimalloc
      run_app "$work/pkg-$kind-mimalloc"
    fi
  fi
  unset PKG_CONFIG_PATH
done

echo
echo "== add_subdirectory(ringloop) in a parent project without a build type =="
sub="$work/subdirectory"
quiet cmake -S "$consumer" -B "$sub" -DRINGLOOP_SOURCE_DIR="$root" "${library_args[@]}"
grep -q '^CMAKE_BUILD_TYPE:STRING=$' "$sub/CMakeCache.txt" ||
  fail "the parent's CMAKE_BUILD_TYPE was changed: $(grep '^CMAKE_BUILD_TYPE' "$sub/CMakeCache.txt")"
for option in RINGLOOP_BUILD_TESTS RINGLOOP_BUILD_BENCH RINGLOOP_BUILD_SAMPLES RINGLOOP_INSTALL; do
  grep -q "^$option:BOOL=OFF$" "$sub/CMakeCache.txt" || fail "$option is not OFF in the parent"
done
targets="$(cmake --build "$sub" --target help)"
if grep -E '(test_|_benchmark|hello_tasks|echo_server|header_checks)' <<<"$targets"; then
  fail "the parent project got ringloop's tests, benchmarks, samples or header checks (above)"
fi
[ -e "$sub/ringloop/tests" ] && fail "ringloop's tests were configured in the parent"
echo "  ok: CMAKE_BUILD_TYPE untouched (empty), no tests/benchmarks/samples, no install rules"
quiet cmake --build "$sub" -j2
run_app "$sub/app"
run_app "$sub/http_app"
if [ -x "$sub/app_mimalloc" ]; then run_app "$sub/app_mimalloc"; fi

echo
echo "check-consumers: all ways work (find_package static/shared, pkg-config static/shared, add_subdirectory)"
