# The guest's root image and the VM (sourced by run.sh, after host.sh).

# stage_project ARCH DIR: the project as the guest sees it at /project: the files git knows (and
# new ones not ignored), dist/ and node_modules/, hard-linked; build outputs of the host left out
# (a host-compiled .so must not be loaded by a guest of another architecture); on arm64 the
# native packages swapped for their arm64 builds.
stage_project() {
  local arch=$1 dir=$2
  rm -rf "$dir"; mkdir -p "$dir"
  (cd "$ROOT" && { git ls-files -co --exclude-standard; find dist node_modules -type f -o -type l; } |
    grep -vE '^(bench/build|test/build|node_modules/\.cache|node_modules/\.vite|node_modules/\.vitest)/' | LC_ALL=C sort -u |
    while read -r f; do [ -e "$f" ] || [ -L "$f" ] && echo "$f"; done > "$dir.list")
  (cd "$ROOT" && tar --no-recursion -cf - -T "$dir.list") | tar -C "$dir" -xf -
  rm -f "$dir.list"
  if [ "$arch" = arm64 ]; then
    local name d
    while read -r name d; do
      rm -rf "$dir/node_modules/${name/arm64/x64}"
      mkdir -p "$dir/node_modules/$name"; cp -a "$d/." "$dir/node_modules/$name/"
    done < <(arm64_addons)
  fi
}

# build_root ARCH -> sets IMG: an ext4 image (cached by a stamp of its contents) with a merged-/usr
# layout, busybox, node, a C toolchain, and the project at /project.
build_root() {
  local arch=$1; local st=$WW_KVM/root-$arch.d proj=$WW_KVM/project-$arch key
  stage_project "$arch" "$proj"
  key=$({
    echo "$arch $X86_HOST_PKGS $(md5sum < "$HERE/vm.sh") $(md5sum < "$HERE/host.sh")"
    if [ "$arch" = x86_64 ]; then
      echo "$(readlink -f "$(command -v node)") $(stat -c %s.%Y "$(readlink -f "$(command -v node)")")"
      for p in $X86_HOST_PKGS; do dpkg-query -W -f='${Package} ${Version}\n' "$p" 2>/dev/null; done
    else
      cat "$ARM64_SYSROOT/.pkgs"; stat -c %s.%Y "$ARM64_NODE"
    fi
    (cd "$proj" && find . -printf '%P %s %T@\n' | LC_ALL=C sort)
  } | md5sum | cut -c1-16)
  IMG=$WW_KVM/root-$arch-$key.img
  [ -f "$IMG" ] && return 0
  log "building the $arch root image"
  rm -rf "$st"; mkdir -p "$st"/usr/{bin,sbin,lib,lib64} "$st"/{etc,root,tmp,run,proc,sys,dev,project}
  chmod 1777 "$st/tmp"
  ln -s usr/bin "$st/bin"; ln -s usr/sbin "$st/sbin"; ln -s usr/lib "$st/lib"; ln -s usr/lib64 "$st/lib64"
  if [ "$arch" = x86_64 ]; then
    # the host's C toolchain and node, with every shared library they need (ldd)
    local p f
    for p in $X86_HOST_PKGS; do
      dpkg -L "$p" 2>/dev/null | grep -vE '^/usr/share/(doc|man|info|locale|lintian|bug)(/|$)' | while read -r f; do
        [ -d "$f" ] && [ ! -L "$f" ] && continue; echo "$f"; done
    done | copy_host_paths "$st"
    [ -e "$st/usr/bin/gcc" ] || ln -s "$(cd "$st/usr/bin" && ls gcc-[0-9]* | head -1)" "$st/usr/bin/gcc"
    [ -e "$st/usr/bin/cc" ] || ln -s gcc "$st/usr/bin/cc"
    local node; node=$(readlink -f "$(command -v node)")
    cp "$node" "$st/usr/bin/node"
    find "$st/usr" "$proj" -type f \( -perm -u+x -o -name '*.so*' -o -name '*.node' \) -size +1k | while read -r f; do
      head -c4 "$f" | grep -q ELF && ldd "$f" 2>/dev/null | grep -oE '/[^ ]+' || true
    done | copy_host_paths "$st"
    printf '%s\n' /lib64/ld-linux-x86-64.so.2 /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 | copy_host_paths "$st"
    cp /bin/busybox "$st/usr/bin/busybox"
  else
    (cd "$ARM64_SYSROOT" && tar --exclude=./usr/share/doc --exclude=./usr/share/man --exclude=./usr/share/info \
      --exclude=./usr/share/locale -cf - .) | tar -C "$st" -xf - --keep-directory-symlink
    cp "$ARM64_NODE" "$st/usr/bin/node"
  fi
  local a
  for a in sh mount mkdir ln cat cut awk sed ip hostname stty sync poweroff uname nproc env; do
    [ -e "$st/usr/bin/$a" ] || ln -s busybox "$st/usr/bin/$a"
  done
  ln -sf busybox "$st/usr/bin/sh"
  cp -al "$proj/." "$st/project/" 2>/dev/null || cp -a "$proj/." "$st/project/"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > "$st/etc/passwd"
  printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' > "$st/etc/group"
  printf '127.0.0.1 localhost ww-guest\n::1 localhost\n' > "$st/etc/hosts"
  local mb; mb=$(du -sm "$st" | cut -f1); mb=$((mb + mb / 4 + 512))
  mke2fs -q -t ext4 -O ^has_journal,^metadata_csum -E root_owner=0:0 -d "$st" "$IMG.tmp" "${mb}M" >&2
  mv "$IMG.tmp" "$IMG"; rm -rf "$st"
  ls -t "$WW_KVM"/root-"$arch"-*.img | tail -n +3 | xargs -r rm -f
}

# absolute host paths on stdin -> copied into DIR (usrmerged; symlinks kept, with their targets)
copy_host_paths() {
  local dir=$1 f t
  while read -r f; do
    f=$(echo "$f" | sed -E 's,^/(bin|sbin|lib|lib64)/,/usr/\1/,')
    [ -e "$f" ] || [ -L "$f" ] || continue
    echo "${f#/}"
    if [ -L "$f" ]; then t=$(readlink -f "$f"); [ -e "$t" ] && echo "${t#/}"; fi
  done | awk '!s[$0]++' > "$dir.paths"
  tar -C / --no-recursion -cf - -T "$dir.paths" | tar -C "$dir" -xf -
  rm -f "$dir.paths"
}

# boot ARCH COMMAND_FILE ENV_FILE OUT_LOG CONSOLE_LOG -> the command's exit status (124 timeout,
# 125 the guest never ran it). Needs VMLINUZ, KROOT (initramfs built) and IMG.
boot() {
  local arch=$1 cmd=$2 envf=$3 out=$4 console=$5 w qpid rc
  w=$(mktemp -d "$WW_KVM/.run.XXXXXX")
  mkdir -p "$w/run-files"
  cp "$HERE/guest/init.sh" "$cmd" "$envf" "$w/run-files/"
  [ "$(basename "$cmd")" = cmd.sh ] || mv "$w/run-files/$(basename "$cmd")" "$w/run-files/cmd.sh"
  [ "$(basename "$envf")" = env.sh ] || mv "$w/run-files/$(basename "$envf")" "$w/run-files/env.sh"
  (cd "$w" && find run-files | cpio -o -H newc --quiet) | gzip -1 > "$w/extra.cpio.gz"
  cat "$KROOT/ww-initramfs.cpio.gz" "$w/extra.cpio.gz" > "$w/initrd"
  : > "$out"; : > "$console"
  local args=(-nodefaults -no-user-config -smp "$SMP" -m "$MEM" -kernel "$VMLINUZ" -initrd "$w/initrd"
    -display none -monitor none -no-reboot)
  local append="loglevel=4 panic=-1 oops=panic rdinit=/init mitigations=off"
  if [ "$arch" = x86_64 ]; then
    # la57=off: the usual 47-bit user address space; CPU=max turns 5-level paging on.
    args+=(-machine pc -accel tcg,thread=${TCG_THREAD:-multi},tb-size=512 -cpu "${CPU:-max,la57=off}"
      -drive file="$IMG",if=virtio,format=raw,snapshot=on,cache=unsafe
      -serial file:"$console" -serial file:"$out")
    append="console=ttyS0 ww.out=/dev/ttyS1 tsc=reliable $append"
    QEMU=qemu-system-x86_64
  else
    # neoverse-n1, not max: under Debian 12's QEMU 7.2, -cpu max made V8 die in any process while
    # 60.track and 80.scan ran side by side on the 16 KiB-page kernel, the vitest main process
    # too, which never loads writewatch (SIGSEGV, SIGTRAP: 13 of 15 runs, 2 of 3 with one TCG
    # thread; 0 of 5 with neoverse-n1; never with either file alone: 80.scan whole once and in
    # parts 27 times, 60.track twice). A real core
    # (ARMv8.2: Graviton2, Altra); it has no LPA2, so the 16 KiB-page kernel gives tasks 47 bits
    # of address space, not 52.
    args+=(-M virt -accel tcg,thread=${TCG_THREAD:-multi},tb-size=512 -cpu "${CPU:-neoverse-n1}"
      -drive file="$IMG",if=none,id=root,format=raw,snapshot=on,cache=unsafe -device virtio-blk-pci,drive=root
      -device virtio-serial-pci -chardev file,id=out,path="$out" -device virtconsole,chardev=out
      -serial file:"$console")
    append="console=ttyAMA0 ww.out=/dev/hvc0 $append"
    QEMU=qemu-system-aarch64
  fi
  "$QEMU" "${args[@]}" -append "$append ${KERNEL_ARGS:-}" > "$w/qemu.log" 2>&1 &
  qpid=$!
  local deadline=$(( $(date +%s) + TIMEOUT ))
  BOOT_S=
  local t0; t0=$(date +%s)
  while kill -0 $qpid 2>/dev/null; do
    [ -z "$BOOT_S" ] && grep -aq '^@@WW-BEGIN@@' "$out" && BOOT_S=$(( $(date +%s) - t0 ))
    if grep -aq '^@@WW-EXIT=[0-9]*@@' "$out"; then
      for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 $qpid 2>/dev/null || break; sleep 0.5; done
      kill $qpid 2>/dev/null; break
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then log "timeout after $TIMEOUT s: stopping QEMU"; kill $qpid; break; fi
    sleep 1
  done
  wait $qpid 2>/dev/null
  rc=$(tr -d '\r' < "$out" | sed -n 's/^@@WW-EXIT=\([0-9]*\)@@$/\1/p' | tail -1)
  if [ -z "$rc" ]; then
    if [ "$(date +%s)" -ge "$deadline" ]; then rc=124; else rc=125; fi
    log "the guest reported no exit status ($rc); last kernel messages:"; tail -n 20 "$console" | tr -d '\r' >&2
    [ -s "$w/qemu.log" ] && head -n 10 "$w/qemu.log" >&2
  fi
  rm -rf "$w"
  return "$rc"
}
