"""Failure detectors against each other: detection latency of real faults against false
suspicions per agent-hour, in three settings, each detector at several thresholds.

    python benchmarks/detectors.py [--settings pause starve startup] [--quick] [--keep DIR]
                                   [--plot PNG]
    python benchmarks/detectors.py --from DIR [DIR ...] [--plot PNG]   # table and plot only

Settings (each a real `fsr run`, json, one after the other; figures from its metrics file, which
the run computed from its own log):

* ``pause``   — 30 % of 8 agents SIGSTOPped at 12 s for 10 s (a hung process): detection is
  the heartbeat view's (`details.detection.membership`, first `peer_suspected` per surviving
  observer and victim);
* ``starve``  — a SIGKILL storm at 12 s while a CPU hog of 2 x cores busy processes, started by
  this script, runs from t0 + 6 s for 14 s (starvation around the strike): detection of the real
  kills under load, and the suspicions load alone caused;
* ``startup`` — 256 agents, random-k (degree 4), CurveZMQ, no storm: the start-up's CURVE
  handshakes make heartbeats late; only false suspicions count.

Detectors: fixed at liveness 2, 3, 5; phi at threshold 4, 8, 12 (Akka's pause and minimum
deviation); phi-exp at 8; SWIM with its fixed suspicion and with Lifeguard. False suspicions
are `false_suspicions` (`fsr.metrics.suspicions`): suspicions of a peer no fault held.
`--plot` draws detection p50 against false suspicions per agent-hour, one panel per setting.
"""

from __future__ import annotations

import argparse
import json
import os
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
    "startup": {"scenario": {"agent_count": 256, "duration": 5, "kill_fraction": 0.0,
                             "topology": "random-k", "degree": 4, "seed": 3},
                "timeouts": {"ready": 300}},
}
HOG_AT, HOG_FOR = 6.0, 14.0  # starve: seconds after t0, and how long


def broadcast_time(out: Path, proc: subprocess.Popen[bytes]) -> float | None:
    """t0 from the live log (the run's own clock), or None if the run ended first."""
    while proc.poll() is None:
        for log in (out / "logs").glob("fail_storm_*.jsonl") if (out / "logs").exists() else []:
            for line in log.read_bytes().splitlines():
                if b'"broadcast"' in line:
                    return float(json.loads(line)["ts"])
        time.sleep(0.2)
    return None


def cpu_hog(seconds: float) -> list[subprocess.Popen[bytes]]:
    """2 x cores busy processes for `seconds` each: load under test, not a measurement."""
    code = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass\n"
    return [subprocess.Popen([sys.executable, "-c", code])
            for _ in range(2 * (os.cpu_count() or 1))]


def one_run(tmp: Path, setting: str, name: str, heartbeat: dict[str, Any]) -> dict[str, Any]:
    tag = f"{setting}-{name.replace(' ', '-')}"
    cfg = {**SETTINGS[setting], "heartbeat": heartbeat}
    path = tmp / f"{tag}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp / tag
    proc = subprocess.Popen([sys.executable, "-m", "fsr", "run", "--config", str(path),
                             "--out", str(out), "--no-report"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    hogs: list[subprocess.Popen[bytes]] = []
    if setting == "starve":
        t0 = broadcast_time(out, proc)
        if t0 is not None:
            time.sleep(max(0.0, t0 + HOG_AT - time.time()))  # schedules the load
            hogs = cpu_hog(HOG_FOR)
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
            "false": m["false_suspicions"]["n"],
            "per_hour": m["false_suspicions"]["per_agent_hour"],
            "startup_false": m["false_suspicions"]["before_t0"]}


Row = tuple[str, str, dict[str, Any]]


def kept_rows(folders: list[Path]) -> list[Row]:
    """The rows of run folders kept by earlier runs (`--keep`), named <setting>-<detector>."""
    rows = []
    for folder in folders:
        for setting in SETTINGS:
            for name, _ in DETECTORS:
                out = folder / f"{setting}-{name.replace(' ', '-')}"
                if (out / "failstorm_metrics.json").is_file():
                    rows.append((setting, name, figures(out)))
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--quick", action="store_true", help="fixed 3, phi 8, swim, lifeguard only")
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
                if (args.quick or setting == "startup") and name not in QUICK:
                    continue
                r = one_run(tmp, setting, name, hb)
                rows.append((setting, name, r))
                print(setting, name, r, file=sys.stderr, flush=True)
    print(f"{'setting':8} {'detector':18} {'detect p50 ms':>13} {'pairs':>5} "
          f"{'false':>5} {'per agent-h':>11} {'in start-up':>11}")
    for setting, name, r in rows:
        if "error" in r:
            print(f"{setting:8} {name:18} failed: {r['error']!r}")
            continue
        p50 = "-" if r["p50"] is None else f"{r['p50']:.0f}"
        print(f"{setting:8} {name:18} {p50:>13} {r['n'] or 0:>5} {r['false']:>5} "
              f"{r['per_hour']:>11.1f} {r['startup_false']:>11}")
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
