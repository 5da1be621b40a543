# Reading a guest's serial console while the guest is still writing it.
# Sourced by the tests that answer a guest's requests as they appear.
#
# QEMU writes the console file a byte at a time as the guest's UART sends
# them, so a reader can find the last line half written: under KVM nested
# in TCG one character is a VM exit, and "ready-exchange-restart" stays
# "ready-exchange-res" long enough to be read.  Only whole lines count.

# console_lines FILE...: the lines of each FILE that end in a newline
# (the last one, still being written, is left out); NUL bytes dropped
console_lines() {
    local f c
    for f; do
        c=$(tr -d '\0' 2>/dev/null < "$f"; echo .)
        case $c in *$'\n'*) printf '%s\n' "${c%$'\n'*}" ;; esac
    done
}

# console_asks ERE FILE...: for each whole line of the FILEs that is
# ERE (anchored at both ends; a trailing CR allowed), what ERE's first
# group matched, one per line
console_asks() {
    local re=$1
    shift
    console_lines "$@" | sed -nE "s/^$re\r?\$/\1/p"
}
