"""Paced rejoins on real processes (``recovery.reconnect: batched``): a compressed storm on 8
agents, half of them SIGKILLed and restarted together, with an admission limit small enough to
bind (burst 2, 4 a second). Everything is read from the log: each node kept to its limit —
never more than `burst` attempts in progress, its attempts within its token bucket — its
backoff waits were the seeded draws, and the mesh still came back whole before the run's end."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from fsr.agents.pacing import ConnectBackoff, Pacing
from fsr.metrics.reconnect import bucket_excess, in_progress_max
from tests.helpers import events, log_path, metrics, run_fsr, write_config

RATE, BURST, SEED = 4.0, 2, 1


def lives(evs: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Each agent's process starts (a restarted victim has two)."""
    out: dict[str, list[float]] = defaultdict(list)
    for e in evs:
        if e["event"] == "agent_started":
            out[e["node"]].append(e["ts"])
    return out


def life_of(e: dict[str, Any], starts: dict[str, list[float]]) -> int:
    return sum(t <= e["ts"] for t in starts[e["node"]])


def test_a_batched_rejoin_keeps_each_node_to_its_limit_and_mends_the_mesh(tmp_path: Path
                                                                          ) -> None:
    cfg = write_config(
        tmp_path / "fsr.yaml",
        scenario={"duration": 8, "kill_at": 3, "restart_delay": 1, "kill_fraction": 0.5,
                  "task_rate": 5, "seed": SEED, "base_port": 9600},
        heartbeat={"interval": 0.25, "liveness": 4},
        timeouts={"hop": 1.0, "task": 6.0},
        recovery={"reconnect": "batched", "rate": RATE, "burst": BURST})
    out = tmp_path / "run"
    proc = run_fsr("run", "--config", str(cfg), "--out", str(out), "--no-report", timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    evs = events(out)
    agents = sorted({e["node"] for e in evs if e["event"] == "agent_started"})
    victims = sorted({e["victim"] for e in evs if e["event"] == "kill"})
    assert len(agents) == 8 and len(victims) == 4
    starts = lives(evs)
    restarted = {v: starts[v][1] for v in victims}  # the new process of each victim
    assert all(len(starts[v]) == 2 for v in victims)

    # the limit bound: attempts queued for admission, at start-up and in the wave
    queued = [e for e in evs if e["event"] == "handshake_deferred" and e["why"] == "admission"]
    assert any(e["node"] in victims and e["ts"] >= restarted[e["node"]] for e in queued)

    # never more than `burst` attempts in progress on any node, as the log shows them
    in_progress = in_progress_max(e for e in evs if e["event"].startswith("handshake_"))
    assert set(in_progress) == set(agents) and max(in_progress.values()) <= BURST
    assert max(in_progress.values()) == BURST  # and the limit was reached, so it was tested

    # each process's attempts on the wire within its token bucket (full at its start); the
    # slack is the microseconds between an admission and its log line, x the rate
    sent: dict[tuple[str, int], list[float]] = defaultdict(list)
    for e in evs:
        if e["event"] == "handshake_start" and e["sent"]:
            sent[(e["node"], life_of(e, starts))].append(e["ts"])
    assert len(sent) == 12  # 8 processes, and the 4 restarted ones
    worst = max(bucket_excess(ts, RATE, BURST) for ts in sent.values())
    assert worst <= 0.01, worst

    # every backoff wait is the next seeded draw for its (process, peer), at its attempt
    backoff = ConnectBackoff()
    by_pair: dict[tuple[str, int, str], list[dict[str, Any]]] = defaultdict(list)
    for e in evs:
        if e["event"] == "handshake_deferred" and e["why"] == "backoff":
            by_pair[(e["node"], life_of(e, starts), e["peer"])].append(e)
    assert len(by_pair) >= 8 * 7
    for (node, _, peer), waits in by_pair.items():
        rng = Pacing(backoff, RATE, BURST, SEED).rng(node, peer)
        for e in waits:
            expected = backoff.wait(e["attempt"] - 1, rng)
            assert -1e-9 <= expected - e["wait"] < 1e-6, (node, peer, e, expected)

    # the mesh came back whole: every pair with a victim ready both ways in the new process,
    # before the run stopped its agents
    stop = next(e["ts"] for e in evs if e["event"] == "phase" and e["name"] == "stop")
    done = {(e["node"], e["peer"], e["ts"]) for e in evs if e["event"] == "handshake_done"}
    for v, back in restarted.items():
        for p in agents:
            if p == v:
                continue
            for a, b in ((v, p), (p, v)):
                assert any(n == a and q == b and back <= ts < stop for n, q, ts in done), (a, b)
    m = metrics(out)["reconnect"]
    assert (m["mode"], m["reason"], m["missing"]) == ("batched", "full", 0)
    assert m["pairs"] == 4 * 7 * 2 - 4 * 3  # each victim's pairs, both ways, counted once
    assert m["in_progress_max"] == BURST and m["bucket_excess"] <= 0.01
    assert m["deferred"]["admission"] > 0 and m["peak_attempts_per_s"] > 0
    assert 0 < m["full_mesh_ms"] < (stop - min(restarted.values())) * 1000
    wave = min(e["ts"] for e in evs if e["event"] == "restart")
    fault = min(e["kill_ts"] for e in evs if e["event"] == "kill")
    assert m["wave_ms"] == round((wave - fault) * 1000, 3) > 0

    # the metrics are the log's: a replay writes the same file
    replay = run_fsr("replay", str(log_path(out)), timeout=120)
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout == (out / "failstorm_metrics.json").read_text()

