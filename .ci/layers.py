#!/usr/bin/env python3
"""Checks the layering of the tramline crate's src/ (see ARCHITECTURE.md).

Each file or folder directly under src/ is one module (lib.rs, the root, is
left out). Module A depends on module B when code under A names a
`crate::B` path, or a crate-root item that lib.rs re-exports from B. Test
code (a trailing `#[cfg(test)] mod ...` block) and comments are not read.

It fails (exit 1) on:
- a cycle among the top-level modules;
- a module that imports one its layer may not: `vocab` imports nothing
  above it, `proto` only `vocab`, and an engine (`http1`, `http2`) only
  `proto` and `vocab`, never another engine.

usage: layers.py [SRC_DIR]
"""
import os
import re
import sys

SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "src")

# What each lower layer may import, besides itself.
ALLOWED = {
    "rt": set(),
    "vocab": set(),
    "proto": {"vocab"},
    "http1": {"proto", "vocab"},
    "http2": {"proto", "vocab"},
}


def strip(text):
    """Drops a trailing test module, block comments and line comments."""
    found = re.search(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{", text)
    if found:
        text = text[: found.start()]
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    out = []
    for line in text.splitlines():
        # A `//` inside a string literal is rare in this crate; the cut
        # errs toward reading less, never toward a false arrow.
        out.append(line.split("//", 1)[0])
    return "\n".join(out)


def modules(src):
    mods = {}
    for name in sorted(os.listdir(src)):
        path = os.path.join(src, name)
        if name in ("lib.rs", "main.rs"):
            continue
        if name.endswith(".rs"):
            mods[name[:-3]] = [path]
        elif os.path.isdir(path):
            mods[name] = sorted(
                os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith(".rs")
            )
    return mods


def root_exports(src):
    """Crate-root names lib.rs re-exports, mapped to their module."""
    names = {}
    lib = os.path.join(src, "lib.rs")
    if not os.path.exists(lib):
        return names
    code = strip(open(lib, encoding="utf-8").read())
    for m in re.finditer(r"pub\s+use\s+(?:crate::)?(\w+)::([^;]+);", code):
        top, rest = m.group(1), m.group(2)
        for name in re.findall(r"\b(\w+)\b", rest):
            names.setdefault(name, top)
    return names


def paths(code):
    """First segments after `crate::`, expanding `crate::{a::X, b}` groups."""
    heads = re.findall(r"\bcrate::(\w+)", code)
    for group in re.findall(r"\bcrate::\{([^}]*)\}", code):
        for item in group.split(","):
            head = item.strip().split("::")[0].strip()
            if head:
                heads.append(head)
    return heads


def main():
    mods = modules(SRC)
    exports = root_exports(SRC)
    edges = {m: set() for m in mods}
    for mod, files in mods.items():
        for f in files:
            code = strip(open(f, encoding="utf-8").read())
            for head in paths(code):
                target = head if head in mods else exports.get(head)
                if target in mods and target != mod:
                    edges[mod].add(target)

    failures = []
    for mod, allowed in ALLOWED.items():
        for target in sorted(edges.get(mod, ()) - allowed):
            failures.append(f"layer: {mod} imports {target}")

    # Strongly connected components (Tarjan), iteratively.
    index, low, on, stack, order = {}, {}, set(), [], [0]
    cycles = []
    for start in sorted(mods):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = order[0]
        order[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = order[0]
                    order[0] += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(edges[nxt]))))
                    advanced = True
                    break
                if nxt in on:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    cycles.append(sorted(comp))
    for comp in cycles:
        arrows = [f"{a}->{b}" for a in comp for b in sorted(edges[a]) if b in comp]
        failures.append("cycle: " + " ".join(comp) + " | " + ", ".join(arrows))

    for line in failures:
        print(line)
    print(f"{len(mods)} modules, {sum(len(e) for e in edges.values())} arrows, "
          f"{len(cycles)} cycles, {len(failures) - len(cycles)} layer breaches")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
