#!/bin/sh
# /init of the qgad lab guest (busybox sh, PID 1).  Everything it does is
# printed to the console (the host's console.log) with a "LAB:" prefix.
#
# Kernel command line:
#   qgad.method=virtio-serial|isa-serial|vsock-listen|none   (default virtio-serial)
#   qgad.path=PATH        the agent's channel (default per method)
#   qgad.args=A;B;C       extra agent arguments, ';' separates them
#   lab.qemuga=1          also start Debian's qemu-ga on org.qemu.guest_agent.1
#   lab.ports=N           virtio-serial ports to wait for before starting
#   lab.probe=1           print "LAB: ready" and power off (accelerator probe)

export PATH=/usr/sbin:/usr/bin
umask 022
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /run /tmp /var/log
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs tmpfs /tmp

say() { echo "LAB: $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }

method=virtio-serial path= args= qemuga=0 ports=0 probe=0
for word in $(cat /proc/cmdline); do
    case "$word" in
    qgad.method=*) method=${word#*=} ;;
    qgad.path=*) path=${word#*=} ;;
    qgad.args=*) args=${word#*=} ;;
    lab.qemuga=*) qemuga=${word#*=} ;;
    lab.ports=*) ports=${word#*=} ;;
    lab.probe=*) probe=${word#*=} ;;
    esac
done

if [ "$probe" = 1 ]; then
    say "ready $(uptime_s)"
    poweroff -f
fi

hostname -F /etc/hostname
while read -r mod; do
    insmod "/lib/modules/$(uname -r)/$mod" || say "insmod $mod failed"
done </etc/lab/modules
say "modules loaded $(uptime_s)"

# Wait (at most ~10 s) for DEVICE to appear.
wait_for() {
    n=0
    while [ ! -e "$1" ] && [ $n -lt 200 ]; do
        usleep 50000
        n=$((n + 1))
    done
    [ -e "$1" ] || say "timeout waiting for $1"
}

# No udev: name the virtio-serial ports from sysfs.  Names arrive from the
# host asynchronously after the driver binds, so wait for all of them.
name_ports() {
    mkdir -p /dev/virtio-ports
    n=0
    while [ $n -lt 200 ]; do
        named=0
        for p in /sys/class/virtio-ports/*; do
            [ -s "$p/name" ] || continue
            named=$((named + 1))
            ln -sf "../${p##*/}" "/dev/virtio-ports/$(cat "$p/name")"
        done
        [ $named -ge "$ports" ] && return
        usleep 50000
        n=$((n + 1))
    done
    say "only $named of $ports virtio-serial ports named"
}
name_ports

ip link set lo up
ip link set eth0 up && ip addr add 192.0.2.10/24 dev eth0

mkdir -p /mnt/blk /mnt/scsi
wait_for /dev/vda
wait_for /dev/sda
mount -t ext4 /dev/vda /mnt/blk || say "mount /dev/vda failed"
mount -t ext4 /dev/sda /mnt/scsi || say "mount /dev/sda failed"
say "devices up $(uptime_s)"

case "$method" in
virtio-serial) : "${path:=/dev/virtio-ports/org.qemu.guest_agent.0}" ;;
isa-serial) : "${path:=/dev/ttyS1}" ;;
vsock-listen) : "${path:=1:1234}" ;;
esac

if [ "$method" != none ]; then
    set -f
    oldifs=$IFS
    IFS=';'
    # shellcheck disable=SC2086
    set -- $args
    IFS=$oldifs
    set +f
    (
        qgad -m "$method" -p "$path" -l /var/log/qgad.log -t /run "$@"
        say "qgad exited with status $?"
    ) &
fi

if [ "$qemuga" = 1 ]; then
    mkdir -p /run/qemu-ga
    (
        qemu-ga -m virtio-serial -p /dev/virtio-ports/org.qemu.guest_agent.1 \
            -t /run/qemu-ga -l /var/log/qemu-ga.log
        say "qemu-ga exited with status $?"
    ) &
fi

say "ready $(uptime_s)"

# The lab's control port: the host writes one shell command per line and
# reads its output followed by "@@LAB-RC <status>".  Reads see EOF while no
# host is connected, hence the outer loop.
ctl=/dev/virtio-ports/org.qgad.lab.0
while :; do
    # A virtio-serial port opens only once: one read-write descriptor.
    if [ -e "$ctl" ]; then
        while read -r line <&3; do
            sh -c "$line" </dev/null >/tmp/ctl.out 2>&1 3>&-
            rc=$?
            cat /tmp/ctl.out >&3
            printf '\n@@LAB-RC %d\n' "$rc" >&3
        done 3<>"$ctl"
    fi
    usleep 200000
done
