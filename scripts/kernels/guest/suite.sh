# Run in the guest (as the VM's command, in /project): uname, probe, then either the whole suite
# with CI=true (a supported kernel) or the unsupported-path checks (a kernel without the
# features), then get+reset of 1 GiB at 1 % against the C loop. Lines starting with "@@WW " are
# the results the host's table is made of. Exit 0 when the kernel's verdict is as it must be.
# Environment (from the host): WW_VITEST_ARGS (vitest arguments), WW_RATIO (0: skip the ratio),
# WW_EXPECT (supported or unsupported: what the kernel list says this kernel is; the path taken is
# that one, not the probe's, and a probe that disagrees fails; empty: the probe picks).
up() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" '{printf "%.0f", $1 - a}' /proc/uptime; }
echo "@@WW uname=$(uname -r) machine=$(uname -m) node=$(node --version)"
echo "=== probe"
node dist/cli/main.js probe --json > /tmp/probe.json; probe_rc=$?
cat /tmp/probe.json
node scripts/kernels/guest/report.mjs probe /tmp/probe.json "$probe_rc"
supported=$(node -p 'JSON.parse(require("node:fs").readFileSync("/tmp/probe.json", "utf8")).supported' 2>/dev/null)
rc=0
probed=unsupported; [ "$supported" = true ] && probed=supported
if [ -n "${WW_EXPECT:-}" ]; then
  # The list's expectation decides the path: a kernel that lost the features runs the whole suite
  # and fails through the gate, instead of passing as an unsupported kernel.
  echo "@@WW expect=$WW_EXPECT probed=$probed"
  [ "$probed" = "$WW_EXPECT" ] || { echo "@@WW mismatch=the_probe_says_${probed},_the_kernel_list_expects_${WW_EXPECT}"; rc=1; }
  supported=false; [ "$WW_EXPECT" = supported ] && supported=true
fi
REPORTERS="--reporter=default --reporter=./test/support/summary-reporter.ts --reporter=json --outputFile.json=/tmp/vitest.json"
if [ "$supported" = true ]; then
  echo "=== suite (CI=true)"; t=$(up)
  # shellcheck disable=SC2086
  CI=true node node_modules/vitest/vitest.mjs run $REPORTERS ${WW_VITEST_ARGS:-}; vitest_rc=$?
  # Under arm64 TCG, node itself dies now and then (SIGILL at start, V8 fatal errors in
  # LoadIC_Miss, a worker's SIGSEGV in 2 of 3 runs of 50.stress: measured), an emulation crash, not
  # a test outcome. When the run crashed without a single test failing (no report, tests that never
  # finished, a file that never loaded), run it once more and say so; the second run's verdict is
  # the kernel's. A run where a test failed is never run again, and a crash the library causes
  # happens again.
  if [ "$vitest_rc" != 0 ] && node scripts/kernels/guest/report.mjs crashed /tmp/vitest.json; then
    echo "@@WW note=the_run_crashed_without_a_failing_test:_run_again_once"
    rm -f /tmp/vitest.json
    # shellcheck disable=SC2086
    CI=true node node_modules/vitest/vitest.mjs run $REPORTERS ${WW_VITEST_ARGS:-}; vitest_rc=$?
  fi
  echo "suite took $(since "$t") s"
  node scripts/kernels/guest/report.mjs suite /tmp/vitest.json "$(since "$t")" || rc=1
  # vitest's own verdict too: an unhandled error (a worker that died) fails the run, whatever the
  # report's counts say.
  [ "$vitest_rc" = 0 ] || { echo "@@WW vitest_exit=$vitest_rc"; rc=1; }
else
  # The unsupported path: the probe explains, allocate() throws ERR_WRITEWATCH_UNSUPPORTED, and
  # CI=true keeps its meaning: every test needing the features fails through the gate (and only
  # those fail), so a CI machine that lost the features can never pass by skipping.
  echo "=== unsupported path"
  node scripts/kernels/guest/unsupported.mjs /tmp/probe.json "$probe_rc" || rc=1
  echo "=== suite (CI=true, expecting the feature gate to fail and nothing else)"; t=$(up)
  # shellcheck disable=SC2086
  CI=true node node_modules/vitest/vitest.mjs run $REPORTERS ${WW_VITEST_ARGS:-}
  node scripts/kernels/guest/report.mjs gated /tmp/vitest.json "$(since "$t")" || rc=1
fi
if [ "$supported" = true ] && [ "${WW_RATIO:-1}" != 0 ]; then
  echo "=== get+reset, 1 GiB, 1 % written, against the C loop"; t=$(up)
  node scripts/bench-ratio.mjs --json /tmp/ratio.json && node scripts/kernels/guest/report.mjs ratio /tmp/ratio.json
  echo "ratio took $(since "$t") s"
fi
exit $rc
