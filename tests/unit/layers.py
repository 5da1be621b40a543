#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""hw/pvclock's layers run one way, and page 4 has one writer (TAP).

DESIGN.md's layering: host pages, then the counter relation, then the
offset page, then its subscribers (interrupt, VMClock), then the PCI
glue, which owns the watch and tells each layer in turn.  This reads
hw/pvclock/*.c, finds the file that defines each function or variable
other files may use (not static), and fails when a file uses one
defined in a file of a higher layer (LAYERS below), or when a file
other than offset-page.c writes a field of the offset page.

    tests/unit/layers.py [DIR]      DIR: default hw/pvclock

A use is any mention of the name outside comments and strings: a call,
or a function pointer handed on (a callback calls upward too).  A write
of the offset page is an assignment (=, op=, ++, --) to a field reached
through `offset_page->` or through a `struct pvcp_offset_page *` that
is not const, or such a field's address given to memcpy(), memset(),
memmove(), qatomic_*() or st*_p().  Files of one layer may use each
other.  The last test plants a violation of each kind in a copy of DIR
and requires both to be found, so that a parser that sees nothing
cannot pass.

The state (struct PvclockPagesState in pvclock-pages-internal.h) is a
set of small structs, one per concern, each written by its own file:
no field of it may be written from two files.  A field is written by an
assignment to it (=, op=, ++, --) through a pointer to the state or to
one of its sub-structs (their types read from the header, those
used nowhere else there), its address
given to memcpy(), memset(), memmove(), qatomic_*(), st*_p(), QEMU's
initialisers (memory_region_init*(), object_initialize_child*(),
qemu_thread_create(), timer_init*()) or, as an out-parameter, to a
function of hw/pvclock whose parameter there is not const, or through a
non-const pointer to it kept in a local.  The unit is a member of the
state: a field, or a concern's struct with all its fields.  qdev's
property setters write no file.  Its self-check plants writes of each
kind of a field another file writes.
"""
import fnmatch
import os
import re
import shutil
import sys
import tempfile

# Lowest first.  (layer, file patterns, why it sits there)
LAYERS = [
    ("host-source", ["host-source.c"],
     "where the host pages come from (pages=, memdev=), and the BAR's "
     "read-only views of host memory"),
    ("live-page", ["live-page.c"],
     "QEMU's own vDSO data page in the BAR; host-pages.c reads clocks "
     "through it"),
    ("host-pages", ["host-pages.c"],
     "reads, checks and watches the host pages: reports what changed, "
     "never writes page 4"),
    ("relation", ["relation.c"],
     "the guest counter -> host counter transform, arithmetic only"),
    ("counter", ["counter-*.c"],
     "one backend per accelerator reads the relation (relation.c's rules)"),
    ("offset-page", ["offset-page.c"],
     "the only writer of page 4: status, generation, transforms, offsets"),
    ("subscribers", ["irq.c", "vmclock.c"],
     "the interrupt and VMClock read what the offset page published"),
    ("glue", ["pvclock-pages.c", "parts.c", "migration.c"],
     "the PCI device: realize, properties, the watch and its fan-out, "
     "VM state and migration hooks"),
]

# The one file that may write page 4.
WRITER = "offset-page.c"

DEFAULT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "..", "..", "hw", "pvclock")


def layer_of(name):
    """(index, layer name) of file name, or None."""
    for i, (layer, pats, _) in enumerate(LAYERS):
        if any(fnmatch.fnmatch(name, p) for p in pats):
            return i, layer
    return None


def strip(text):
    """text without comments, string and character literals or
    preprocessor lines; newlines kept, so offsets keep their lines."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (min(j, n) - i - 1) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    lines = "".join(out).split("\n")
    cont = False
    for k, line in enumerate(lines):
        if cont or line.lstrip().startswith("#"):
            cont = line.rstrip().endswith("\\")
            lines[k] = ""
    return "\n".join(lines)


FUNC_HEAD = re.compile(r"(\w+)\s*\((?:[^()]|\([^()]*\))*\)\s*$", re.S)
DATA_HEAD = re.compile(r"(\w+)\s*(?:\[[^\]]*\])?\s*=\s*$", re.S)


def definitions(code):
    """{name: static?} of the functions and initialised variables
    defined at file scope in stripped code."""
    defs, depth, head, body_is_func = {}, 0, [], False
    for c in code:
        if depth == 0:
            if c == "{":
                text = "".join(head)
                m = FUNC_HEAD.search(text)
                d = DATA_HEAD.search(text)
                body_is_func = bool(m) and "=" not in text
                name = m.group(1) if body_is_func else d.group(1) if d else None
                if name:
                    static = re.search(r"\bstatic\b", text) is not None
                    defs[name] = defs.get(name, True) and static
                depth = 1
                head.append(c)
                continue
            if c == ";":
                head = []
                continue
            head.append(c)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                if body_is_func:
                    head = []
                else:
                    head.append("{}")
    return defs


def line_at(code, pos):
    return code.count("\n", 0, pos) + 1


# a field path after the pointer: ->a.b[i]->c
PATH = r"->\s*\w+(?:\s*(?:\.\s*\w+|->\s*\w+|\[[^\]]*\]))*"
ASSIGN = r"\s*(?:=(?!=)|[-+*/%|&^]=|<<=|>>=|\+\+|--)"
WRITE_FN = (r"\b(?:memcpy|memset|memmove|st[bwlq]\w*_p|"
            r"qatomic_(?!read|load|rcu_read)\w+)\s*\(\s*"
            r"(?:\([^()]*\)\s*)?&?\s*")


def offset_page_writes(code):
    """(line, text) of each write to a field of the offset page."""
    ptrs = ["offset_page"]
    for m in re.finditer(r"(?<!const )\bstruct\s+pvcp_offset_page\s*\*\s*"
                         r"(\w+)", code):
        ptrs.append(m.group(1))
    found = []
    for p in ptrs:
        via = (r"(?:\w+\s*(?:->|\.)\s*)*\b" + p if p == "offset_page"
               else r"(?<![\w>.])" + p)
        for rx in (via + PATH + ASSIGN,
                   r"(?:\+\+|--)\s*" + via + PATH,
                   WRITE_FN + via + r"(?:" + PATH + r")?\s*[,)+]"):
            for m in re.finditer(rx, code):
                found.append((line_at(code, m.start()),
                              " ".join(m.group(0).split())))
    return sorted(set(found))


STATE = "PvclockPagesState"
HEADER = "pvclock-pages-internal.h"
INIT_FN = re.compile(r"^(?:memory_region_init\w*|object_initialize_child\w*|"
                     r"qemu_thread_create|qemu_mutex_init|qemu_cond_init|"
                     r"qemu_event_init|timer_init\w*)$")


def state_types(path):
    """{type: member} of the structs embedded once in the state."""
    with open(os.path.join(path, HEADER), encoding="utf-8") as f:
        hdr = strip(f.read())
    m = re.search(r"struct\s+" + STATE + r"\s*\{(.*?)\n\};", hdr, re.S)
    if not m:
        return {}
    seen = {}
    for t, name in re.findall(r"^\s*(Pvclock\w+)\s+(\w+)\s*;", m.group(1),
                              re.M):
        seen.setdefault(t, []).append(name)
    # a type used elsewhere too (a relation, a sample) also lives outside
    # the state: a pointer to it says nothing
    rest = hdr[:m.start()] + hdr[m.end():]
    return {t: names[0] for t, names in seen.items() if len(names) == 1 and
            len(re.findall(r"\b" + t + r"\b", rest)) <= 2}


def prototypes(codes):
    """{function: [parameter text]} of every function declared in codes."""
    protos = {}
    for code in codes:
        for m in re.finditer(r"\b(\w+)\s*\(([^()]*(?:\([^()]*\)[^()]*)*)\)"
                             r"\s*[;{]", code):
            if m.group(1) in ("if", "while", "for", "switch", "return",
                              "sizeof"):
                continue
            params = [x.strip() for x in m.group(2).split(",")]
            if params and all(re.search(r"\w\W+\w", x) for x in params):
                protos.setdefault(m.group(1), params)
    return protos


def field_path(text):
    """'a.b[i].c' -> ('a', 'b', 'c')."""
    return tuple(re.findall(r"\w+", re.sub(r"\[[^\]]*\]", "", text)))


def call_of(code, pos):
    """(callee, argument index) of the call whose argument list holds
    pos, or None."""
    depth, commas, i = 0, 0, pos - 1
    while i >= 0:
        c = code[i]
        if c in ")]":
            depth += 1
        elif c in "[":
            depth -= 1
        elif c == "(":
            if depth == 0:
                m = re.search(r"(\w+)\s*$", code[:i])
                return (m.group(1), commas) if m else None
            depth -= 1
        elif c == "," and depth == 0:
            commas += 1
        elif c in ";{}" and depth == 0:
            return None
        i -= 1
    return None


def state_writes(code, types, protos):
    """(field path, line, text) of each write to a field of the state."""
    ptrs = {}
    for m in re.finditer(r"(?<!const )\b(" + "|".join([STATE] + list(types))
                         + r")\s*\*\s*(\w+)", code):
        ptrs[m.group(2)] = () if m.group(1) == STATE else (types[m.group(1)],)
    member = r"(\w+(?:\s*(?:\.\s*\w+|\[[^\]]*\]))*)(?!\s*(?:->|\.|\[|\w))"
    found = []

    def via(p):
        if p == "PVCLOCK_PAGES":
            return r"\bPVCLOCK_PAGES\s*\([^()]*\)\s*->\s*"
        return r"(?<![\w>.])" + p + r"\s*->\s*"

    for p in list(ptrs) + ["PVCLOCK_PAGES"]:
        pre = ptrs.get(p, ())
        v = via(p)
        for rx in (v + member + ASSIGN, r"(?:\+\+|--)\s*" + v + member,
                   WRITE_FN + v + member + r"\s*[,)+]"):
            for m in re.finditer(rx, code):
                found.append((pre + field_path(m.group(1)),
                              line_at(code, m.start()),
                              " ".join(m.group(0).split())))
        # the address handed on: an out-parameter, or kept to write through
        for m in re.finditer(r"&\s*" + v + member, code):
            path = pre + field_path(m.group(1))
            text = " ".join(m.group(0).split())
            a = re.search(r"(?<!const )\b\w+\s*\*\s*(\w+)\s*=\s*$",
                          code[max(0, m.start() - 80):m.start()])
            if a:
                alias = a.group(1)
                for w in re.finditer(
                        r"(?<![\w>.])" + alias + r"\s*->\s*" + member +
                        ASSIGN + r"|(?:\+\+|--)\s*" + alias + r"\s*->", code):
                    found.append((path, line_at(code, w.start()),
                                  " ".join(w.group(0).split())))
                continue
            call = call_of(code, m.start())
            if not call:
                continue
            fn, k = call
            params = protos.get(fn)
            if INIT_FN.match(fn) or (params and k < len(params) and
                                     "*" in params[k] and
                                     not params[k].startswith("const")):
                found.append((path, line_at(code, m.start()),
                              "%s(... %s ...)" % (fn, text)))
    return sorted(set(found))


def shared_writes(files, code, types, protos):
    """[(member, [(file, line, text)])] for each member of the state (a
    field, or a concern's struct) written from two files."""
    by = {}
    for n in files:
        for path, line, text in state_writes(code[n], types, protos):
            by.setdefault(path[0], []).append((n, line, text))
    return [(name, sorted(ws)) for name, ws in sorted(by.items())
            if len({w[0] for w in ws}) > 1]


def uses(code, names):
    """{name: first line} of each of names mentioned in code."""
    first = {}
    for m in re.finditer(r"\b[A-Za-z_]\w*\b", code):
        if m.group(0) in names and m.group(0) not in first:
            first[m.group(0)] = line_at(code, m.start())
    return first


def examine(path):
    """Every finding about DIR: (unplaced, defs, dups, upward, writes)."""
    files = sorted(n for n in os.listdir(path) if n.endswith(".c"))
    code = {}
    for n in files:
        with open(os.path.join(path, n), encoding="utf-8") as f:
            code[n] = strip(f.read())
    unplaced = [n for n in files if layer_of(n) is None]
    owner, dups = {}, []
    for n in files:
        for name, static in definitions(code[n]).items():
            if static:
                continue
            if name in owner and owner[name] != n:
                dups.append((name, owner[name], n))
            owner.setdefault(name, n)
    upward = []
    for n in files:
        mine = layer_of(n)
        own = set(definitions(code[n]))
        names = {k for k, v in owner.items() if v != n and k not in own}
        for name, line in sorted(uses(code[n], names).items(),
                                 key=lambda x: x[1]):
            theirs = layer_of(owner[name])
            if mine and theirs and theirs[0] > mine[0]:
                upward.append((n, line, name, owner[name], mine[1],
                               theirs[1]))
    writes = [(n, line, text) for n in files if n != WRITER
              for line, text in offset_page_writes(code[n])]
    hdr = os.path.join(path, HEADER)
    with open(hdr, encoding="utf-8") as f:
        protos = prototypes([strip(f.read())] + list(code.values()))
    types = state_types(path)
    shared = shared_writes(files, code, types, protos)
    return files, unplaced, owner, dups, upward, writes, shared


def planted_found(path):
    """Does the check see a planted upward call and a planted write?"""
    tmp = tempfile.mkdtemp(prefix="layers-")
    try:
        for n in os.listdir(path):
            if n.endswith(".c") or n == HEADER:
                shutil.copy(os.path.join(path, n), tmp)
        with open(os.path.join(tmp, "host-pages.c"), "a",
                  encoding="utf-8") as f:
            f.write("\nstatic void planted(PvclockPagesState *s)\n{\n"
                    "    struct pvcp_offset_page *op = s->offset_page;\n\n"
                    "    s->offset_page->generation += 1;\n"
                    "    op->mono_offset[0].sec = 0;\n"
                    "    pvclock_pages_publish(s, \"planted\");\n}\n")
        _, _, _, _, upward, writes, _ = examine(tmp)
        return (any(u[0] == "host-pages.c" and u[2] == "pvclock_pages_publish"
                    for u in upward) and
                len([w for w in writes if w[0] == "host-pages.c" and
                     ("generation" in w[2] or "mono_offset" in w[2])]) >= 2)
    finally:
        shutil.rmtree(tmp)


def planted_state_writes_found(path):
    """Is each kind of write of a field another file writes found?  The
    writes are planted in the glue, pvclock-pages.c, of a field written
    by one other file only."""
    files = sorted(n for n in os.listdir(path) if n.endswith(".c"))
    code = {}
    for n in files:
        with open(os.path.join(path, n), encoding="utf-8") as f:
            code[n] = strip(f.read())
    with open(os.path.join(path, HEADER), encoding="utf-8") as f:
        protos = prototypes([strip(f.read())] + list(code.values()))
    types = state_types(path)
    target = "pvclock-pages.c"
    by = {}
    for n in files:
        for p, _, _ in state_writes(code[n], types, protos):
            by.setdefault(p, set()).add(n)
    leaf = sorted(p for p, fs in by.items() if
                  not any(q[0] == p[0] and target in by[q] for q in by) and
                  not any(q != p and q[:len(p)] == p for q in by))
    if not leaf:
        return False
    f = ".".join(leaf[0])
    tmp = tempfile.mkdtemp(prefix="layers-")
    kinds = ["s->%s = 0;" % f, "s->%s |= 1;" % f, "s->%s--;" % f,
             "memset(&s->%s, 0, 1);" % f,
             "pvclock_planted_out(&s->%s);" % f]
    try:
        for n in os.listdir(path):
            if n.endswith(".c") or n == HEADER:
                shutil.copy(os.path.join(path, n), tmp)
        with open(os.path.join(tmp, target), encoding="utf-8") as g:
            lines0 = g.read().count("\n")
        with open(os.path.join(tmp, target), "a", encoding="utf-8") as g:
            g.write("\nvoid pvclock_planted_out(uint64_t *v);\n")
            for i, k in enumerate(kinds):
                g.write("\nstatic void planted%d(PvclockPagesState *s)\n"
                        "{\n    %s\n}\n" % (i, k))
        shared = examine(tmp)[6]
        hits = {line for name, ws in shared if name == leaf[0][0]
                for n, line, _ in ws if n == target and line > lines0}
        return len(hits) == len(kinds)
    finally:
        shutil.rmtree(tmp)


def tap(n, ok, what):
    print("%s %d - %s" % ("ok" if ok else "not ok", n, what))


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_DIR
    files, unplaced, owner, dups, upward, writes, shared = examine(path)
    print("1..8")
    for i, (layer, pats, why) in enumerate(LAYERS):
        print("# layer %d %-11s %-28s %s" % (i, layer, " ".join(pats), why))
    tap(1, files and not unplaced,
        "each of %d files in %s has a layer%s" %
        (len(files), path, (" (not: %s)" % ", ".join(unplaced))
         if unplaced else ""))
    tap(2, len(owner) >= 30,
        "%d functions and variables other files may use" % len(owner))
    for name, a, b in dups:
        print("# %s is defined in %s and in %s" % (name, a, b))
    tap(3, not dups, "each is defined in one file")
    for n, line, name, theirs, lo, hi in upward:
        print("# %s:%d uses %s of %s (layer %s, above %s)" %
              (n, line, name, theirs, hi, lo))
    tap(4, not upward, "no file uses a function of a higher layer "
        "(%d uses do)" % len(upward))
    for n, line, text in writes:
        print("# %s:%d writes the offset page: %s" % (n, line, text))
    tap(5, not writes, "only %s writes the offset page (%d writes "
        "elsewhere)" % (WRITER, len(writes)))
    tap(6, planted_found(path), "a planted upward call and two planted "
        "offset page writes in host-pages.c are found")
    for name, ws in shared:
        print("# %s is written from %d files: %s" %
              (name, len({w[0] for w in ws}),
               ", ".join("%s:%d" % (n, line) for n, line, _ in ws)))
    tap(7, not shared, "no member of %s (a field, or a concern's struct) "
        "is written from two files (%d are)" % (STATE, len(shared)))
    tap(8, planted_state_writes_found(path), "five planted writes (=, |=, "
        "--, memset, an out-parameter) of a field another file writes are "
        "found in pvclock-pages.c")
    return 0


if __name__ == "__main__":
    sys.exit(main())
