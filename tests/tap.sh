# Minimal TAP producer for the shell test scripts.  Source, don't run.
# shellcheck shell=bash
_tap_n=0
_tap_fail=0
ok() {          # ok COND-STATUS DESCRIPTION
    local st=$1; shift
    _tap_n=$((_tap_n + 1))
    if [ "$st" = 0 ]; then
        echo "ok $_tap_n - $*"
    else
        echo "not ok $_tap_n - $*"
        _tap_fail=$((_tap_fail + 1))
    fi
}
skip() {
    _tap_n=$((_tap_n + 1))
    echo "ok $_tap_n - $1 # SKIP ${2:-}"
}
diag() { [ -n "$*" ] && printf '%s\n' "$@" | sed 's/^/# /'; return 0; }
done_testing() {
    echo "1..$_tap_n"
    [ "$_tap_fail" = 0 ]
}
