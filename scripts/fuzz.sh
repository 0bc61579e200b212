#!/usr/bin/env bash
# Runs every Fuzz target of the module for a short time each (default
# 10s; give another duration as the first argument). A failing target
# does not stop the run: every failure is listed at the end, with the
# package, the target and the file of the input that failed (under the
# package's testdata/fuzz/), and the script exits 1.
set -uo pipefail
fuzztime=${1:-10s}
failed=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for pkg in $(go list ./...); do
  targets=$(go test -list '^Fuzz' "$pkg" | grep '^Fuzz') || continue
  for target in $targets; do
    echo "== $pkg $target ($fuzztime)"
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$log"; then
      input=$(grep -o 'testdata/fuzz/[^ ]*' "$log" | tail -1)
      failed+=("$pkg $target ${input:-(no input file: see the output above)}")
    fi
  done
done
if ((${#failed[@]})); then
  echo
  echo "${#failed[@]} fuzz target(s) failed:"
  printf '  %s\n' "${failed[@]}"
  echo "Each input stays in its package's testdata/fuzz/: 'go test -run TARGET/FILE PKG' replays it."
  exit 1
fi
echo "every fuzz target passed"
