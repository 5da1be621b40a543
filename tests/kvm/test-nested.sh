#!/bin/bash
# tests/kvm/nested.sh's own rules, with fake outer QEMUs (no L1 boots):
# an L1 that stops (powers off without the command's status, or its
# console's heartbeat goes silent) is said and run once more; a command
# that overruns an L1 that still answers fails at once, without a second
# L1; the command's output and exit status come through.
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
. "$PVCLOCK_ROOT/tests/tap.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# fake NAME BODY: an outer QEMU whose console file is $c and command
# output file $o; each call appends a line to $tmp/NAME.calls
fake() {
    cat > "$tmp/$1" <<EOF2
#!/bin/bash
for a in "\$@"; do
    case "\$a" in
    file,id=con,path=*) c=\${a#file,id=con,path=} ;;
    file,id=res,path=*) o=\${a#file,id=res,path=} ;;
    esac
done
echo call >> "$tmp/$1.calls"
n=\$(wc -l < "$tmp/$1.calls")
echo "nested: L1 booted, kernel fake" > "\$c"
$2
EOF2
    chmod +x "$tmp/$1"
}
# nested NAME [OPTIONS]: nested.sh with fake NAME; output in $tmp/out,
# status in $rc, the number of L1s in $calls
nested() {
    local f=$1
    shift
    QEMU_OUTER=$tmp/$f PVCLOCK_NESTED_STALL=3 timeout 60 \
        "$PVCLOCK_ROOT/tests/kvm/nested.sh" "$@" -- true > "$tmp/out" 2>&1
    rc=$?
    calls=$(wc -l < "$tmp/$f.calls" 2>/dev/null || echo 0)
}

fake dies 'exit 0'
nested dies
[ $rc = 1 ] && [ "$calls" = 2 ] &&
    grep -q "^# nested: L1 ended without reporting the command's exit status; the command runs again in a new L1" "$tmp/out" &&
    grep -q "^error: L1 ended without reporting the command's exit status (attempt 2" "$tmp/out"
ok $? "an L1 that powers off without the command's status: said, run once more, then a failure naming attempt 2 (exit $rc, $calls L1s)"

fake stalls 'sleep 60'
nested stalls
[ $rc = 1 ] && [ "$calls" = 2 ] &&
    grep -q "^# nested: L1's console silent for 3s (no heartbeat)" "$tmp/out"
ok $? "an L1 whose console heartbeat stops: killed, said, run once more (exit $rc, $calls L1s)"

fake slow 'while :; do echo "nested: alive" >> "$c"; sleep 1; done'
nested slow --timeout 5
[ $rc = 1 ] && [ "$calls" = 1 ] &&
    grep -q "^error: the command still running after 5s; L1 killed (attempt 1" "$tmp/out"
ok $? "a command that overruns an L1 that still answers: fails at once, no second L1 (exit $rc, $calls L1s)"

fake second 'if [ "$n" = 1 ]; then exit 0; fi
echo "ok 1 - from the second L1" > "$o"; echo "nested: exit 7" >> "$c"'
nested second
[ $rc = 7 ] && [ "$calls" = 2 ] && grep -q '^ok 1 - from the second L1$' "$tmp/out" &&
    [ "$(grep -c '^ok ' "$tmp/out")" = 1 ]
ok $? "a second L1 that ends normally: its output and the command's exit status 7 come through, the first's only as comments (exit $rc)"
diag "$(cat "$tmp/out")"

done_testing
