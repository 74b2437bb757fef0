#!/usr/bin/env bash
# clang-tidy over the given files (default: every .cpp under agent/ config/ exporters/ probes/),
# with the compile commands of the default preset. Exits non-zero on any warning.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -f build/default/compile_commands.json ]] || cmake --preset default >/dev/null
if (($# == 0)); then
  mapfile -t files < <(git ls-files -co --exclude-standard -- 'agent/*.cpp' 'config/*.cpp' 'exporters/*.cpp' 'probes/*.cpp')
else
  files=("$@")
fi
out=$(clang-tidy -p build/default --quiet "${files[@]}" 2>/dev/null || true)
if grep -qE "(warning|error):" <<<"$out"; then
  echo "$out"
  exit 1
fi
echo "clang-tidy: ${#files[@]} files clean"
