#!/usr/bin/env bash
# npm run bench:windows [-- --quick]: bench/windows.mjs under node.exe in Wine (setup.sh first).
# The report is labelled as measured under Wine: its figures are Wine's, not Windows'.
set -uo pipefail
HERE=$(dirname "${BASH_SOURCE[0]}")
bash "$HERE/setup.sh" || exit 1
source "$HERE/env.sh"
cd "$WW_ROOT"
npm run --silent build || exit 1
log=$(mktemp /tmp/writewatch-win-bench.XXXXXX)
# node.exe's stdout must be a file (EBADF on a Unix pipe).
"$WINE" "$WW_NODE_EXE" bench/main.mjs "$@" > "$log" 2>&1 < /dev/null
rc=$?
cat "$log"
exit $rc
