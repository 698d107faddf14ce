#!/usr/bin/env python3
"""Fails when the top-level modules of the library form a cycle.

Reads every `.rs` file under `src/` (the binaries in `src/bin/` aside), maps
each to its top-level module (`src/store/dynamodb.rs` is `store`), and draws
an edge A -> B for every `crate::B` path in A's code (a `use crate::...`
line, a `use crate::{...}` group, or an inline `crate::B::...` path).
Comments (doc links too) and test code (`#[cfg(test)]` modules, inline or in
their own files) draw no edge. Prints the graph with `-v`; on a cycle,
prints it as `a -> b -> ... -> a` and exits 1.

Usage: scripts/check-module-cycles.py [-v] [SRC_DIR]
"""

import pathlib
import re
import sys


def strip_comments(text: str) -> str:
    """Source without `//` and `/* */` comments; string literals kept."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("r#\"", i) or text.startswith('r"', i):
            hashes = 1 if text[i + 1] == "#" else 0
            end = '"' + "#" * hashes
            j = text.find(end, i + 2 + hashes)
            j = n if j < 0 else j + len(end)
            out.append(text[i:j])
            i = j
        elif c == "'" and i + 2 < n and (text[i + 2] == "'" or text[i + 1] == "\\"):
            # a char literal such as '"' or '\n' (lifetimes are left alone)
            j = text.find("'", i + 2 if text[i + 1] == "\\" else i + 2)
            out.append(text[i : j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def without_test_modules(text: str) -> tuple[str, list[str]]:
    """`text` less its inline `#[cfg(test)] mod x { ... }` blocks, and the
    names of the `#[cfg(test)] mod x;` files it declares."""
    files = re.findall(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text)
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{", text)
        if not m:
            return text, files
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        text = text[: m.start()] + text[i:]


def graph(src: pathlib.Path) -> dict[str, set[str]]:
    files = sorted(p for p in src.rglob("*.rs") if p.relative_to(src).parts[0] != "bin")
    code = {p: without_test_modules(strip_comments(p.read_text())) for p in files}
    files = [p for p in files if p != src / "lib.rs"]
    tops = {p.relative_to(src).parts[0].removesuffix(".rs") for p in files}
    # Files that hold test modules (`#[cfg(test)] mod x;`) draw no edge.
    test_files: set[pathlib.Path] = set()
    for path, (_, test_mods) in code.items():
        folder = path.parent if path.name in ("mod.rs", "lib.rs") else path.with_suffix("")
        for name in test_mods:
            test_files.add(folder / f"{name}.rs")
            test_files.add(folder / name / "mod.rs")
            test_files.update((folder / name).rglob("*.rs"))
    edges: dict[str, set[str]] = {}
    for path, (text, _) in code.items():
        if path in test_files or path == src / "lib.rs":
            continue
        top = path.relative_to(src).parts[0].removesuffix(".rs")
        targets = set(re.findall(r"\bcrate::(\w+)", text))
        for group in re.findall(r"\bcrate::\{([^}]*)\}", text):
            targets.update(re.findall(r"(?:^|,)\s*(\w+)", group))
        edges.setdefault(top, set()).update(t for t in targets if t != top and t in tops)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "-v"]
    src = pathlib.Path(args[0] if args else pathlib.Path(__file__).resolve().parent.parent / "src")
    edges = graph(src)
    if "-v" in sys.argv:
        for node in sorted(edges):
            print(f"{node} -> {', '.join(sorted(edges[node])) or '(leaf)'}")
    cycle = find_cycle(edges)
    if cycle:
        print("module cycle: " + " -> ".join(cycle), file=sys.stderr)
        return 1
    print(f"no module cycle ({len(edges)} top-level modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
