#!/bin/sh
# The guest's PID 1, in two stages (one file for both architectures).
#   /init (in the initramfs, busybox only): loads the modules the root disk needs, mounts the
#     ext4 root (/dev/vda), copies the run's files onto a tmpfs there and switches root to run
#     itself again as stage 2.
#   stage 2 (on the root image): a small writable system (the disk is a QEMU snapshot: nothing is
#     kept), runs /run/ww/cmd.sh in /project, then prints the exit marker and powers off.
# Our output goes to the console named by ww.out= on the kernel command line (ttyS1 on x86_64,
# hvc0 on arm64): the host reads it between @@WW-BEGIN@@ and @@WW-EXIT=<status>@@.
export PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin
if [ "$1" != stage2 ]; then
  mount -t proc proc /proc
  mount -t sysfs sysfs /sys
  mount -t devtmpfs devtmpfs /dev 2>/dev/null || mount -t tmpfs tmpfs /dev
fi
out=$(sed -n 's/.*ww\.out=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -c "$out" ] || out=/dev/console
say() { echo "ww-guest: $*" > "$out"; }
fail() { say "$*"; echo "@@WW-EXIT=125@@" > "$out"; sync; poweroff -f; }

if [ "$1" != stage2 ]; then
  for m in $(cat /modules.list); do insmod "/lib/modules/$m" 2>/dev/null || say "insmod $m: failed (built in?)"; done
  i=0
  while [ ! -b /dev/vda ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
  [ -b /dev/vda ] || fail "no /dev/vda after 60 s (modules: $(tr '\n' ' ' < /modules.list))"
  mkdir -p /newroot
  mount -t ext4 /dev/vda /newroot || fail "cannot mount /dev/vda"
  mount -t tmpfs -o mode=0755 tmpfs /newroot/run
  mkdir -p /newroot/run/ww
  cp /run-files/* /newroot/run/ww/
  mount --move /proc /newroot/proc
  mount --move /sys /newroot/sys
  mount --move /dev /newroot/dev
  exec switch_root /newroot /bin/sh /run/ww/init.sh stage2
fi

export HOME=/root TERM=dumb LANG=C.UTF-8 TMPDIR=/tmp
# busybox applets the root does not have as programs (a foreign busybox cannot list them on the host)
/usr/bin/busybox --install -s /usr/bin 2>/dev/null
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts 2>/dev/null
[ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
ip link set lo up 2>/dev/null
hostname ww-guest 2>/dev/null
stty -F "$out" raw -echo 2>/dev/null
. /run/ww/env.sh
cd /project || fail "no /project in the root image"
{
  echo "ww-guest: kernel $(uname -r) $(uname -m), $(nproc) CPUs, $(awk '/MemTotal/{print int($2/1024)" MiB"}' /proc/meminfo), up $(cut -d' ' -f1 /proc/uptime) s"
  echo "@@WW-BEGIN@@"
  sh /run/ww/cmd.sh < /dev/null
  echo $? > /run/ww/rc
} 2>&1 | cat > "$out"
rc=$(cat /run/ww/rc 2>/dev/null || echo 126)
echo "ww-guest: up $(cut -d' ' -f1 /proc/uptime) s at the end" > "$out"
echo "@@WW-EXIT=$rc@@" > "$out"
sync
poweroff -f
