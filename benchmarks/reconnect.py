"""Batched against immediate reconnection after a storm that kills half the mesh and restarts it
together (issue #22, item 2): one real `fsr run` per mode, one after the other, same seed.

    python benchmarks/reconnect.py [--agents 256] [--modes batched immediate]
                                   [--topology random-k] [--degree 4] [--security curve]
                                   [--rate R] [--burst B] [--base-port 9100] [--keep DIR]

Each run: `--agents` agents, 50 % SIGKILLed at `--kill-at` s and restarted together
`--restart-delay` s later, `--duration` s of work, stages of `--service-time` (default none:
microseconds, as benchmarks/scale.py: how the mesh reconnects, not how loaded agents behave),
heartbeat 1 s x 3, the batched knobs the config's unless `--rate` / `--burst` say otherwise.
The topology is scale.py's random-k (degree 4) by default; `--topology full` at 256 agents means
65,280 links, more than this 2-core machine sets up within the ready timeout.

Printed per mode, from the run's log (`failstorm_metrics.json`'s `reconnect`, and the log for
suspicions): the peak of handshake attempts on the wire across the mesh in any 1 s window after
the fault; the attempts; the time from the first restart to the full mesh (every neighbour pair
the storm broke ready again, both sides' `handshake_done`), with pairs still broken at the end;
the attempts queued by the admission limit; false suspicions during the wave (`peer_suspected`
no fault explains, by `fsr.metrics.suspicions`' rules, from the first restart to the end of the
work phase; by agents, and in brackets by the runner's own view of the agents);
and CPU seconds: the agents' (with the forkserver that forks them) and the runner's. CPU is the
kernel's count for reaped processes: this script makes itself the subreaper of the run's
process tree (PR_SET_CHILD_SUBREAPER), reaps every descendant, and takes the tree's total from
`getrusage(RUSAGE_CHILDREN)`; the runner's own share (utime + stime) is read from
`/proc/<pid>/stat` every 0.1 s until it exits, and the agents' is the rest.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from fsr import events as ev
from fsr.eventlog import LogEvents
from fsr.metrics.history import build_history
from fsr.metrics.suspicions import false_suspicions as suspicions
from fsr.workload.service import from_flag

PR_SET_CHILD_SUBREAPER = 36
CLK_TCK = os.sysconf("SC_CLK_TCK")
COLUMNS = ("mode", "agents", "victims", "peak handshakes/s", "attempts", "full mesh ms",
           "pairs (broken at end)", "queued (admission)", "false susp. in wave (runner)",
           "CPU s agents", "CPU s runner", "wall s")


@dataclass
class Result:
    mode: str
    agents: int
    victims: int
    reconnect: dict[str, Any]
    false_suspicions: tuple[int, int]  # by agents, by the runner
    cpu_agents: float
    cpu_runner: float
    wall: float


def become_subreaper() -> None:
    """Orphans of the run (its forkserver, agents outliving it) are reparented to this process,
    so their CPU time reaches RUSAGE_CHILDREN when they are reaped here."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")


def own_cpu(pid: int) -> float | None:
    """utime + stime of `pid` itself (its children excluded), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()  # comm may hold spaces: split after its ')'
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # stat fields 14 and 15


def reap_all(deadline: float) -> None:
    """Wait for every descendant left (the forkserver exits once the runner is gone)."""
    while time.time() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)
    sys.exit("some process of the run did not exit within 60 s of the runner")


def config(args: argparse.Namespace, mode: str) -> dict[str, Any]:
    recovery: dict[str, Any] = {"reconnect": mode}
    if args.rate is not None:
        recovery["rate"] = args.rate
    if args.burst is not None:
        recovery["burst"] = args.burst
    return {
        "scenario": {"agent_count": args.agents, "kill_fraction": 0.5, "seed": args.seed,
                     "duration": args.duration, "kill_at": args.kill_at,
                     "restart_delay": args.restart_delay, "base_port": args.base_port,
                     "topology": args.topology, "degree": args.degree,
                     "security": args.security, "protocol": args.protocol},
        "timeouts": {"hop": 2.0, "task": 10.0, "ready": args.ready},
        "workload": {"service_time": from_flag(args.service_time)},
        "recovery": recovery,
    }


def run(args: argparse.Namespace, mode: str, base: Path) -> Result:
    cfg = base / f"{mode}.yaml"
    cfg.write_text(yaml.safe_dump(config(args, mode)))
    out = base / mode
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    with (base / f"{mode}.console").open("wb") as console:
        proc = subprocess.Popen([sys.executable, "-m", "fsr", "run", "--config", str(cfg),
                                 "--out", str(out), "--no-report"],
                                stdout=console, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    runner = 0.0
    while proc.poll() is None:  # the runner's own CPU, read until it exits
        runner = own_cpu(proc.pid) or runner
        time.sleep(0.1)
    wall = time.time() - start
    reap_all(time.time() + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        tail = (base / f"{mode}.console").read_text(errors="replace")[-2000:]
        sys.exit(f"fsr run ({mode}) exited {proc.returncode}:\n{tail}")
    metrics = json.loads((out / "failstorm_metrics.json").read_text())
    log = next((out / "logs").glob("fail_storm_*.jsonl"))
    return Result(mode, metrics["agent_count"], len(metrics["fault"]["victims"]),
                  metrics["reconnect"], false_suspicions(log), total - runner, runner, wall)


def false_suspicions(log: Path) -> tuple[int, int]:
    """False suspicions during the wave, by `fsr.metrics.suspicions`' rules (a `peer_suspected`
    no fault explains: the peer not held by the storm up to its return plus one detection
    window, not a restart, the observer not held), counting those from the first restart to the
    end of the work phase: (by agents, by the runner's view of the agents)."""
    h = build_history(LogEvents(log))
    restarts = [e["ts"] for e in h.of(ev.RESTART)]
    if not restarts:
        return 0, 0
    wave, drain = min(restarts), min((e["ts"] for e in h.of(ev.PHASE)
                                      if e.get("name") == "drain"), default=h.end)
    # only the wave's suspicions are left for the metric's rules to judge
    kept = [e for e in h.events if e["event"] != ev.PEER_SUSPECTED or wave <= e["ts"] < drain]
    found = suspicions(replace(h, events=kept))
    return found["n"] - found["by_runner"], found["by_runner"]


def _cell(value: Any, fmt: str = "") -> str:
    return "–" if value is None else format(value, fmt)


def row(r: Result) -> str:
    rc = r.reconnect
    cells = [r.mode, str(r.agents), str(r.victims), _cell(rc["peak_attempts_per_s"]),
             _cell(rc["attempts"]), _cell(rc["full_mesh_ms"], ".0f"),
             f"{rc['pairs']} ({rc['missing']})", _cell(rc["deferred"]["admission"]),
             f"{r.false_suspicions[0]} ({r.false_suspicions[1]})", f"{r.cpu_agents:.1f}",
             f"{r.cpu_runner:.1f}", f"{r.wall:.0f}"]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--agents", type=int, default=256)
    ap.add_argument("--modes", nargs="+", default=["batched", "immediate"],
                    choices=("batched", "immediate"))
    ap.add_argument("--protocol", default="json")
    ap.add_argument("--topology", default="random-k", choices=("full", "star", "ring",
                                                               "random-k"))
    ap.add_argument("--degree", type=int, default=4)
    ap.add_argument("--security", default="curve", choices=("curve", "none"))
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--kill-at", type=float, default=10.0)
    ap.add_argument("--restart-delay", type=float, default=4.0)
    ap.add_argument("--service-time", default="none", help="as fsr run's flag (default none)")
    ap.add_argument("--rate", type=float, default=None, help="recovery.rate (batched)")
    ap.add_argument("--burst", type=int, default=None, help="recovery.burst (batched)")
    ap.add_argument("--ready", type=float, default=300.0, help="timeouts.ready (s)")
    ap.add_argument("--base-port", type=int, default=9100)
    ap.add_argument("--keep", type=Path, default=None, help="keep the run folders here")
    args = ap.parse_args()

    become_subreaper()
    print(f"{args.agents} agents, {args.protocol}, topology {args.topology}"
          f"{f' (degree {args.degree})' if args.topology == 'random-k' else ''}, security "
          f"{args.security}; 50 % killed at {args.kill_at:g} s, restarted together "
          f"{args.restart_delay:g} s later, {args.duration:g} s of work; seed {args.seed}; "
          f"batched rate {args.rate or 'default'} / burst {args.burst or 'default'}\n")
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(COLUMNS) - 1)) + "|", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        for mode in args.modes:
            print(row(run(args, mode, base)), flush=True)


if __name__ == "__main__":
    main()
