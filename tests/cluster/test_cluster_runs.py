"""Cluster runs on a real local Ray cluster of 3 hosts, each a network namespace on a bridge
(`fsr.cluster.local`, what `fsr cluster up` makes): agents on every host, kills through each
victim's own controller, faults between hosts, clocks measured, no orphans. The module starts its
own cluster and tears it down."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks.capture import retransmitted_bytes, tcp_payload_bytes
from benchmarks.cluster import cross_host_bytes, hosts_of
from tests.helpers import FSR, events, fast_config, metrics, pid_alive, run_fsr, start_fsr

pytestmark = [pytest.mark.timeout(420),
              pytest.mark.skipif(os.geteuid() != 0, reason="a local cluster needs root")]

PREFIX, SUBNET, RAY_PORT = "fsrc", "10.79.0", 6392  # apart from `fsr cluster up`'s defaults
BRIDGE = f"{PREFIX}br0"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from fsr.cluster import local

    local.down(PREFIX)  # a previous session's, if it was cut short
    made = local.up(hosts=3, prefix=PREFIX, subnet=SUBNET, ray_port=RAY_PORT)
    try:
        yield made
    finally:
        local.down(PREFIX)


def cluster_run(tmp_path: Path, cluster: Any, *flags: str, timeout: float = 300,
                **sections: dict[str, Any]) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path / "run"
    cfg = fast_config(tmp_path, **sections)
    proc = run_fsr("run", "--config", str(cfg), "--out", str(out), "--no-report",
                   "--cluster", "ray", "--ray-address", cluster.address, *flags,
                   timeout=timeout)
    return out, proc


def test_a_storm_across_three_hosts_with_bytes_on_the_bridge(tmp_path: Path, cluster: Any
                                                              ) -> None:
    pcap = tmp_path / "bridge.pcap"
    dump = subprocess.Popen(["tcpdump", "-i", BRIDGE, "-w", str(pcap), "-s", "128", "-U", "-n",
                             "tcp portrange 9500-9600"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert dump.stderr is not None
    dump.stderr.readline()  # "listening on ...": the capture is up before the run starts
    try:
        out, proc = cluster_run(tmp_path, cluster, "--agent-count", "24",
                                scenario={"base_port": 9500})
    finally:
        time.sleep(0.5)
        dump.send_signal(signal.SIGINT)
        dump.wait(timeout=30)
    assert proc.returncode == 0, proc.stderr[-3000:]
    m, evs = metrics(out), events(out)
    for key in ("recovery_ms", "steady_state_ms", "bytes_reconnect", "success_rate_drop",
                "duplicate_work_ratio"):
        assert isinstance(m[key], int | float), (key, m["details"].get(key))
    host = hosts_of(evs)
    assert sorted(set(host.values()) - {"runner"}) == ["h1", "h2", "h3"]
    assert len(host) == 25
    kills = [e for e in evs if e["event"] == "kill"]
    assert len(kills) == 7 and all(e["host"] == host[e["victim"]] for e in kills)
    assert len({e["host"] for e in kills}) >= 2
    for victim in (e["victim"] for e in kills):  # really gone: a fresh process restarted
        assert any(e["event"] == "restart" and e["victim"] == victim for e in evs)
    # every host's clock, before and after, with a bound well under 5 ms here
    offsets = [e for e in evs if e["event"] == "clock_offset"]
    assert sorted((e["host"], e["phase"]) for e in offsets) == sorted(
        (h, p) for h in ("h1", "h2", "h3") for p in ("start", "end"))
    assert all(0 <= e["error_ms"] < 5 for e in offsets), offsets
    # what fsr counted between hosts is what crossed the bridge, each TCP segment once (a
    # retransmission is in the capture twice: a start-up's bursts on 2 busy cores overflow
    # the receiving namespace's backlog, after the bridge)
    _, captured = tcp_payload_bytes(pcap)
    captured -= retransmitted_bytes(pcap)
    counted = cross_host_bytes(evs, host)
    assert captured > 100_000
    assert abs(captured - counted) / captured < 0.005, (captured, counted)


def test_kill_host_takes_every_agent_of_one_host_at_once(tmp_path: Path, cluster: Any) -> None:
    out, proc = cluster_run(tmp_path, cluster, "--agent-count", "12", "--fault", "kill-host",
                            scenario={"base_port": 9620})
    assert proc.returncode == 0, proc.stderr[-3000:]
    m, evs = metrics(out), events(out)
    host = hosts_of(evs)
    kills = [e for e in evs if e["event"] == "kill"]
    (struck,) = {e["host"] for e in kills}
    assert sorted(e["victim"] for e in kills) == sorted(a for a, h in host.items() if h == struck)
    stamps = [e["kill_ts"] for e in kills]
    assert (max(stamps) - min(stamps)) * 1000 <= 10
    strike = min(stamps)
    # the survivors on the other hosts notice, recover and keep answering
    survivors = {a for a, h in host.items() if h not in (struck, "runner")}
    victims = {e["victim"] for e in kills}
    noticed = {(e["node"], e["peer"]) for e in evs if e["event"] == "peer_suspected"
               and e["node"] in survivors and e["peer"] in victims and e["ts"] > strike}
    assert {n for n, _ in noticed} == survivors
    assert isinstance(m["recovery_ms"], int | float) and m["detection_ms"]["p50_ms"] is not None
    answered_after = [e for e in evs if e["event"] == "task_end" and e["status"] == "answered"
                      and e["ts"] > strike + 1]
    assert len(answered_after) > 10


def test_a_host_partition_cuts_only_across_hosts_and_heals(tmp_path: Path, cluster: Any
                                                          ) -> None:
    cfg = fast_config(tmp_path, scenario={"base_port": 9660})
    raw = yaml.safe_load(cfg.read_text())
    raw["faults"] = [{"kind": "partition", "at": 5, "duration": 4,
                      "targets": {"hosts": ["h1"]}}]
    cfg.write_text(yaml.safe_dump(raw))
    out = tmp_path / "cut"
    proc = run_fsr("run", "--config", str(cfg), "--out", str(out), "--no-report", "--cluster",
                   "ray", "--ray-address", cluster.address, "--agent-count", "9", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    m, evs = metrics(out), events(out)
    host = hosts_of(evs)
    cut = next(e for e in evs if e["event"] == "net_fault")
    healed = next(e for e in evs if e["event"] == "storm_end")
    agents = [a for a in host if a != "runner"]
    suspected = {(e["node"], e["peer"]) for e in evs if e["event"] == "peer_suspected"
                 and e["node"] in agents and e["peer"] in agents
                 and cut["ts"] <= e["ts"] <= healed["ts"] + 1}
    cross = {(a, b) for a in agents for b in agents if host[a] != host[b]
             and "h1" in (host[a], host[b])}
    assert cross <= suspected, sorted(cross - suspected)[:5]
    assert all(host[a] != host[b] for a, b in suspected), suspected
    assert m["storms"][0]["rejoin_p50_ms"] > 0


def start_cluster_run(tmp_path: Path, cluster: Any, **scenario: Any
                      ) -> tuple[Path, subprocess.Popen[str]]:
    """A 9-agent cluster run in the background, with these scenario values."""
    out = tmp_path / "run"
    cfg = fast_config(tmp_path, scenario=scenario)
    return out, start_fsr("run", "--config", str(cfg), "--out", str(out), "--no-report",
                          "--cluster", "ray", "--ray-address", cluster.address,
                          "--agent-count", "9")


def wait_for_work(out: Path, timeout: float = 120) -> list[dict[str, Any]]:
    """The run's events once its work phase has begun (the runner's own lines)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        evs = events(out) if (out / "logs").exists() and \
            list((out / "logs").glob("fail_storm_*.jsonl")) else []
        if any(e["event"] == "phase" and e["name"] == "work" for e in evs):
            return evs
        time.sleep(0.2)
    raise AssertionError("the run never reached its work phase")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_a_killed_or_interrupted_runner_leaves_no_agent_on_any_host(
        how: signal.Signals, tmp_path: Path, cluster: Any) -> None:
    out, runner = start_cluster_run(tmp_path, cluster, duration=60, kill_at=50, base_port=9700)
    try:
        evs = wait_for_work(out)
        pids = [e["pid"] for e in evs if e["event"] == "agent_spawned"]
        assert len(pids) == 9 and all(pid_alive(p) for p in pids)
        runner.send_signal(how)
        runner.wait(30)
        ended = time.time()
        while time.time() < ended + 5 and any(pid_alive(p) for p in pids):
            time.sleep(0.05)
        assert [p for p in pids if pid_alive(p)] == []
    finally:
        if runner.poll() is None:
            runner.kill()
    if how == signal.SIGINT:  # stopped in order: the hosts' events home, the log replayable
        assert runner.returncode == 130
        evs = events(out)
        assert {e["node"] for e in evs if e["event"] == "agent_stopped"} == \
            {f"agent_{i}" for i in range(9)}
        assert [e["phase"] for e in evs if e["event"] == "clock_offset"].count("end") == 3
        assert metrics(out)["agent_count"] == 9


def test_the_single_machine_default_needs_no_ray(tmp_path: Path) -> None:
    """A local run with Ray made unimportable completes: nothing outside a cluster run
    loads it."""
    cfg = fast_config(tmp_path, scenario={"duration": 4, "kill_at": 2, "restart_delay": 1})
    code = ("import sys; sys.modules['ray'] = None; from fsr.cli import main; "
            f"sys.argv = ['fsr', 'run', '--config', {str(cfg)!r}, '--out', "
            f"{str(tmp_path / 'run')!r}, '--no-report', '--agent-count', '4']; main()")
    proc = subprocess.run([FSR[0], "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((tmp_path / "run" / "failstorm_metrics.json").read_text())["agent_count"] \
        == 4


def test_a_host_lost_mid_run_is_reported_and_the_run_goes_on(tmp_path: Path, cluster: Any
                                                             ) -> None:
    """Last in the module: it takes host h3 down for good (every process in its namespace
    SIGKILLed, Ray's included), as a machine that dies."""
    # no storm: h3's death is the fault; long enough for Ray to declare the node dead
    out, runner = start_cluster_run(tmp_path, cluster, duration=40, kill_at=60, base_port=9740)
    try:
        wait_for_work(out)
        doomed = subprocess.run(["ip", "netns", "pids", f"{PREFIX}-h3"], capture_output=True,
                                text=True, check=True).stdout.split()
        died = time.time()
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        _, stderr = runner.communicate(timeout=240)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 0, stderr[-3000:]
    evs = events(out)
    host = hosts_of(evs)
    (lost,) = [e for e in evs if e["event"] == "host_lost"]
    assert lost["host"] == "h3"
    assert lost["agents"] == sorted(a for a, h in host.items() if h == "h3")
    assert lost["ts"] < died + 40, "reported while the run went on, not at its end"
    assert (out / "failstorm_metrics.json").exists()
    late = [e for e in evs if e["event"] == "task_end" and e["status"] == "answered"
            and e["ts"] > died + 2]
    assert late, "the other hosts kept answering"
