"""Print the largest classes and every function over a line limit (the STYLE.md sizes).

    python scripts/sizes.py [--limit 60] [PATH ...]

A class counts its whole body; a function counts from ``def`` to its last line, nested
functions included in their parent and listed on their own too.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path


def _spans(path: Path) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    classes: list[tuple[int, str]] = []
    functions: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            size = (node.end_lineno or node.lineno) - first + 1
            where = f"{path}:{node.lineno} {node.name}"
            (classes if isinstance(node, ast.ClassDef) else functions).append((size, where))
    return classes, functions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", default=["s2st_kit"])
    ap.add_argument("--limit", type=int, default=60, help="function size limit (lines)")
    ap.add_argument("--classes", type=int, default=5, help="how many of the largest classes")
    args = ap.parse_args()
    classes: list[tuple[int, str]] = []
    functions: list[tuple[int, str]] = []
    for root in args.paths:
        files = [Path(root)] if root.endswith(".py") else sorted(Path(root).rglob("*.py"))
        for f in files:
            c, fn = _spans(f)
            classes += c
            functions += fn
    print("largest classes:")
    for size, where in sorted(classes, reverse=True)[: args.classes]:
        print(f"  {size:5d}  {where}")
    long = sorted((s, w) for s, w in functions if s > args.limit)
    print(f"functions over {args.limit} lines: {len(long)}")
    for size, where in reversed(long):
        print(f"  {size:5d}  {where}")


if __name__ == "__main__":
    main()
