"""``python -m benchmarks [--quick] [--json PATH] [--only NAMES]``: run the suite, print one table.

Exit status 0 when every benchmark ran (MISSes are reported, not failures); 1 if one raised.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
import json
import math
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from . import BENCHMARKS
from .common import BenchResult, Figure

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def machine_info() -> dict[str, Any]:
    """CPU model, core count, memory (GiB), OS, Python, load averages (1/5/15 min)."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = math.nan
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = int(line.split()[1]) / 1024**2
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "affinity_cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "memory_gib": round(mem_gib, 1),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def _fmt(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    a = abs(value)
    if unit in ("ev/s", "cells/min", "µs") or a >= 1000:
        text = f"{value:,.0f}"
    elif a >= 100:
        text = f"{value:.0f}"
    elif a >= 10:
        text = f"{value:.1f}"
    elif a >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3f}"
    return f"{text} {unit}".rstrip()


def table(results: list[BenchResult]) -> str:
    """The one results table (plain text)."""
    rows: list[tuple[str, str, str, str, str]] = []
    for r in results:
        if r.skipped:
            rows.append((r.name, "(skipped)", "", "", r.skipped))
            continue
        for f in r.figures:
            verdict = "" if f.ok is None else ("PASS" if f.ok else "MISS")
            rows.append((f.benchmark, f.metric, _fmt(f.value, f.unit), f.target, verdict))
    head = ("benchmark", "metric", "value", "target", "result")
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)
    ]
    widths[4] = max(6, widths[4]) if all(len(r[4]) <= 6 for r in rows) else widths[4]

    def line(cells: tuple[str, ...]) -> str:
        parts = [
            cells[0].ljust(widths[0]),
            cells[1].ljust(widths[1]),
            cells[2].rjust(widths[2]),
            cells[3].ljust(widths[3]),
            cells[4],
        ]
        return "  ".join(parts).rstrip()

    out = [line(head), "  ".join("-" * w for w in widths)]
    previous = None
    for r in rows:
        if previous is not None and r[0] != previous:
            out.append("")
        out.append(line(r))
        previous = r[0]
    notes = [
        f"  {f.benchmark}: {f.metric} — {f.note}" for res in results for f in res.figures if f.note
    ]
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item"):  # numpy scalars
        return _jsonable(obj.item())
    return obj


def _figure_dict(f: Figure) -> dict[str, Any]:
    return {
        "benchmark": f.benchmark,
        "metric": f.metric,
        "value": f.value,
        "unit": f.unit,
        "target": f.target,
        "result": None if f.ok is None else ("PASS" if f.ok else "MISS"),
        "note": f.note,
    }


async def run_all(names: list[str], *, quick: bool) -> list[BenchResult]:
    """Run the named benchmarks one after another (each gets the machine to itself)."""
    results = []
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        t = time.perf_counter()
        try:
            res: BenchResult = await module.run(quick=quick)
        except Exception as exc:
            traceback.print_exc()
            res = BenchResult(name, skipped=f"FAILED: {type(exc).__name__}: {exc}")
            res.details["failed"] = True
        res.wall_s = time.perf_counter() - t
        print(f"[bench] {name} done in {res.wall_s:.1f} s", file=sys.stderr, flush=True)
        results.append(res)
    return results


def main(argv: list[str] | None = None) -> int:
    """Entry point; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny inputs (smoke test)")
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help=f"where to write the results (default {DEFAULT_JSON.relative_to(Path.cwd()) if DEFAULT_JSON.is_relative_to(Path.cwd()) else DEFAULT_JSON}; "
        "--quick writes nothing unless given)",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated subset of: " + ", ".join(BENCHMARKS)
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
    started = dt.datetime.now(dt.UTC)
    machine = machine_info()
    t = time.perf_counter()
    results = asyncio.run(run_all(names, quick=args.quick))
    total = time.perf_counter() - t
    print(table(results))
    print(
        f"\nsuite wall time {total:.0f} s; load average before {machine['loadavg']}, "
        f"after {os.getloadavg() if hasattr(os, 'getloadavg') else None}"
    )
    path = args.json if args.json is not None else (None if args.quick else DEFAULT_JSON)
    if path is not None:
        commit = _git("rev-parse", "HEAD")
        dirty = _git("status", "--porcelain", "--", "s2st_kit", "benchmarks")
        doc = {
            "date": started.isoformat(timespec="seconds"),
            "git_commit": commit,
            "git_dirty": bool(dirty),
            "quick": args.quick,
            "machine": machine,
            "loadavg_after": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "suite_wall_s": total,
            "figures": [_figure_dict(f) for r in results for f in r.figures],
            "benchmarks": {
                r.name: {"wall_s": r.wall_s, "skipped": r.skipped, "details": r.details}
                for r in results
            },
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_jsonable(doc), indent=2, ensure_ascii=False) + "\n")
        print(f"results written to {path}")
    return 1 if any(r.details.get("failed") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
