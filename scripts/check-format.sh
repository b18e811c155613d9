#!/usr/bin/env bash
# Fails when a tracked C or C++ file is not formatted as .clang-format says.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/ensure-packages.sh"
ensure_packages clang-format git
cd "$root"
git ls-files -z '*.cpp' '*.hpp' '*.c' '*.h' | xargs -0 clang-format --dry-run --Werror
echo "clang-format: clean"
