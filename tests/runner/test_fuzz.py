"""Fuzzing live agents of every protocol: nothing from outside crashes an agent, every rejected
frame is counted with its reason, and every task still ends in exactly one terminal state.

A foreign DEALER (routing id ``fuzzer``) sends each agent of a fault-free run random bytes,
wrong frame counts, malformed control bodies (including a well-formed ``stop``: only the runner
may send one), and valid protocol envelopes — built by the protocol's own adapter — around
application bodies that break their schema (missing fields, wrong types, oversized strings).
Every one of those frames is invalid by construction, so each must appear exactly once as a
``frame_dropped`` event of the agent it hit.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from fsr.protocols import REGISTRY, LocalInfo, Message, adapter_class
from fsr.protocols.base import WireFrame
from tests.helpers import events, fast_config, pid_alive, start_fsr, wait_for_event

FUZZER = "fuzzer"


class Capture:
    """A transport that keeps the frames an adapter would send (to build fuzz envelopes)."""

    def __init__(self) -> None:
        self.frames: list[WireFrame] = []

    def send_frame(self, dest: str, frame: WireFrame) -> bool:
        self.frames.append(frame)
        return True

    def record(self, event: str, **fields: Any) -> None:
        pass

    def call_later(self, delay: float, fn: Any) -> None:
        pass


BAD_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("stage_request", {"stage": "extract", "attempt": 1, "input": {"question": "q"}}),
    ("stage_request", {"task_id": 5, "stage": "extract", "attempt": 1, "input": {}}),
    ("stage_request", {"task_id": "t", "stage": "nope", "attempt": 1, "input": {"question": "q"}}),
    ("stage_request", {"task_id": "t", "stage": "search", "attempt": "1",
                       "input": {"question": "q"}}),
    ("stage_request", {"task_id": "t", "stage": "search", "attempt": 1, "input": []}),
    ("lookup", {"task_id": "t", "question": "x" * 70_000}),
    ("lookup", {"task_id": "t", "question": "q", "fids": [1, 2]}),
    ("document", {"document": {}, "shards": {}}),  # only the runner may broadcast
    ("no_such_kind", {"a": 1}),
]


def envelopes(protocol: str, dest: str) -> list[bytes]:
    adapter = adapter_class(protocol)(Capture(), LocalInfo(FUZZER, "search", "fz-1", 9999))
    out = []
    for kind, body in BAD_BODIES:
        frames = adapter.encode(dest, Message(kind, body))
        out += [f.data for f in frames]
    return out


def control_bodies() -> list[bytes]:
    bodies: list[Any] = [{"k": "task", "task_id": 5}, {"k": "task"}, [1, 2], "stop",
                         {"k": "stop"}, {"k": "no_such"}, {"k": "task", "task_id": "t",
                                                           "question": 7}]
    return [msgpack.packb(b) for b in bodies] + [b"\xc1\xc1\xc1", b""]


@pytest.mark.parametrize("protocol", list(REGISTRY))
def test_fuzzed_agents_survive_and_count_every_frame(tmp_path: Path, protocol: str,
                                                     zmq_ctx: zmq.Context) -> None:
    # security "none": the fuzzer reaches the sockets, as any local process would; under
    # "curve" it would be refused at the handshake (tests/runner/test_security.py)
    cfg = fast_config(tmp_path, scenario={"duration": 8, "agent_count": 4, "security": "none"})
    out = tmp_path / "run"
    proc = start_fsr("run", "--config", str(cfg), "--protocol", protocol, "--kill-fraction",
                     "0", "--out", str(out), "--no-report")
    wait_for_event(out, lambda e: e["event"] == "phase" and e["name"] == "work")
    started = {e["node"]: e for e in events(out) if e["event"] == "agent_started"}
    rng = random.Random(7)
    expected: Counter[str] = Counter()
    sockets = []
    for node, e in sorted(started.items()):
        sock = zmq_ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.IDENTITY, FUZZER.encode())
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(f"tcp://127.0.0.1:{e['port']}")
        sockets.append(sock)
        messages: list[list[bytes]] = []
        messages += [[rng.randbytes(rng.randint(1, 300))] for _ in range(40)]
        messages += [[b"a", b"b"], [b"", b"x", b"y", b"z"], [b"1", b"2", b"3", b"4", b"5"]]
        messages += [[b"", body] for body in control_bodies()]
        messages += [[data] for data in envelopes(protocol, node)]
        for parts in messages:
            sock.send_multipart(parts)
        # one drop a message, but a message that is not a control one is a batch of protocol
        # frames: one drop a frame
        expected[node] = sum(1 if parts[0] == b"" else len(parts) for parts in messages)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    evs = events(out)
    dropped = Counter(e["node"] for e in evs if e["event"] == "frame_dropped"
                      and e.get("src") == FUZZER)
    assert dropped == expected, [e["reason"] for e in evs if e["event"] == "frame_dropped"][:20]
    assert all(e.get("reason") for e in evs if e["event"] == "frame_dropped")
    # no agent died: each started once, and each stopped when the runner said so
    assert Counter(e["node"] for e in evs if e["event"] == "agent_started") == {n: 1 for n in
                                                                               started}
    assert {e["node"] for e in evs if e["event"] == "agent_stopped"} == set(started)
    assert not any(pid_alive(e["pid"]) for e in started.values())
    ends = Counter(e["task"] for e in evs if e["event"] == "task_end")
    assert set(ends) == {e["task"] for e in evs if e["event"] == "task_submit"}
    assert set(ends.values()) == {1}
    answered = sum(e["status"] == "answered" for e in evs if e["event"] == "task_end")
    assert answered >= 0.9 * len(ends)
