#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""No function in contrib/, hw/pvclock/ or include/pvclock-pages/ (its
headers too) is longer than LIMIT lines (TAP).

A function is a top-level brace block whose opening line follows a
line that ends a declarator with ')' (the style every file here uses:
the opening brace of a function on a line of its own).  Its length is
the number of lines from that brace to the closing one.  Struct and
array initialisers are not functions and are not counted.

    tests/unit/function-length.py [LIMIT] [ROOT]
"""
import os
import re
import sys

LIMIT = int(sys.argv[1]) if len(sys.argv) > 1 else 80
ROOT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
# the helper and library, and the device
DIRS = ["contrib", os.path.join("hw", "pvclock"),
        os.path.join("include", "pvclock-pages")]


def strip(line):
    """The line without string and character literals and // comments."""
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])*'", "''", line)
    return line.split("//")[0]


def functions(path):
    """(name, first line, length) of each function in path."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out, depth, start, name, in_comment = [], 0, None, None, False
    for i, raw in enumerate(lines):
        line = raw
        if in_comment:
            if "*/" not in line:
                continue
            line = line.split("*/", 1)[1]
            in_comment = False
        line = re.sub(r"/\*.*?\*/", "", strip(line))
        if "/*" in line:
            line, in_comment = line.split("/*", 1)[0], True
        if depth == 0 and line.startswith("{") and i > 0:
            head = "\n".join(lines[max(0, i - 6):i])
            m = re.findall(r"(\w+)\s*\([^;{}]*\)\s*$", head, re.S)
            if m:
                start, name = i, m[-1]
        depth += line.count("{") - line.count("}")
        if depth == 0 and start is not None and "}" in line:
            out.append((name, start + 1, i - start + 1))
            start = None
    return out


def main():
    files = []
    for top in DIRS:
        for d, _, names in os.walk(os.path.join(ROOT, top)):
            files += [os.path.join(d, n) for n in sorted(names)
                      if n.endswith(".c") or
                      (top.startswith("include") and n.endswith(".h"))]
    found = [(os.path.relpath(p, ROOT), *f) for p in sorted(files)
             for f in functions(p)]
    print("1..2")
    ok = len(found) > 20
    print("%s 1 - %d functions found in %d files under %s" %
          ("ok" if ok else "not ok", len(found), len(files),
           " and ".join(d + "/" for d in DIRS)))
    longest = sorted(found, key=lambda f: -f[3])[:3]
    for path, name, line, n in longest:
        print("# longest: %s:%d %s(), %d lines" % (path, line, name, n))
    over = [f for f in found if f[3] > LIMIT]
    for path, name, line, n in over:
        print("# %s:%d %s() has %d lines" % (path, line, name, n))
    print("%s 2 - no function under %s is longer than %d lines "
          "(%d are)" % ("ok" if not over else "not ok",
                        " or ".join(d + "/" for d in DIRS), LIMIT, len(over)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
