"""One host's controller: the Ray actor that starts, signals and stops the agents of its host,
and hands their events back to the runner.

The runner places one controller on every host (`fsr.cluster.engine`), pinned to the host's
Ray node. A controller runs the single-machine `Supervisor` on its host: agents are forked from a
forkserver there, each with ``PR_SET_PDEATHSIG``, so an agent dies with its controller, and the
controller (an actor the runner's driver owns) dies with the driver — Ray kills the actors of a
driver that exits, however it exits. That is the "no orphans on any node" chain.

What lives on the host, in a 0700 folder of its own (``<tmp>/fsr-<run_id>/<host>``): the plan,
rewritten so the agents' log and keys are there; the run's CURVE keys in a 0600 file (they reach
the host through Ray's object transfer, never through the log); the agents' event log, which the
runner pulls in whole lines as the run goes (`pull`), so a host that dies loses at most what it
wrote since the last pull; and the agents' stderr files, shipped at the end (`finish`).
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from fsr.agents.supervisor import Supervisor, raise_harness_priority
from fsr.bus.security import key_path
from fsr.cluster import netfaults
from fsr.injector.process import Hit, signal_burst

PLAN_FILE = "plan.json"
LOG_FILE = "events.jsonl"


def host_dir(run_id: str, host: str) -> Path:
    return Path(tempfile.gettempdir()) / f"fsr-{run_id}" / host


class HostController:
    """Runs as a Ray actor on its host (``ray.remote(HostController)``, made by the engine);
    every method is a remote call from the runner."""

    def __init__(self, host: str, run_id: str) -> None:
        self.host, self.run_id = host, run_id
        self.dir = host_dir(run_id, host)
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.log_path = self.dir / LOG_FILE
        self.supervisor: Supervisor | None = None
        # multiprocessing re-imports its parent's __main__ in every child it starts: here Ray's
        # worker script, which imports Ray (an agent of 45 MB PSS instead of 12, 0.15 s more to
        # start). A __main__ whose spec is named __main__ is skipped (multiprocessing.spawn).
        sys.modules["__main__"].__spec__ = importlib.machinery.ModuleSpec("__main__", None)
        # as the runner does on one machine: this controller and its forkserver (started next)
        # at nice -10, so starting and signalling agents is not starved by the agents
        self.nice = raise_harness_priority()
        self._shipped = 0  # bytes of the log already pulled

    def clock(self) -> float:
        """This host's clock, for the runner's offset measurement (`fsr.cluster.clock`)."""
        return time.time()

    def prepare(self, plan_json: str, keys: bytes | None) -> None:
        """Write the run's plan for this host's agents (its log and keys here) and the keys."""
        raw = json.loads(plan_json)
        raw["run_dir"], raw["log_path"] = str(self.dir), str(self.log_path)
        (self.dir / PLAN_FILE).write_text(json.dumps(raw))
        if keys is not None:
            fd = os.open(key_path(self.dir), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(keys)
        self.log_path.touch()
        self.supervisor = Supervisor(self.dir / PLAN_FILE, self.dir)

    def _sup(self) -> Supervisor:
        assert self.supervisor is not None, "prepare() first"
        return self.supervisor

    def spawn(self, node_id: str) -> int:
        self._sup().spawn(node_id)
        return self._sup().pid(node_id)

    def spawn_all(self, node_ids: list[str]) -> dict[str, int]:
        return {n: self.spawn(n) for n in node_ids}

    def signal(self, node_ids: list[str], signum: int, at: float = 0.0
               ) -> tuple[list[Hit], bool]:
        """One burst of `signum` to these agents (`fsr.injector.process.signal_burst`) at `at`
        on this host's clock (at once if it has passed): each hit's time is this host's clock
        at its kill() call."""
        sup = self._sup()
        targets = [(n, sup.pid(n)) for n in node_ids]
        while (left := at - time.time()) > 0:
            if left > 0.002:  # sleep most of the wait, spin the last 2 ms
                time.sleep(left - 0.002)
        return signal_burst(targets, signal.Signals(signum))

    def pull(self) -> tuple[bytes, list[str]]:
        """The log's whole lines written since the last pull, and the agents not running."""
        with self.log_path.open("rb") as fh:
            fh.seek(self._shipped)
            data = fh.read()
        data = data[: data.rfind(b"\n") + 1]  # a line being written waits for the next pull
        self._shipped += len(data)
        sup = self._sup()
        return data, sorted(n for n in sup.procs if not sup.alive(n))

    def cut(self, storm: int, sources: list[str], ports: tuple[int, int],
            percent: float | None) -> None:
        """Drop what comes from `sources` on the agents' ports (`fsr.cluster.netfaults`)."""
        netfaults.cut(storm, sources, (ports[0], ports[1]), percent)

    def heal(self, storm: int) -> int:
        return netfaults.heal(storm)

    def stop_all(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop_all()

    def finish(self) -> tuple[bytes, dict[str, bytes]]:
        """After `stop_all`: the rest of the log, the agents' stderr files (name -> bytes), and
        this host's folder removed."""
        rest, _ = self.pull()
        stderr = {p.name: p.read_bytes() for p in self.dir.glob("*.stderr")}
        with contextlib.suppress(OSError):
            shutil.rmtree(self.dir)
        return rest, stderr
