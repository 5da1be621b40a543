#!/usr/bin/env python3
"""Fill the cover letter of the patch series from the tree.

    cover-letter.py TEMPLATE ROOT QEMU_VERSION COVER-PATCH

TEMPLATE is scripts/cover-letter.txt: '#' lines dropped, the first line
the subject, the rest the body, with placeholders for what the tree
knows (see its header).  COVER-PATCH is git format-patch's 0000 file,
whose *** SUBJECT HERE *** and *** BLURB HERE *** are replaced in place.
A placeholder the tree cannot answer is an error, never a guess.
"""
import re
import sys
import textwrap


def die(msg):
    sys.exit("error: cover letter: " + msg)


def read(root, path):
    try:
        with open(f"{root}/{path}") as f:
            return f.read()
    except OSError as e:
        die(f"cannot read {path}: {e}")


def define(text, name, path):
    m = re.search(rf"^#define\s+{name}\s+(\S+)", text, re.M)
    if not m:
        die(f"no #define {name} in {path}")
    return m.group(1)


def abi_version(root):
    path = "include/pvclock-pages/pvclock-pages-abi.h"
    h = read(root, path)
    return f"{int(define(h, 'PVCP_ABI_MAJOR', path), 0)}." \
           f"{int(define(h, 'PVCP_ABI_MINOR', path), 0)}"


def pci_id(root):
    path = "include/pvclock-pages/pvclock-pages-abi.h"
    h = read(root, path)
    return f"{int(define(h, 'PVCP_PCI_VENDOR_ID', path), 0):04x}:" \
           f"{int(define(h, 'PVCP_PCI_DEVICE_ID', path), 0):04x}"


def split_args(s):
    """The top-level comma-separated arguments of a macro call."""
    args, depth, cur = [], 0, ""
    for c in s:
        if c == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
            continue
        depth += (c == "(") - (c == ")")
        cur += c
    args.append(cur.strip())
    return args


def properties(root):
    """-device pvclock-pages,help's lines for the configuration
    properties (the glue's Property array, then each part's in the
    order of hw/pvclock/parts.c; x- ones are not for users)."""
    path = "hw/pvclock/pvclock-pages.c"
    src = read(root, path)
    m = re.search(r"Property\s+pvclock_pages_properties\[\]\s*=\s*\{(.*?)\n\};",
                  src, re.S)
    if not m:
        die(f"no pvclock_pages_properties[] in {path}")
    body = m.group(1)
    # then each part's, in the order of the parts table (parts.c)
    for part in re.findall(r"/\* part: (\S+\.c) \*/$",
                           read(root, "hw/pvclock/parts.c"), re.M):
        pm = re.search(r"Property\s+pvclock_\w+_properties\[\]\s*=\s*"
                       r"\{(.*?)\n\};", read(root, f"hw/pvclock/{part}"), re.S)
        if pm:
            body += "\n" + pm.group(1)
    # enum properties: PVCLOCK_ENUM_PROP(lname, "Type", "desc", "v1", ...)
    enums = {}
    for em in re.finditer(r"^PVCLOCK_ENUM_PROP\((.*?)\);", src, re.S | re.M):
        a = split_args(em.group(1))
        enums[a[0] + "_info"] = (a[1].strip('"'), [v.strip('"') for v in a[3:]])
    lines = []
    for pm in re.finditer(r"DEFINE_PROP_(\w+)\((.*?)\),\s*$", body, re.S | re.M):
        kind, a = pm.group(1), split_args(" ".join(pm.group(2).split()))
        name = a[0].strip('"')
        if name.startswith("x-"):
            continue
        if kind == "BOOL":
            line = f"{name}=<bool> (default: {a[3]})"
        elif kind == "STRING":
            line = f"{name}=<str>"
        elif kind == "LINK":
            line = f"{name}=<link to {a[3]}>"
            line = line.replace("TYPE_MEMORY_BACKEND", "memory-backend")
        elif kind == "SIGNED" and a[4] in enums:
            tname, values = enums[a[4]]
            dflt = [v for v in values
                    if a[3].endswith("_" + v.upper().replace("-", "_"))]
            if len(dflt) != 1:
                die(f"{name}: default {a[3]} is none of {values}")
            line = f"{name}=<{tname}> - {'/'.join(values)} (default: {dflt[0]})"
        else:
            die(f"{name}: DEFINE_PROP_{kind} is not known to scripts/cover-letter.py")
        lines.append("  " + line)
    if not lines:
        die(f"no properties found in {path}")
    return "\n".join(lines)


def benchmarks(root):
    text = read(root, "docs/benchmarks.md")
    figs = {}
    for m in re.finditer(r"^\| `(\w+)` \| ([^|]+?) \| ([^|]+?)\s*\|", text, re.M):
        unit = m.group(3).strip()
        figs[m.group(1)] = m.group(2) + ("" if unit in ("count", "ratio") else " " + unit)
    src = re.search(r"^Written by `([^`]+)` on (\S+?)\.\s*\nMachine: (.*?)\n\n",
                    text, re.M | re.S)
    if not src:
        die("docs/benchmarks.md does not say when and where it was written")
    machine = " ".join(src.group(3).split()).rstrip(".")
    return figs, f"{src.group(2)}, {machine}"


def main():
    template, root, qemu_version, cover = sys.argv[1:5]
    with open(template) as f:
        text = "".join(l for l in f if not l.startswith("#"))
    subject, _, body = text.strip("\n").partition("\n\n")
    figs, bench_source = benchmarks(root)

    def bench(m):
        if m.group(1) not in figs:
            die(f"no figure {m.group(1)} in docs/benchmarks.md")
        return figs[m.group(1)]
    # a paragraph with figures in it is wrapped again once they are in
    paras = body.split("\n\n")
    for i, para in enumerate(paras):
        if "@BENCH" in para:
            para = re.sub(r"@BENCH:(\w+)@", bench, para)
            para = para.replace("@BENCH_SOURCE@", bench_source)
            paras[i] = textwrap.fill(" ".join(para.split()), width=72,
                                     break_on_hyphens=False)
    body = "\n\n".join(paras)
    for key, value in (("ABI_VERSION", abi_version), ("PCI_ID", pci_id),
                       ("PROPERTIES", properties)):
        if f"@{key}@" in body:
            body = body.replace(f"@{key}@", value(root))
    body = body.replace("@QEMU_VERSION@", qemu_version)
    left = re.findall(r"@[A-Z_]+(?::\w+)?@", subject + body)
    if left:
        die(f"unknown placeholders in {template}: {' '.join(sorted(set(left)))}")
    with open(cover) as f:
        letter = f.read()
    for mark in ("*** SUBJECT HERE ***", "*** BLURB HERE ***"):
        if mark not in letter:
            die(f"{cover} has no {mark}")
    letter = letter.replace("*** SUBJECT HERE ***", subject)
    letter = letter.replace("*** BLURB HERE ***", body)
    with open(cover, "w") as f:
        f.write(letter)


main()
