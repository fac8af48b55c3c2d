"""`fsr run` end to end: run folder, document, runner, progress, metrics file, summary."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from fsr.config import Config, ConfigError
from fsr.eventlog import read_events
from fsr.metrics import compute_metrics
from fsr.runner.coordinator import RunFailed, Runner
from fsr.runner.progress import Progress
from fsr.runner.rundir import prepare_run, write_metrics
from fsr.workload import DocumentError, load_document


def launch(cfg: Config, out: str | None, debug: bool, report: bool = True) -> int:
    console = Console(stderr=True)
    try:
        doc = load_document(cfg.workload.document)
        plan, plan_path = prepare_run(cfg, out)
    except (ConfigError, DocumentError, OSError) as exc:
        console.print(f"fsr: error: {exc}", markup=False, highlight=False)
        return 2
    run_dir = Path(plan.run_dir)
    code = 0
    with Progress(console, log_path=plan.log_path if debug else None) as progress:
        runner = Runner(cfg, plan, plan_path, doc, progress)
        try:
            runner.run()
        except RunFailed as exc:
            console.print(f"fsr: run failed: {exc}", markup=False)
            code = 1
        except KeyboardInterrupt:
            console.print("fsr: interrupted; agents stopped", markup=False)
            code = 130
    events, bad = read_events(plan.log_path)
    metrics = compute_metrics(events, bad)
    path = write_metrics(run_dir, metrics)
    print_summary(console, metrics, path, plan.log_path)
    if report:
        write_report(console, run_dir)
    return code


def write_report(console: Console, run_dir: Path) -> None:
    """The run's report/; a plot must never fail a run, so any error is a one-line warning."""
    try:
        from fsr.report import write_run_report

        console.print(f"report:  {write_run_report(run_dir)}", markup=False, highlight=False)
    except Exception as exc:
        console.print(f"fsr: warning: report not written ({type(exc).__name__}: {exc})",
                      markup=False, highlight=False)


def print_summary(console: Console, m: dict, path: Path, log_path: str) -> None:
    table = Table(title=f"fsr {m['protocol']} — {m['agent_count']} agents", show_header=False)
    rows = [
        ("recovery_ms", m["recovery_ms"]), ("steady_state_ms", m["steady_state_ms"]),
        ("bytes_reconnect", m["bytes_reconnect"]), ("success_rate_drop", m["success_rate_drop"]),
        ("duplicate_work_ratio", m["duplicate_work_ratio"]),
        ("detection_ms p50 / max",
         f"{m['detection_ms']['p50_ms']} / {m['detection_ms']['max_ms']}"),
        ("tasks submitted / correct", f"{m['tasks']['submitted']} / {m['tasks']['correct']}"),
        ("success rate", m["tasks"]["success_rate"]),
        ("EM / F1 (answered)", f"{m['tasks']['em']} / {m['tasks']['f1']}"),
        ("answered per s", m["throughput"]["answered_per_s"]),
        ("bytes total", m["bytes"]["total"]),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)
    console.print(f"metrics: {path}\nlog:     {log_path}", markup=False, highlight=False)
