"""Start-up time to "all agents ready" (every agent has handshaken with every peer), from the log.

    python benchmarks/startup.py [--counts 8 64] [--security both|curve|none]
                                 [--membership pubsub|swim] [--topology full|star|ring|random-k]

Each size is a real `fsr run` with a 1 s work phase and no storm; the figures come from its event
log: first `agent_spawned` → `mesh_ready` (all agents ready), and run_start → mesh_ready.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from fsr.eventlog import read_events


def startup(count: int, out: Path, security: str, membership: str, topology: str
            ) -> dict[str, float]:
    subprocess.run([sys.executable, "-m", "fsr", "run", "--agent-count", str(count),
                    "--duration", "1", "--kill-fraction", "0", "--security", security,
                    "--membership", membership, "--topology", topology, "--out", str(out)],
                   check=True, capture_output=True)
    events, _ = read_events(next((out / "logs").glob("fail_storm_*.jsonl")))
    first = {}
    for e in events:
        first.setdefault(e["event"], e["ts"])
    return {"spawn_to_ready_s": first["mesh_ready"] - first["agent_spawned"],
            "run_start_to_ready_s": first["mesh_ready"] - first["run_start"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--counts", type=int, nargs="+", default=[8, 64])
    ap.add_argument("--security", default="both", choices=("both", "curve", "none"))
    ap.add_argument("--membership", default="pubsub", choices=("pubsub", "swim"))
    ap.add_argument("--topology", default="full")
    args = ap.parse_args()
    settings = ["curve", "none"] if args.security == "both" else [args.security]
    with tempfile.TemporaryDirectory() as tmp:
        for security in settings:
            for n in args.counts:
                r = startup(n, Path(tmp) / f"{security}{n}", security, args.membership,
                            args.topology)
                print(f"{n:4d} agents, {args.topology}, {args.membership}, security "
                      f"{security:5s}: spawn -> all ready "
                      f"{r['spawn_to_ready_s']:6.2f} s   (run start -> ready "
                      f"{r['run_start_to_ready_s']:6.2f} s)")


if __name__ == "__main__":
    main()
