#!/usr/bin/env bash
# Fails when any tracked C++ file differs from what clang-format (.clang-format) would write.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.cpp' '*.h' '*.hpp' | grep -v '^build/' || true)
((${#files[@]})) || { echo "no C++ files"; exit 0; }
clang-format --dry-run --Werror "${files[@]}"
echo "clang-format: ${#files[@]} files clean"
