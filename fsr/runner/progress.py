"""Live progress of a run: phase, elapsed time, tasks answered/failed, live agents (rich)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table


class Progress:
    def __init__(self, console: Console | None = None, log_path: str | None = None) -> None:
        self.console = console or Console(stderr=True)
        # --debug streams every event of the log instead of drawing the table
        self.debug_log = open(log_path, "rb") if log_path else None  # noqa: SIM115
        self.live: Live | None = None
        self._last = 0.0
        self._last_phase = ""

    def __enter__(self) -> Progress:
        if self.console.is_terminal and self.debug_log is None:
            self.live = Live(console=self.console, auto_refresh=False, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)
        if self.debug_log is not None:
            self._stream()
            self.debug_log.close()

    def _stream(self) -> None:
        assert self.debug_log is not None
        for line in self.debug_log.readlines():
            self.console.print(line.decode(errors="replace").rstrip(), markup=False,
                               highlight=False)

    def update(self, runner: Any) -> None:
        now = time.time()
        if self.debug_log is not None:
            self._stream()
            return
        if self.live is None:  # not a terminal: one line per phase change
            if runner.phase != self._last_phase:
                self._last_phase = runner.phase
                self.console.print(f"[fsr] phase {runner.phase}  {self._summary(runner)}")
            return
        if now - self._last < 0.25:
            return
        self._last = now
        table = Table.grid(padding=(0, 2))
        table.add_row("phase", f"[bold]{runner.phase}[/]")
        table.add_row("elapsed", f"{now - runner.t0:6.1f} s" if runner.t0 else "-")
        table.add_row("tasks", self._summary(runner))
        live = sum(runner.monitor.alive(a) for a in runner.agent_ids)
        table.add_row("live agents", f"{live}/{len(runner.agent_ids)}")
        self.live.update(table, refresh=True)

    @staticmethod
    def _summary(runner: Any) -> str:
        c = runner.counts
        return (f"submitted {c['submitted']}  answered {c['answered']}  failed {c['failed']}  "
                f"timed out {c['timed_out']}")
