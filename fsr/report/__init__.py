"""Reports people can look at: a run's plots and one self-contained HTML page.

Every number is recomputed from the run's event log (`log_metrics` → `compute_metrics`), never
read from ``failstorm_metrics.json``: the report shows what the log proves, so a stale or edited
metrics file cannot leak into it, and the same log always renders the same report.

``RUN_DIR/report/`` gets ``timeline.png``, ``detection.png`` and ``report.html`` (the two images
embedded); a comparison folder gets ``comparison.html`` from its ``comparison.json``. How to read
them: docs/reading-the-report.md.

``report.html`` leads with the answer: the five metrics of the spec (null ones with their reason),
what the storm caught in flight (``inflight``), the timeline; then everything else, long tables
folded in closed ``<details>``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fsr.metrics import log_metrics
from fsr.metrics.history import History

REPORT_DIR = "report"
LOG_GLOB = "logs/fail_storm_*.jsonl"
COMPARISON_JSON = "comparison.json"  # what `fsr compare` writes; comparison.html is made from it


class ReportError(Exception):
    """The folder holds no readable run log; the message says what is wrong, in one line."""


@dataclass(frozen=True)
class Run:
    run_dir: Path
    log: Path
    event_count: int
    unreadable: int
    history: History
    metrics: dict[str, Any]


def find_log(run_dir: Path) -> Path:
    logs = sorted(run_dir.glob(LOG_GLOB))
    if len(logs) != 1:
        found = "no" if not logs else f"{len(logs)}"
        raise ReportError(f"{run_dir}: {found} {LOG_GLOB} found; expected exactly one run log")
    return logs[0]


def load_run(run_dir: str | Path) -> Run:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir}: no such run folder")
    log = find_log(run_dir)
    try:
        history, metrics, events = log_metrics(log)
    except (ValueError, KeyError, StopIteration, IndexError) as exc:
        raise ReportError(f"{log} is not a readable fsr run log ({exc})") from exc
    return Run(run_dir, log, events.read, events.unreadable, history, metrics)


def write_run_report(run_dir: str | Path) -> Path:
    """Render ``RUN_DIR/report/`` from the run's log; returns the path of ``report.html``."""
    # Imported here: matplotlib costs ~0.5 s to import, and `fsr run --no-report` or `fsr replay`
    # should not pay it.
    from fsr.report.html import run_page
    from fsr.report.marks import storm_marks
    from fsr.report.plots import SHADE_MEANING, detection_png, timeline_png

    run = load_run(run_dir)
    m = run.metrics
    marks = storm_marks(run.history, m)
    title = f"{m['protocol']} · {m['agent_count']} agents · seed {m['seed']} · {m['run_id']}"
    det = m["details"]["detection"]
    images = {
        "timeline.png": (
            timeline_png(m["timeline"], marks, m["agent_count"], title),
            "Per second since the broadcast: the storm per victim (top), tasks completed and "
            f"correct, live agents, wire bytes by category. Shaded: {SHADE_MEANING}."),
        "detection.png": (
            detection_png(marks, det["missing"], title),
            "Detection latency per (observer, victim): the moment each surviving agent's "
            "protocol stopped using the victim (first peer_lost), minus the victim's kill() "
            "call. Hatched: missed (it sent the victim something and never noticed)."),
    }
    out = run.run_dir / REPORT_DIR
    out.mkdir(exist_ok=True)
    for name, (data, _) in images.items():
        _write(out / name, data)
    source = (f"Recomputed from {run.log.relative_to(run.run_dir)} ({run.event_count} events, "
              f"{run.unreadable} unreadable lines) by fsr report; failstorm_metrics.json is not "
              "read.")
    page = run_page(m, run.history.config, images, source)
    html_path = out / "report.html"
    _write(html_path, page.encode())
    return html_path


def _write(path: Path, data: bytes) -> None:
    """Atomic, like the metrics file: a viewer never sees half an image."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


__all__ = ["COMPARISON_JSON", "REPORT_DIR", "ReportError", "Run", "load_run",
           "write_run_report"]
