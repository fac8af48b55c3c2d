"""Each protocol's own failure handling, on real processes: which signal makes an agent stop
using a peer that holds one of its requests.

One task enters a fault-free 8-agent mesh whose LLM endpoint hangs, so its extract hop stays
open on the extract agent it was sent to. The test then SIGKILLs (or SIGSTOPs) that agent
itself and reads, from the log, how and when the task's entry agent let go of it:

* json — the heartbeat channel: interval x liveness (0.25 s x 4) after the kill;
* a2a, acp — the stream of the open request closes with the connection: before any heartbeat
  deadline could pass (the last heartbeat came at most one interval before the kill);
* anp — its ping schedule: 3 unanswered pings (0.6 s apart at scale 0.2);
* a2a, SIGSTOP — the connection stays open, so only its request timeout (5 s x 0.4) finds it,
  though the heartbeat channel suspected the silent process long before.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import HangingEndpoint, events, start_fsr, wait_for_event, write_config

INTERVAL, LIVENESS = 0.25, 4


def one_open_hop(tmp: Path, protocol: str, scale: float, sig: signal.Signals
                 ) -> tuple[list[dict[str, Any]], dict[str, Any], float]:
    """Run the one-task mesh, hit the extract agent of the task's open hop with `sig`; returns
    the events, that hop_sent event and the time of the kill() call."""
    with HangingEndpoint() as endpoint:
        cfg = write_config(
            tmp / "fsr.yaml",
            scenario={"duration": 0.4, "task_rate": 2, "kill_fraction": 0, "seed": 1,
                      "protocol": protocol, "failure_scale": scale},
            heartbeat={"interval": INTERVAL, "liveness": LIVENESS},
            timeouts={"hop": 3.0, "task": 4.5, "max_attempts": 2},
            llm={"model": {"type": "openai", "name": "m", "base_url": endpoint.url,
                           "openai_api_key": "sk-test", "timeout": 20, "max_retries": 0}})
        out = tmp / "run"
        proc = start_fsr("run", "--config", str(cfg), "--out", str(out), "--no-report")
        hop = wait_for_event(out, lambda e: e["event"] == "hop_sent"
                             and e.get("stage") == "extract")
        pid = next(e["pid"] for e in events(out) if e["event"] == "agent_started"
                   and e["node"] == hop["dst"])
        wait_for_event(out, lambda e: e["event"] == "stage_exec" and e["node"] == hop["dst"])
        hit = time.time()
        os.kill(pid, sig)
        if sig == signal.SIGSTOP:
            wait_for_event(out, lambda e: e["event"] == "peer_lost" and e["peer"] == hop["dst"]
                           and e["node"] == hop["node"], timeout=30)
            with contextlib.suppress(ProcessLookupError):  # the run may have ended it already
                os.kill(pid, signal.SIGCONT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
    return events(out), hop, hit


def first_loss(evs: list[dict[str, Any]], hop: dict[str, Any], after: float) -> dict[str, Any]:
    lost = [e for e in evs if e["event"] == "peer_lost" and e["node"] == hop["node"]
            and e["peer"] == hop["dst"] and e["ts"] >= after]
    assert lost, "the entry agent never let go of the peer holding its request"
    return lost[0]


# Lower bounds are the mechanism's own (a deadline cannot pass early); upper bounds leave 1.5 s
# for a loaded 2-core machine, except the stream's, which must beat the earliest heartbeat
# deadline, interval x (liveness - 1) after the kill: otherwise "stream_closed" would be no faster
# than the heartbeat it claims to outrun.
SLACK = 1.5


@pytest.mark.parametrize("protocol,scale,how,low,high", [
    ("json", 1.0, "heartbeat_timeout", INTERVAL * (LIVENESS - 1), INTERVAL * LIVENESS + SLACK),
    ("a2a", 1.0, "stream_closed", 0.0, INTERVAL * (LIVENESS - 1)),
    ("acp", 1.0, "stream_closed", 0.0, INTERVAL * (LIVENESS - 1)),
    ("agora", 1.0, "stream_closed", 0.0, INTERVAL * (LIVENESS - 1)),
    ("anp", 0.2, "ping_timeout", 2 * 0.6, 4 * 0.6 + SLACK),
])
def test_sigkilled_peer_is_let_go_by_the_protocols_own_signal(
        tmp_path: Path, protocol: str, scale: float, how: str, low: float, high: float) -> None:
    evs, hop, killed = one_open_hop(tmp_path, protocol, scale, signal.SIGKILL)
    loss = first_loss(evs, hop, killed)
    assert loss["how"] == how, loss
    assert low <= loss["ts"] - killed <= high, (loss["ts"] - killed, loss)
    # the signal that fired is one the entry agent's own design lists
    design = next(e["design"] for e in evs if e["event"] == "agent_started"
                  and e["node"] == hop["node"])
    assert how.split("_")[0] in design["liveness"]


def test_a2a_finds_a_sigstopped_peer_only_at_its_request_timeout(tmp_path: Path) -> None:
    evs, hop, stopped = one_open_hop(tmp_path, "a2a", 0.4, signal.SIGSTOP)
    loss = first_loss(evs, hop, stopped)
    assert loss["how"] == "request_timeout", loss
    timeout = 5.0 * 0.4
    assert timeout - 0.1 <= loss["ts"] - hop["ts"] <= timeout + SLACK
    # the membership channel suspected the silent process before a2a let go of it (the log's
    # order: a heartbeat deadline of 1 s against a request timeout of 2 s)
    suspected = [e for e in evs if e["event"] == "peer_suspected" and e["node"] == hop["node"]
                 and e["peer"] == hop["dst"] and e["ts"] >= stopped]
    assert suspected and suspected[0]["ts"] < loss["ts"]
