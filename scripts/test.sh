#!/bin/bash
# Everything CI runs: a -Werror build with all tests (unit, proto, e2e) in build/, and an
# ASan+UBSan build with all but the slow e2e label in build-asan/. Exits non-zero on any
# failure.
set -uo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=deps.sh
source "$root/scripts/deps.sh"

install_missing "${qgad_build_packages[@]}" "${qgad_lab_packages[@]}" || exit 1

jobs="$(nproc)"
status=0
summary=()

run_suite() { # name builddir ctest-args...
    local name="$1" dir="$2" log
    shift 2
    log="$dir/ctest.log"
    echo "=== $name: ctest $* ==="
    (cd "$dir" && ctest --output-on-failure -j"$jobs" "$@") 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] || status=1
    summary+=("$name: $(grep -E 'tests passed|tests failed' "$log" | tail -1) (exit $rc)")
}

build() { # dir cmake-args...
    local dir="$1"
    shift
    if ! cmake -S "$root" -B "$dir" "$@" || ! cmake --build "$dir" -j"$jobs"; then
        summary+=("$dir: BUILD FAILED")
        status=1
        return 1
    fi
}

if build "$root/build" -DQGAD_WERROR=ON -DQGAD_LOOP_STALL_CHECK=ON; then
    run_suite normal "$root/build"
fi
if build "$root/build-asan" -DQGAD_WERROR=ON -DQGAD_SANITIZE=ON -DQGAD_LOOP_STALL_CHECK=ON; then
    # ASan+UBSan makes the loop's own work 2-5x slower and its allocator's background
    # release takes the mm lock (108 ms measured in a 1M-request flood): its stall
    # threshold is 250 ms, the normal build's the 20 ms default; QGAD_ASAN_STALL_MS overrides
    QGAD_STALL_MS="${QGAD_ASAN_STALL_MS:-250}" \
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}" \
        run_suite asan "$root/build-asan" -LE e2e
fi

echo "=== summary ==="
printf '%s\n' "${summary[@]}"
exit "$status"
