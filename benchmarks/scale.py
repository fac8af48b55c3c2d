"""How the benchmark itself scales with the number of agents: one real fail storm per size.

    python benchmarks/scale.py [--counts 8 64 128 256] [--topology random-k] [--degree 4]
                               [--security curve|none] [--membership pubsub|swim] [--keep DIR]

Each size is one `fsr run` (30 s of work, 30 % SIGKILLed at 10 s, restarted 4 s later) with a
heartbeat of `--hb-interval` x `--hb-liveness` (default 1 s x 3, the config's) and 2 s / 10 s
hop / task timeouts, and stages served with `--service-time` (default none: microseconds, the
task rate 4 a second — how the harness scales, not how loaded agents behave; e.g.
`lognormal:2.26:3.13` for the run's LLM-like default). From its event log: start-up
(first `agent_spawned` -> `mesh_ready`), the storm's strike spread (first to last kill() call),
false suspicions (`peer_suspected` before the first kill: after `mesh_ready`, and in brackets
during start-up, by agents / by the runner's own view of the agents), detection p50/max
(failstorm_metrics.json) and the log's size. Sampled from
/proc while it runs: PSS (smaps_rollup) of the runner (its peak) and of every agent (each one's
peak; median and max over agents) during the work phase, and CPU seconds (utime + stime, the
last value seen of each process) of the whole tree: the runner, its forkserver and resource
tracker, and every agent (victims and their restarts included). Wall time is the whole
`fsr run`. Prints a
Markdown table, one row per size as it completes; `null` lists headline metrics that are not
numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from fsr.eventlog import read_events
from fsr.workload.service import from_flag

HEADLINE = ("recovery_ms", "steady_state_ms", "bytes_reconnect", "success_rate_drop",
            "duplicate_work_ratio")
COLUMNS = ("agents", "start-up s", "strike spread ms", "false susp. (start-up: agents / runner)",
           "detection p50 / max ms", "log MB", "runner PSS MB", "agent PSS median / max MB",
           "CPU s", "wall s", "null metrics")
TICK = 0.25  # CPU times of known processes are re-read this often ...
SCAN_EVERY = 4  # ... and every 4th tick (~1 s): new processes found and PSS read
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(ppid, utime + stime in seconds) from /proc/<pid>/stat, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    # comm (field 2) may hold spaces or parentheses: split after its last ')'
    fields = raw[raw.rfind(b")") + 2:].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 4, 14, 15


def _pss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None  # gone, or a zombie (no mappings)


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


@dataclass
class Sampler:
    """The runner's process tree: last CPU time seen per pid, PSS samples per pid."""

    runner: int
    cpu: dict[int, float] = field(default_factory=dict)
    # runner | forkserver | agent | other (the resource tracker)
    role: dict[int, str] = field(default_factory=dict)
    pss: dict[int, list[tuple[float, int]]] = field(default_factory=dict)  # pid: [(ts, kB)]

    def __post_init__(self) -> None:
        self.role[self.runner] = "runner"

    def scan(self) -> None:
        """Find the runner's descendants (walk every /proc/<pid>/stat's ppid), read all CPU."""
        parent: dict[int, int] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                st = _stat(int(name))
                if st is not None:
                    parent[int(name)] = st[0]
                    if int(name) in self.role:
                        self.cpu[int(name)] = st[1]
        known = {p for p in self.role if p in parent}
        grew = True
        while grew:
            grew = False
            for pid, ppid in parent.items():
                if ppid in known and pid not in known and pid not in self.role:
                    known.add(pid)
                    grew = True
                    # an agent is forked from the forkserver, so it shares its command line
                    self.role[pid] = ("agent" if self.role.get(ppid) == "forkserver" else
                                      "forkserver" if b"forkserver" in _cmdline(pid) else
                                      "other")
                    st = _stat(pid)
                    if st is not None:
                        self.cpu[pid] = st[1]

    def tick(self) -> None:
        """Re-read the CPU time of every known process still alive."""
        for pid in self.role:
            st = _stat(pid)
            if st is not None:
                self.cpu[pid] = st[1]

    def sample_pss(self) -> None:
        now = time.time()
        for pid, role in self.role.items():
            if role in ("runner", "agent"):
                kb = _pss_kb(pid)
                if kb is not None:
                    self.pss.setdefault(pid, []).append((now, kb))

    def peak_mb(self, pid: int, t0: float, t1: float) -> float | None:
        kbs = [kb for ts, kb in self.pss.get(pid, []) if t0 <= ts <= t1]
        return max(kbs) / 1024 if kbs else None


def run(n: int, args: argparse.Namespace, base: Path) -> dict[str, object]:
    cfg = base / f"scale{n}.yaml"
    cfg.write_text(yaml.safe_dump({
        "scenario": {"base_port": 9100},
        "heartbeat": {"interval": args.hb_interval, "liveness": args.hb_liveness},
        "timeouts": {"hop": 2.0, "task": 10.0},
        # how the harness scales, not how loaded agents behave: stages take microseconds
        # (task_rate 4); `--service-time` gives them LLM-like times instead
        "workload": {"service_time": from_flag(args.service_time)},
    }))
    out = base / f"n{n}"
    cmd = [sys.executable, "-m", "fsr", "run", "--config", str(cfg), "--agent-count", str(n),
           "--topology", args.topology, "--degree", str(args.degree),
           "--security", args.security, "--duration", "30", "--kill-at", "10",
           "--restart-delay", "4", "--out", str(out), "--no-report"]
    if args.membership is not None:
        cmd += ["--membership", args.membership]
    console = base / f"n{n}.console"
    t_start = time.time()
    with console.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    sampler = Sampler(proc.pid)
    ticks = 0
    while True:
        if ticks % SCAN_EVERY == 0:
            sampler.scan()
            sampler.sample_pss()
        else:
            sampler.tick()
        ticks += 1
        # wait4 rather than Popen.poll: its rusage is a cross-check of the sampled CPU
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(TICK)
    wall = time.time() - t_start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = console.read_text(errors="replace")[-2000:]
        sys.exit(f"fsr run --agent-count {n} exited {proc.returncode}:\n{tail}")

    log = next((out / "logs").glob("fail_storm_*.jsonl"))
    events, _ = read_events(log)
    first: dict[str, float] = {}
    for e in events:
        first.setdefault(e["event"], e["ts"])
    phases = [(e["name"], e["ts"]) for e in events if e["event"] == "phase"]
    work = next(ts for name, ts in phases if name == "work")
    drain = next((ts for name, ts in phases if name == "drain"), float("inf"))
    kill_ts = min(e["kill_ts"] for e in events if e["event"] == "kill")
    ready = first["mesh_ready"]
    suspects = [(e["ts"], e["node"] == "runner") for e in events
                if e["event"] == "peer_suspected"]
    spread = next(e["ms"] for e in events
                  if e["event"] == "strike_spread" and e.get("storm", 0) == 0)
    metrics = json.loads((out / "failstorm_metrics.json").read_text())

    agents = [mb for pid, role in sampler.role.items() if role == "agent"
              if (mb := sampler.peak_mb(pid, work, drain)) is not None]
    by_role: dict[str, float] = {}
    for pid, role in sampler.role.items():
        by_role[role] = by_role.get(role, 0.0) + sampler.cpu.get(pid, 0.0)
    return {
        "n": n,
        "startup_s": ready - first["agent_spawned"],
        "spread_ms": spread,
        "false_ready": sum(1 for ts, _ in suspects if ready <= ts < kill_ts),
        # during start-up, the agents' membership and the runner's own view apart
        "false_startup": (sum(1 for ts, by_runner in suspects if ts < ready and not by_runner),
                          sum(1 for ts, by_runner in suspects if ts < ready and by_runner)),
        "det": metrics["detection_ms"],
        "log_mb": log.stat().st_size / 1e6,
        "runner_mb": sampler.peak_mb(proc.pid, work, drain),
        "agent_mb": agents,
        "cpu_s": sum(sampler.cpu.values()),
        "cpu_by_role": by_role,
        "rusage_s": usage.ru_utime + usage.ru_stime,
        "wall_s": wall,
        "nulls": [k for k in HEADLINE if not isinstance(metrics.get(k), int | float)
                  or isinstance(metrics.get(k), bool)],
        "processes": sum(1 for r in sampler.role.values() if r == "agent"),
    }


def _num(x: float | None, fmt: str) -> str:
    return "–" if x is None else format(x, fmt)


def row(r: dict) -> str:
    det = r["det"]
    agents_s, runner_s = r["false_startup"]
    susp = f"{r['false_ready']} ({agents_s} / {runner_s})"
    agents = r["agent_mb"]
    cells = [
        str(r["n"]), f"{r['startup_s']:.2f}", f"{r['spread_ms']:.2f}", susp,
        f"{_num(det.get('p50_ms'), '.0f')} / {_num(det.get('max_ms'), '.0f')}",
        f"{r['log_mb']:.1f}", _num(r["runner_mb"], ".0f"),
        (f"{statistics.median(agents):.1f} / {max(agents):.1f}" if agents else "–"),
        f"{r['cpu_s']:.1f}", f"{r['wall_s']:.0f}", ", ".join(r["nulls"]) or "none",
    ]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", type=int, nargs="+", default=[8, 64, 128, 256])
    ap.add_argument("--topology", default="random-k", choices=("full", "star", "ring", "random-k"))
    ap.add_argument("--degree", type=int, default=4)
    ap.add_argument("--hb-interval", type=float, default=1.0, help="heartbeat.interval (s)")
    ap.add_argument("--hb-liveness", type=int, default=3, help="heartbeat.liveness")
    ap.add_argument("--security", default="curve", choices=("curve", "none"))
    ap.add_argument("--service-time", default="none",
                    help="each unit of work's time, as fsr run's flag (default none)")
    # passed on to `fsr run` only when given (older `fsr run`s have no --membership)
    ap.add_argument("--membership", default=None, choices=("pubsub", "swim"),
                    help="default: fsr run's own (pubsub)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the run folders here")
    args = ap.parse_args()

    print(f"topology {args.topology} (degree {args.degree}), security {args.security}, "
          f"membership {args.membership or 'pubsub (default)'}; heartbeat "
          f"{args.hb_interval:g} s x {args.hb_liveness}; service time {args.service_time}\n")
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "|".join("---:" for _ in COLUMNS) + "|", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        for n in args.counts:
            r = run(n, args, base)
            print(row(r), flush=True)
            roles = ", ".join(f"{k} {v:.1f}" for k, v in sorted(r["cpu_by_role"].items()))
            print(f"  {n} agents: {r['processes']} agent processes seen; CPU s by role: {roles}; "
                  f"wait4 rusage of the runner (with reaped descendants) {r['rusage_s']:.1f} s",
                  file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
