#!/usr/bin/env python3
"""Fails when a crate's modules import each other in a circle.

For every crate of the workspace (a folder with a Cargo.toml and a src/), each source
file is a module; a module depends on another when it names it through `crate::…` or
`super::…` (in a `use` or anywhere in its code). A cycle among those dependencies is an
import circle: the modules cannot be understood, or moved, one at a time. Prints each
circle found and exits 1; exits 0 when there are none.

    scripts/import_cycles.py [workspace root]
"""

import re
import sys
from pathlib import Path

PATH = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
COMMENT = re.compile(r"//[^\n]*")


def modules(src: Path) -> dict:
    """Module path (a tuple) -> file, for every .rs file under src/."""
    found = {}
    for file in sorted(src.rglob("*.rs")):
        rel = file.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] in ("lib", "main") and len(parts) == 1:
            parts = []
        elif parts[-1] == "mod":
            parts = parts[:-1]
        if len(parts) == 1 and src.name == "src" and parts[0] in ("bin",):
            continue
        found[tuple(parts)] = file
    return found


def resolve(path: tuple, known: dict):
    """The longest prefix of `path` that is a module (the module named)."""
    for end in range(len(path), -1, -1):
        if path[:end] in known:
            return path[:end]
    return None


def edges(module: tuple, file: Path, known: dict) -> set:
    text = COMMENT.sub("", file.read_text())
    # A file that is not a mod.rs/lib.rs is its module; `super` is its parent.
    is_dir_module = file.name in ("mod.rs", "lib.rs", "main.rs")
    out = set()
    for root, rest in PATH.findall(text):
        names = tuple(n for n in rest.split("::") if n)
        if root == "crate":
            target = names
        else:
            base = list(module)
            # `super` in foo.rs and in foo/mod.rs both name foo's parent.
            base = base[:-1]
            while names and names[0] == "super":
                base = base[:-1]
                names = names[1:]
            target = tuple(base) + names
        named = resolve(target, known)
        if named is not None and named != module and named != module[: len(named)]:
            out.add(named)
        elif named is not None and named != module and root == "super":
            # A child naming its parent's items: a real dependency on the parent.
            out.add(named)
    return out


def cycles(graph: dict) -> list:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return found


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
    failed = False
    for manifest in sorted(root.glob("*/Cargo.toml")):
        src = manifest.parent / "src"
        if not src.is_dir():
            continue
        known = modules(src)
        graph = {m: edges(m, f, known) for m, f in known.items()}
        for component in cycles(graph):
            failed = True
            names = ["crate" + "".join("::" + p for p in m) for m in component]
            print(f"{manifest.parent.name}: modules import each other in a circle: {', '.join(names)}")
    if not failed:
        print("no import circles")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
