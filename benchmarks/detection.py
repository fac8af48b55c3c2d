"""Detection latency of a real fail storm: heartbeat path vs the socket fast path vs the
physical limit (ZeroMQ seeing the TCP connection of a SIGKILLed peer close).

    python benchmarks/detection.py [--interval 1.0] [--liveness 3]

Two storms with the same seed (8 agents, kill 30 %): one with the Paranoid-Pirate heartbeat
monitor only, one with `heartbeat.fast_path` on. From each log: `detection_ms` p50/max per
(observer, victim), and the physical limit — the first `zmtp_disconnect` a survivor logs for a
victim's connection, minus the kill() time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from fsr.eventlog import read_events


def storm(tmp: Path, name: str, interval: float, liveness: int, fast: bool) -> dict:
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump({
        "scenario": {"duration": 12, "kill_at": 5, "restart_delay": 4, "seed": 1},
        "heartbeat": {"interval": interval, "liveness": liveness, "fast_path": fast},
    }))
    out = tmp / name
    subprocess.run([sys.executable, "-m", "fsr", "run", "--config", str(cfg), "--out", str(out)],
                   check=True, capture_output=True)
    metrics = json.loads((out / "failstorm_metrics.json").read_text())
    events, _ = read_events(next((out / "logs").glob("fail_storm_*.jsonl")))
    kills = {e["victim"]: e["kill_ts"] for e in events if e["event"] == "kill"}
    physical = {}
    for e in events:
        if (e["event"] == "zmtp_disconnect" and e["peer"] in kills and e["node"] not in kills
                and e["ts"] >= kills[e["peer"]]):
            physical.setdefault((e["node"], e["peer"]), (e["ts"] - kills[e["peer"]]) * 1000)
    return {"detection": metrics["details"]["detection"], "physical_ms": list(physical.values())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--liveness", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, fast in (("heartbeat", False), ("fast_path", True)):
            r = storm(Path(tmp), name, args.interval, args.liveness, fast)
            d = r["detection"]
            hows = sorted({p["how"] for p in d["pairs"]})
            phys = r["physical_ms"]
            print(f"{name:10s} detection p50 {d['p50_ms']:9.3f} ms  max {d['max_ms']:9.3f} ms  "
                  f"pairs {len(d['pairs'])}  missing {len(d['missing'])}  via {','.join(hows)}")
            if phys:
                print(f"{'':10s} physical limit (TCP close seen): median "
                      f"{statistics.median(phys):7.3f} ms  max {max(phys):7.3f} ms")
    print(f"heartbeat bound: interval x liveness = {args.interval * args.liveness * 1000:.0f} ms")


if __name__ == "__main__":
    main()
