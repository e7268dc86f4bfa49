# Sourced by dev.sh and test.sh: the Debian packages qgad builds and tests with, and an
# installer that adds only the missing ones (as root, on a fresh Debian 12 machine).
qgad_build_packages=(libuv1-dev libyajl-dev libcmocka-dev pkg-config cmake gcc make python3 socat)
# the QEMU lab (test/e2e)
qgad_lab_packages=(qemu-system-x86 qemu-utils busybox-static e2fsprogs passwd)

install_missing() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "$(basename "$0"): missing packages: ${missing[*]} (run as root to install them)" >&2
        return 1
    fi
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}
