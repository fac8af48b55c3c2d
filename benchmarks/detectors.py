"""Failure detectors against each other: detection latency of real faults against false
suspicions per agent-hour, in five settings, each detector at several thresholds.

    python benchmarks/detectors.py [--settings pause starve weighted weighted-fast startup]
                                   [--quick | --only DETECTOR ...] [--seeds N ...]
                                   [--keep DIR] [--plot PNG]
    python benchmarks/detectors.py --from DIR [DIR ...] [--plot PNG]   # table and plot only

Settings (each a real `fsr run`, json, one after the other; figures from its metrics file, which
the run computed from its own log):

* ``pause``   — 30 % of 8 agents SIGSTOPped at 12 s for 10 s (a hung process): detection is
  the heartbeat view's (`details.detection.membership`, first `peer_suspected` per surviving
  observer and victim);
* ``starve``  — a SIGKILL storm at 12 s while a CPU hog of 2 x cores busy processes, started by
  this script, runs from t0 + 6 s for 14 s (starvation around the strike): detection of the real
  kills under load, and the suspicions load alone caused;
* ``weighted`` — the same, the hog at nice -20: CFS weight 88761 against the agents' 1024, about
  a Kubernetes BestEffort pod against a 2-CPU Guaranteed neighbour;
* ``weighted-fast`` — ``weighted`` with heartbeats every 0.1 s (etcd's default heartbeat
  interval): the starved observers' lateness, tens to hundreds of ms, is then a few intervals;
* ``startup`` — 256 agents, random-k (degree 4), CurveZMQ, no storm: the start-up's CURVE
  handshakes make heartbeats late; only false suspicions count.

Detectors: fixed at liveness 2, 3, 5; phi at threshold 4, 8, 12 (Akka's pause and minimum
deviation) and at 8 with a 2-interval pause; fixed 3, phi 8 and phi 8 pause 2 with the
starvation guard (`fsr.bus.starvation`); phi-exp at 8; SWIM with its fixed suspicion and with
Lifeguard. False suspicions are `false_suspicions` (`fsr.metrics.suspicions`): suspicions of a
peer no fault held; the runner's own view is counted apart (`by_runner`): under SWIM it keeps
the fixed detector.
With `--seeds`, every run is repeated per seed and the table adds rows pooled over them (the
median of the detection p50s, the false suspicions summed). `--plot` draws detection p50
against false suspicions per agent-hour, one panel per setting.
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
from pathlib import Path
from typing import Any

import yaml

DETECTORS: list[tuple[str, dict[str, Any]]] = [
    ("fixed liveness 2", {"detector": "fixed", "liveness": 2}),
    ("fixed liveness 3", {"detector": "fixed", "liveness": 3}),
    ("fixed liveness 5", {"detector": "fixed", "liveness": 5}),
    ("phi 4", {"detector": "phi", "phi_threshold": 4}),
    ("phi 8", {"detector": "phi", "phi_threshold": 8}),
    ("phi 8 pause 2", {"detector": "phi", "phi_threshold": 8, "phi_pause": 2}),
    ("fixed 3 guard", {"detector": "fixed", "liveness": 3, "starvation_guard": True}),
    ("phi 8 guard", {"detector": "phi", "phi_threshold": 8, "starvation_guard": True}),
    ("phi 8 pause 2 guard", {"detector": "phi", "phi_threshold": 8, "phi_pause": 2,
                             "starvation_guard": True}),
    ("phi 12", {"detector": "phi", "phi_threshold": 12}),
    ("phi-exp 8", {"detector": "phi-exp", "phi_threshold": 8}),
    ("swim", {"membership": "swim", "detector": "fixed"}),
    ("swim lifeguard", {"membership": "swim", "detector": "lifeguard"}),
]
QUICK = {"fixed liveness 3", "phi 8", "swim", "swim lifeguard"}

SETTINGS: dict[str, dict[str, Any]] = {
    "pause": {"scenario": {"duration": 30, "kill_at": 12, "fault": "pause",
                           "fault_duration": 10, "seed": 3}},
    "starve": {"scenario": {"duration": 30, "kill_at": 12, "restart_delay": 2.5, "seed": 3}},
    "weighted": {"scenario": {"duration": 30, "kill_at": 12, "restart_delay": 2.5, "seed": 3}},
    "weighted-fast": {"scenario": {"duration": 30, "kill_at": 12, "restart_delay": 2.5, "seed": 3},
                      "heartbeat": {"interval": 0.1}},
    "startup": {"scenario": {"agent_count": 256, "duration": 5, "kill_fraction": 0.0,
                             "topology": "random-k", "degree": 4, "seed": 3},
                "timeouts": {"ready": 300}},
}
HOG_AT, HOG_FOR = 6.0, 14.0  # starve, weighted: seconds after t0, and how long
# the hog's nice value per setting: -20 is CFS weight 88761 against the agents' 1024 at nice 0
# (kernel/sched/core.c sched_prio_to_weight), about what a Kubernetes BestEffort pod has against a
# 2-CPU Guaranteed neighbour: cpu.shares 2 (kubelet pkg/kubelet/cm/helpers_linux.go MinShares)
# against 2048, cgroup v2 weight 1 against 79 (runc ConvertCPUSharesToCgroupV2Value)
HOG_NICE = {"starve": 0, "weighted": -20, "weighted-fast": -20}


def broadcast_time(out: Path, proc: subprocess.Popen[bytes]) -> float | None:
    """t0 from the live log (the run's own clock), or None if the run ended first."""
    while proc.poll() is None:
        for log in (out / "logs").glob("fail_storm_*.jsonl") if (out / "logs").exists() else []:
            for line in log.read_bytes().splitlines():
                if b'"broadcast"' in line:
                    return float(json.loads(line)["ts"])
        time.sleep(0.2)
    return None


def cpu_hog(seconds: float, nice: int) -> list[subprocess.Popen[bytes]]:
    """2 x cores busy processes for `seconds` each, at `nice` (below 0 needs root): load under
    test, not a measurement."""
    code = (f"import os, time\nos.nice({nice})\nend = time.time() + {seconds}\n"
            "while time.time() < end: pass\n")
    return [subprocess.Popen([sys.executable, "-c", code])
            for _ in range(2 * (os.cpu_count() or 1))]


def tag(setting: str, name: str, seed: int | None) -> str:
    return f"{setting}-{name.replace(' ', '-')}" + ("" if seed is None else f"-s{seed}")


def one_run(tmp: Path, setting: str, name: str, heartbeat: dict[str, Any],
            seed: int | None) -> dict[str, Any]:
    base = SETTINGS[setting]
    cfg = {**base, "heartbeat": {**base.get("heartbeat", {}), **heartbeat}}
    if seed is not None:
        cfg["scenario"] = {**base["scenario"], "seed": seed}
    path = tmp / f"{tag(setting, name, seed)}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp / tag(setting, name, seed)
    proc = subprocess.Popen([sys.executable, "-m", "fsr", "run", "--config", str(path),
                             "--out", str(out), "--no-report"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    hogs: list[subprocess.Popen[bytes]] = []
    if setting in HOG_NICE:
        t0 = broadcast_time(out, proc)
        if t0 is not None:
            time.sleep(max(0.0, t0 + HOG_AT - time.time()))  # schedules the load
            hogs = cpu_hog(HOG_FOR, HOG_NICE[setting])
    _, err = proc.communicate()
    for h in hogs:
        h.wait()
    if proc.returncode != 0:
        return {"error": err.decode()[-300:]}
    return figures(out)


def figures(out: Path) -> dict[str, Any]:
    """A run folder's figures, from its metrics file."""
    m = json.loads((out / "failstorm_metrics.json").read_text())
    memb = m["details"]["detection"].get("membership", {})
    return {"p50": memb.get("p50_ms"), "n": memb.get("n"),
            "false": m["false_suspicions"]["n"], "runner": m["false_suspicions"]["by_runner"],
            "per_hour": m["false_suspicions"]["per_agent_hour"],
            "startup_false": m["false_suspicions"]["before_t0"]}


Row = tuple[str, str, dict[str, Any]]


def kept_rows(folders: list[Path]) -> list[Row]:
    """The rows of run folders kept by earlier runs (`--keep`), named <setting>-<detector>
    or <setting>-<detector>-s<seed>."""
    rows = []
    for folder in folders:
        for setting in SETTINGS:
            for name, _ in DETECTORS:
                runs = [folder / tag(setting, name, None)] + sorted(
                    folder.glob(tag(setting, name, None) + "-s[0-9]*"))
                for out in runs:
                    if (out / "failstorm_metrics.json").is_file():
                        rows.append((setting, name, {**figures(out), "seed": out.name}))
    return rows


def plot(rows: list[Row], path: Path) -> None:
    """Detection p50 against false suspicions per agent-hour, a panel per setting."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    settings = list(dict.fromkeys(s for s, _, _ in rows))
    fig = Figure(figsize=(5 * len(settings), 4.2))
    FigureCanvasAgg(fig)
    for i, setting in enumerate(settings, start=1):
        ax = fig.add_subplot(1, len(settings), i)
        for _, name, r in [row for row in rows if row[0] == setting and "error" not in row[2]]:
            x = (r["p50"] or 0) / 1000
            ax.scatter([x], [r["per_hour"]], label=name)
            ax.annotate(name, (x, r["per_hour"]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        ax.set_title(setting)
        ax.set_xlabel("detection p50 (s; 0: no fault or none detected)")
        ax.set_ylabel("false suspicions per agent-hour")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def pooled(rows: list[Row]) -> list[Row]:
    """One row per (setting, detector) over its seeds: the median of the runs' detection p50s,
    the false suspicions summed (and per agent-hour averaged)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for setting, name, r in rows:
        if "error" not in r:
            groups.setdefault((setting, name), []).append(r)
    out = []
    for (setting, name), rs in groups.items():
        p50s = [r["p50"] for r in rs if r["p50"] is not None]
        out.append((setting, name, {
            "p50": statistics.median(p50s) if p50s else None, "n": sum(r["n"] or 0 for r in rs),
            "false": sum(r["false"] for r in rs), "runner": sum(r["runner"] for r in rs),
            "per_hour": statistics.fmean(r["per_hour"] for r in rs),
            "startup_false": sum(r["startup_false"] for r in rs), "seed": f"{len(rs)} runs"}))
    return out


def print_rows(rows: list[Row]) -> None:
    print(f"{'setting':13} {'detector':16} {'run':>24} {'detect p50 ms':>13} {'pairs':>5} "
          f"{'false':>5} {'runner':>6} {'per agent-h':>11} {'in start-up':>11}")
    for setting, name, r in rows:
        if "error" in r:
            print(f"{setting:13} {name:16} failed: {r['error']!r}")
            continue
        p50 = "-" if r["p50"] is None else f"{r['p50']:.0f}"
        print(f"{setting:13} {name:16} {r.get('seed', ''):>24} {p50:>13} {r['n'] or 0:>5} "
              f"{r['false']:>5} {r['runner']:>6} {r['per_hour']:>11.1f} {r['startup_false']:>11}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--quick", action="store_true", help="fixed 3, phi 8, swim, lifeguard only")
    ap.add_argument("--only", nargs="+", choices=[n for n, _ in DETECTORS], metavar="DETECTOR",
                    help="these detectors only (names as in the table)")
    ap.add_argument("--seeds", nargs="+", type=int, help="repeat each run with these seeds")
    ap.add_argument("--keep", type=Path, help="keep the run folders here")
    ap.add_argument("--from", dest="source", type=Path, nargs="+",
                    help="run nothing: the table (and plot) of folders kept with --keep")
    ap.add_argument("--plot", type=Path, help="write the plot here (PNG)")
    args = ap.parse_args()
    rows: list[Row] = kept_rows(args.source) if args.source else []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = args.keep or Path(tmpdir)
        tmp.mkdir(parents=True, exist_ok=True)
        for setting in [] if args.source else args.settings:
            for name, hb in DETECTORS:
                if args.only and name not in args.only or not args.only and (
                        args.quick or setting == "startup") and name not in QUICK:
                    continue
                for seed in args.seeds or [None]:
                    r = {**one_run(tmp, setting, name, hb, seed), "seed": str(seed or "")}
                    rows.append((setting, name, r))
                    print(setting, name, r, file=sys.stderr, flush=True)
    print_rows(rows)
    many = pooled(rows)
    if len(many) < len(rows):
        print("\npooled over the seeds:")
        print_rows(many)
    if args.plot:
        plot(many, args.plot)


if __name__ == "__main__":
    main()
