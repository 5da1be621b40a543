# Sourced by the guest tests (after scripts/lib.sh and tests/tap.sh).
# shellcheck shell=bash
#
# start_host_helper NAME [socket|pages]: make $tmp (/tmp/NAME-XXXXXX,
# removed at exit), skip the whole test if this host's clocks cannot be
# shared, start pvclock-helper ($helper_pid, stopped at exit) and wait
# until the pages are published.  Sets H to the host build and $pages to
# what QEMU's pages= takes: the helper's --socket ($tmp/pages.sock, its
# sealed memfd; the default, as users run it) or --pages file.
start_host_helper() {
    local mode=${2:-socket}
    H=$PVCLOCK_BUILD/host
    tmp=$(mktemp -d "/tmp/$1-XXXXXX")
    helper_pid=
    trap '[ -n "$helper_pid" ] && kill "$helper_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
    if ! "$H/pvclock-helper" --check > "$tmp/check" 2>&1; then
        echo "1..0 # SKIP this host's clocks cannot be shared: $(tail -1 "$tmp/check")"
        exit 0
    fi
    if [ "$mode" = socket ]; then
        pages=$tmp/pages.sock
    else
        pages=$tmp/pages
    fi
    "$H/pvclock-helper" "--$mode" "$pages" 2> "$tmp/helper.log" &
    helper_pid=$!
    for _ in $(seq 50); do
        "$H/pvclock-helper" --inspect "--$mode" "$pages" > /dev/null 2>&1 && return
        sleep 0.1
    done
}
