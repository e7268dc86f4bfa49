#!/bin/bash
# Build qgad and run it in dev mode on TCP loopback (127.0.0.1:4444, debug log on stderr).
# Usage: scripts/dev.sh [extra qgad options...]     (QGAD_DEV_PORT=NNNN to change the port)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
port="${QGAD_DEV_PORT:-4444}"
# shellcheck source=deps.sh
source "$root/scripts/deps.sh"

install_missing "${qgad_build_packages[@]}"
cmake -S "$root" -B "$root/build" -DQGAD_WERROR=ON
cmake --build "$root/build" -j"$(nproc)"

state="$root/build/dev-state"
mkdir -p "$state"
cat <<MSG
qgad dev mode: listening on 127.0.0.1:$port, state in $state (Ctrl-C stops it)
Talk to it from another terminal:
  socat - TCP:127.0.0.1:$port
      then type: {"execute":"guest-info"}
  python3 -c 'import socket; s=socket.create_connection(("127.0.0.1",$port)); s.sendall(b"{\"execute\":\"guest-get-osinfo\"}"); print(s.makefile().readline())'
MSG
exec "$root/build/qgad" -m tcp-listen -p "127.0.0.1:$port" -t "$state" -v "$@"
