#!/usr/bin/env bash
# npm run test:windows [-- TEST_FILE...]
#
# Runs test files under node.exe in Wine with vitest's own CLI, after setup.sh (idempotent). Without
# arguments: the Windows subset, scripts/windows/subset.txt. Prints vitest's report and its closing
# "N passed, N failed, N skipped" line; exits non-zero when a test failed or vitest did not finish.
#
# node.exe dies (EBADF in createWritableStdioStream) when its stdout is a Unix pipe, so vitest writes
# to a file and this prints the file.
#
# Knobs: WW_WIN_CACHE, WW_WIN_NODE (env.sh); WW_WIN_LOG (where vitest's output goes; default a temp
# file); WW_VITEST_ARGS (more vitest arguments).
set -uo pipefail
HERE=$(dirname "${BASH_SOURCE[0]}")
bash "$HERE/setup.sh" || exit 1
source "$HERE/env.sh"
cd "$WW_ROOT"

if [ $# -gt 0 ]; then files=("$@"); else mapfile -t files < <(grep -v -e '^#' -e '^$' "$HERE/subset.txt"); fi
for f in "${files[@]}"; do [ -f "$f" ] || { echo "windows/run: no such test file: $f" >&2; exit 2; }; done

# The library's dist/ is what the tests import: build it here, on Linux (tsc is a native binary too).
npm run --silent build || exit 1

log=${WW_WIN_LOG:-$(mktemp /tmp/writewatch-win-run.XXXXXX)}
t0=$(date +%s.%N)
# shellcheck disable=SC2086
"$WINE" "$WW_NODE_EXE" node_modules/vitest/vitest.mjs run ${WW_VITEST_ARGS:-} "${files[@]}" > "$log" 2>&1 < /dev/null
rc=$?
secs=$(echo "$(date +%s.%N) - $t0" | bc)
cat "$log"
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' | tail -1)
if [ -z "$summary" ]; then
  echo "windows/run: vitest under node.exe ended (exit $rc) without its closing line; log $log" >&2
  [ $rc -eq 0 ] && rc=1
fi
echo "windows/run: node.exe $WW_WIN_NODE under $("$WINE" --version): ${summary:-no summary} in ${secs%???????} s (${#files[@]} files; log $log)" >&2
exit $rc
