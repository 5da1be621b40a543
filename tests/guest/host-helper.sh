# Sourced by the guest tests (after scripts/lib.sh and tests/tap.sh).
# shellcheck shell=bash
#
# start_host_helper NAME: make $tmp (/tmp/NAME-XXXXXX, removed at exit),
# skip the whole test if this host's clocks cannot be shared, start
# pvclock-helper on $tmp/pages ($helper_pid, stopped at exit) and wait
# until the pages are published.  Sets H to the host build.
start_host_helper() {
    H=$PVCLOCK_BUILD/host
    tmp=$(mktemp -d "/tmp/$1-XXXXXX")
    helper_pid=
    trap '[ -n "$helper_pid" ] && kill "$helper_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
    if ! "$H/pvclock-helper" --check > "$tmp/check" 2>&1; then
        echo "1..0 # SKIP this host's clocks cannot be shared: $(tail -1 "$tmp/check")"
        exit 0
    fi
    "$H/pvclock-helper" --pages "$tmp/pages" 2> "$tmp/helper.log" &
    helper_pid=$!
    for _ in $(seq 50); do
        "$H/pvclock-helper" --inspect --pages "$tmp/pages" > /dev/null 2>&1 && return
        sleep 0.1
    done
}
