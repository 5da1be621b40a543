# SPDX-License-Identifier: GPL-2.0-or-later
#
# Instructions one pvclock_gettime() call executes, counted by gdb
# single-stepping read-cost: a figure that does not move with the
# machine's noise, beside read-cost's timings.  For each clock, a call
# on the host handle (pc) and one on the BAR image (bar), each after
# 100 warm calls; the count runs from the call to its return.
#
#   gdb -q -batch -x bench/read-insns.py --args read-cost --pages P --calls-only
#
# Output: "read_insns_<path>_<clock> N count", as bench/run's figures.
import gdb

CLOCKS = (("realtime", 0), ("tai", 11), ("monotonic", 1),
          ("monotonic_raw", 4), ("boottime", 7))


def steps_of_next_call(handle, clk):
    bp = gdb.Breakpoint("pvclock_gettime", internal=True)
    bp.condition = "$rdi == (unsigned long)%s && $esi == %d" % (handle, clk)
    bp.ignore_count = 100
    gdb.execute("continue", to_string=True)
    bp.delete()
    ret = int(gdb.parse_and_eval("*(unsigned long *)$sp"))
    n = 0
    while int(gdb.parse_and_eval("$pc")) != ret:
        gdb.execute("stepi", to_string=True)
        n += 1
        if n > 100000:
            raise gdb.GdbError("read-insns: no return after 100000 steps")
    return n


gdb.execute("set pagination off")
gdb.execute("set confirm off")
gdb.execute("starti", to_string=True)
for name, clk in CLOCKS:
    for path, handle in (("host", "pc"), ("bar", "bar")):
        print("read_insns_%s_%s %d count"
              % (path, name, steps_of_next_call(handle, clk)))
gdb.execute("kill", to_string=True)
