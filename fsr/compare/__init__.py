"""`fsr compare`: run protocols × repeats of the fail storm and report mean ± 95 % CI per protocol.

`run` plans and executes the runs, `aggregate` turns a comparison folder into statistics (pure,
so `fsr compare --from DIR` recomputes everything without running), `report` writes the files
and prints the tables, `stats` holds the confidence-interval math. `router` compares a mesh that
mixes protocols by role, the mix chosen from single-protocol runs, with the best single protocol
(`benchmarks/router.py` runs it).
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from fsr.compare.aggregate import aggregate, load_runs
from fsr.compare.html import write_comparison_report
from fsr.compare.report import print_tables, write_reports
from fsr.compare.run import Comparison, Launch, execute, stderr_line


def report(folder: Path, console: Console) -> dict:
    """Aggregate a comparison folder, write its files (JSON, CSV, Markdown, HTML report) and
    print its tables."""
    settings, runs = load_runs(folder)
    if not runs:
        raise ValueError(f"no runs found in {folder}")
    cmp = aggregate(settings, runs)
    paths = write_reports(cmp, folder, {r.dir: r.metrics for r in runs if r.metrics})
    paths.append(write_comparison_report(folder))
    print_tables(console, cmp)
    console.print("\n".join(f"wrote {p}" for p in paths), markup=False, highlight=False)
    return cmp


def run_and_report(cmp: Comparison, launch: Launch, console: Console) -> int:
    """Exit code: 0 all runs counted, 1 some run failed (the rest is still reported), 130
    interrupted."""
    start = time.monotonic()
    code = execute(cmp, launch, stderr_line)
    result = report(cmp.folder, console)
    console.print(f"comparison wall time: {time.monotonic() - start:.1f} s", markup=False,
                  highlight=False)
    if code:
        return code
    return 1 if any(p["failed"] for p in result["protocols"].values()) else 0


__all__ = ["report", "run_and_report"]
