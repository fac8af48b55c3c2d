"""fsr on a local Ray cluster: how many agents its hosts hold, how fast they start, what each
host's agents weigh, and fsr's byte count against a capture on the bridge.

    python -m benchmarks.cluster [--counts 24 48 96] [--hosts 3] [--topology full|random-k]
                                 [--degree 4] [--capture] [--keep DIR]

(as a module, from the checkout: it shares the capture and PSS readers of its neighbours.)

Brings up a local cluster of `--hosts` network namespaces (`fsr.cluster.local`, prefix ``fsrb``,
subnet 10.80.0, Ray port 6394) and tears it down at the end. Each size is one
``fsr run --cluster ray`` (30 s of work, 30 % SIGKILLed at 10 s, restarted 4 s later; heartbeat
1 s x 3; stages of microseconds at 4 tasks a second: how the cluster mode scales, not how loaded
agents behave). From its event log: start-up (the ``fsr run`` process started -> ``mesh_ready``:
Ray join, controllers placed, clocks read, every agent started and linked), the strike's spread
across hosts (first to last kill() call, on the runner's clock), the hosts struck, the largest
clock error bound. Sampled from /proc while it runs (the agents' pids from the log, their hosts
from ``run_start``): each host's agents' PSS (smaps_rollup, each agent's peak, summed per host)
and each host's Ray processes (everything else in its namespace). With ``--capture``: tcpdump on
the bridge — its TCP payload less the retransmitted segments, which it holds twice — set against
the wire bytes fsr counted between nodes on different hosts.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.capture import retransmitted_bytes, tcp_payload_bytes
from benchmarks.scale import _pss_kb
from fsr.eventlog import read_events

PREFIX, SUBNET, RAY_PORT = "fsrb", "10.80.0", 6394
COLUMNS = ("agents", "per host", "start-up s", "strike spread ms", "hosts struck",
           "clock error max ms", "agents PSS per host MB", "Ray PSS per host MB",
           "bridge: captured / counted bytes", "null metrics")
HEADLINE = ("recovery_ms", "steady_state_ms", "bytes_reconnect", "success_rate_drop",
            "duplicate_work_ratio")


def hosts_of(events: list[dict[str, Any]]) -> dict[str, str]:
    """node -> host, from ``run_start``; the runner is a host of its own."""
    start = next(e for e in events if e["event"] == "run_start")
    return {**{a["id"]: a["host"] for a in start["agents"]}, "runner": "runner"}


def cross_host_bytes(events: list[dict[str, Any]], host: dict[str, str]) -> int:
    """The wire bytes fsr counted between two nodes on different hosts: what crosses the
    bridge (an agent's traffic with a peer on its own host stays in its namespace). The
    counted categories are `benchmarks/capture.py`'s."""
    total = 0
    for e in events:
        other = e["dst"] if e["event"] == "send" else e.get("peer")
        if e["event"] in ("send", "zmtp_connect") and host.get(other) != host.get(e["node"]):
            total += e["wire"]
        elif e["event"] == "hb_tally":
            total += sum(w for src, (_, w, *_) in e["by_src"].items()
                         if host.get(src) != host.get(e["node"]))
    return total


def namespace_pids(host: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", f"{PREFIX}-{host}"], capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split()]


def run(n: int, address: str, args: argparse.Namespace, base: Path) -> dict[str, object]:
    cfg = base / f"cluster{n}.yaml"
    cfg.write_text(yaml.safe_dump({
        "scenario": {"base_port": 9100, "duration": 30, "kill_at": 10, "restart_delay": 4},
        "timeouts": {"hop": 2.0, "task": 10.0, "ready": 600},
        "workload": {"service_time": {"dist": "none"}}}))
    out, pcap = base / f"n{n}", base / f"n{n}.pcap"
    dump = None
    if args.capture:
        dump = subprocess.Popen(["tcpdump", "-i", f"{PREFIX}br0", "-w", str(pcap), "-s", "128",
                                 "-U", "-n", "tcp portrange 9100-9999"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert dump.stderr is not None
        dump.stderr.readline()  # listening: the capture is up before the run starts
    started = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "fsr", "run", "--config", str(cfg),
                             "--agent-count", str(n), "--cluster", "ray", "--ray-address",
                             address, "--topology", args.topology, "--degree",
                             str(args.degree), "--out", str(out), "--no-report"],
                            stdout=subprocess.DEVNULL, stderr=(base / f"n{n}.err").open("wb"))
    peak: dict[int, int] = {}  # agent pid -> peak PSS kB
    ray_kb: dict[str, list[int]] = {}
    while proc.poll() is None:
        time.sleep(1.0)
        logs = list((out / "logs").glob("fail_storm_*.jsonl")) if (out / "logs").exists() \
            else []
        if not logs:
            continue
        evs, _ = read_events(logs[0])
        if not any(e["event"] == "phase" and e["name"] == "work" for e in evs):
            continue
        agents = {e["pid"] for e in evs if e["event"] in ("agent_spawned", "restart")}
        for pid in agents:
            kb = _pss_kb(pid)
            if kb is not None:
                peak[pid] = max(peak.get(pid, 0), kb)
        for h in sorted(set(hosts_of(evs).values()) - {"runner"}):
            kbs = [_pss_kb(p) for p in namespace_pids(h) if p not in agents]
            ray_kb.setdefault(h, []).append(sum(k for k in kbs if k))
    dropped = ""
    if dump is not None:
        time.sleep(0.5)
        dump.send_signal(signal.SIGINT)
        _, err = dump.communicate(timeout=30)
        dropped = next((ln.split()[0] for ln in err.splitlines() if "dropped by kernel" in ln),
                       "?")
    if proc.returncode != 0:
        sys.exit(f"fsr run --agent-count {n} exited {proc.returncode}: see {base}/n{n}.err")
    evs, _ = read_events(next((out / "logs").glob("fail_storm_*.jsonl")))
    host = hosts_of(evs)
    ready = next(e["ts"] for e in evs if e["event"] == "mesh_ready")
    kills = [e for e in evs if e["event"] == "kill" and e["storm"] == 0]
    stamps = [e["kill_ts"] for e in kills]
    pid_host = {e["pid"]: host[e["agent"]] for e in evs if e["event"] == "agent_spawned"}
    per_host: dict[str, int] = {}
    for pid, kb in peak.items():
        if pid in pid_host:
            per_host[pid_host[pid]] = per_host.get(pid_host[pid], 0) + kb
    metrics = json.loads((out / "failstorm_metrics.json").read_text())
    bridge = "-"
    if args.capture:
        _, captured = tcp_payload_bytes(pcap)
        captured -= retransmitted_bytes(pcap)  # fsr counts what the application sent, once
        counted = cross_host_bytes(evs, host)
        bridge = (f"{captured} / {counted} ({100 * (counted - captured) / captured:+.3f} %; "
                  f"{dropped} packets dropped by the capture)")
    hosts = sorted(per_host)
    return {
        "agents": n,
        "per host": "/".join(str(sum(1 for h in host.values() if h == x)) for x in hosts),
        "start-up s": round(ready - started, 2),
        "strike spread ms": round((max(stamps) - min(stamps)) * 1000, 2),
        "hosts struck": len({e["host"] for e in kills}),
        "clock error max ms": max(e["error_ms"] for e in evs if e["event"] == "clock_offset"),
        "agents PSS per host MB": " / ".join(f"{per_host[h] / 1024:.0f}" for h in hosts),
        "Ray PSS per host MB": " / ".join(f"{statistics.median(ray_kb[h]) / 1024:.0f}"
                                          for h in hosts if ray_kb.get(h)),
        "bridge: captured / counted bytes": bridge,
        "null metrics": ", ".join(k for k in HEADLINE
                                  if not isinstance(metrics[k], int | float)) or "-",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", type=int, nargs="+", default=[24, 48, 96])
    ap.add_argument("--hosts", type=int, default=3)
    ap.add_argument("--topology", default="full", help="fsr run --topology")
    ap.add_argument("--degree", type=int, default=4, help="fsr run --degree (random-k)")
    ap.add_argument("--capture", action="store_true", help="tcpdump on the bridge")
    ap.add_argument("--keep", type=Path, help="keep the runs here")
    args = ap.parse_args()
    from fsr.cluster import local

    base = args.keep or Path(tempfile.mkdtemp(prefix="fsr-cluster-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    local.down(PREFIX)
    t = time.time()
    cluster = local.up(hosts=args.hosts, prefix=PREFIX, subnet=SUBNET, ray_port=RAY_PORT)
    print(f"cluster of {args.hosts} hosts up in {time.time() - t:.1f} s", flush=True)
    try:
        print("| " + " | ".join(COLUMNS) + " |")
        print("|" + "---|" * len(COLUMNS), flush=True)
        for n in args.counts:
            row = run(n, cluster.address, args, base)
            print("| " + " | ".join(str(row[c]) for c in COLUMNS) + " |", flush=True)
    finally:
        t = time.time()
        local.down(PREFIX)
        print(f"cluster down in {time.time() - t:.1f} s; runs in {base}")


if __name__ == "__main__":
    main()
