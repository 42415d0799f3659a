#!/bin/bash
# npm run test:node [-- VERSION...]
#
# The whole suite (vitest, after one build) on each Node major: 20 (the lowest supported), 22, 24
# and 26 by default. Each binary comes from the npm registry's node-linux-<arch> package (it
# carries the official binary), unpacked once into a cache; the suite runs with that node first on
# PATH, so the children tests spawn use the same version. Prints one line per version and a
# table, and exits non-zero if any version failed. A VERSION may carry :N, the most tests its run
# may skip (the defaults: the tests on the other side of buffer.constants.MAX_LENGTH, 4 on Node 20,
# 2 on 22+, 22.windows's 5, which run only on Windows, and 22.win32-forward's opt-in child test
# (WW_WINE_CHILDREN=1)); a run that skipped more fails, and
# under CI=true a version without its :N fails.
#
# Knobs (environment):
#   NODE_VERSIONS="20:10 22:8 24:8 26:8"   majors (or exact versions)[:skips], also as arguments
#   WW_NODE_CACHE=node_modules/.cache/writewatch-node   where the packages are unpacked
#   WW_VITEST_ARGS="..."          passed to vitest (e.g. a test file)
#   WW_NODE_LOGS=DIR              keep each version's full output there (default: a temp dir)
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VERSIONS=${*:-${NODE_VERSIONS:-20:10 22:8 24:8 26:8}}
CI_MODE=false; case ${CI:-} in true | 1) CI_MODE=true ;; esac
CACHE=${WW_NODE_CACHE:-$ROOT/node_modules/.cache/writewatch-node}
LOGS=${WW_NODE_LOGS:-$(mktemp -d /tmp/writewatch-node.XXXXXX)}
case $(uname -m) in x86_64) ARCH=x64 ;; aarch64) ARCH=arm64 ;; *) echo "test:node: no node-linux package for $(uname -m)" >&2; exit 2 ;; esac
mkdir -p "$CACHE" "$LOGS"

# node-linux-<arch>@<version> -> $CACHE/<version>/bin/node (npm pack: no install scripts, no lockfile)
node_for() {
  local v=$1 d=$CACHE/$1
  if [ ! -x "$d/bin/node" ]; then
    local tmp
    tmp=$(mktemp -d "$CACHE/.pack.XXXXXX")
    (cd "$tmp" && npm pack --silent "node-linux-$ARCH@$v" > pack.out 2> pack.err) ||
      { echo "test:node: npm pack node-linux-$ARCH@$v failed: $(tail -3 "$tmp/pack.err")" >&2; rm -rf "$tmp"; return 1; }
    mkdir -p "$tmp/pkg"
    tar -xzf "$tmp/$(tail -1 "$tmp/pack.out")" -C "$tmp/pkg" --strip-components=1
    rm -rf "$d"; mv "$tmp/pkg" "$d"; rm -rf "$tmp"
  fi
  echo "$d/bin/node"
}

npm run --silent build || exit 1
rows=() failed=0
for spec in $VERSIONS; do
  v=${spec%%:*} max=
  [ "$v" = "$spec" ] || max=${spec#*:}
  bin=$(node_for "$v") || { rows+=("| $v | - | not installed | - |"); failed=1; continue; }
  full=$("$bin" --version)
  echo "test:node: $full ($bin)" >&2
  t0=$(date +%s)
  # shellcheck disable=SC2086
  PATH="$(dirname "$bin"):$PATH" "$bin" node_modules/vitest/vitest.mjs run ${WW_VITEST_ARGS:-} > "$LOGS/node-$v.log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - t0 ))
  summary=$(sed 's/\x1b\[[0-9;]*m//g' "$LOGS/node-$v.log" | grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' | tail -1)
  fails=$(sed 's/\x1b\[[0-9;]*m//g' "$LOGS/node-$v.log" | sed -n 's/^ *FAIL  *\(.*\)$/\1/p' | awk '!s[$0]++' | head -20 | paste -sd';' -)
  # The skips: a run where tests skipped that should have run is not a pass.
  skipped=$(echo "$summary" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
  verdict=pass
  [ $rc -eq 0 ] || verdict=FAIL
  if [ -z "$max" ]; then
    [ "$CI_MODE" = true ] && verdict="FAIL (no skip allowance for $v: CI=true needs VERSION:N)"
  elif [ -z "$skipped" ] || [ "$skipped" -gt "$max" ]; then
    verdict="FAIL (${skipped:-?} skipped, at most $max expected)"
  fi
  [ "$verdict" = pass ] || failed=1
  rows+=("| $full | ${summary:-no summary (exit $rc)} | $verdict | ${secs} s |${fails:+ $fails |}")
  echo "test:node: $full: ${summary:-exit $rc}: $verdict in ${secs} s (log $LOGS/node-$v.log)" >&2
  [ -n "$fails" ] && echo "test:node:   failed: $fails" >&2
done
echo "| node | tests | result | time |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
exit $failed
