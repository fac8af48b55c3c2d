"""One bit flipped on the wire between two real mesh nodes (ZeroMQ over TCP, through a relay).

anp: the receiver's CRC32 rejects the frame, NACKs it, the sender retransmits from its buffer and
the message arrives intact. json, for contrast, has no integrity check: the flipped frame (a bit
inside a string of the payload) still parses and is delivered corrupted.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest

from fsr.bus.node import MeshNode
from fsr.eventlog import EventLog, read_events
from fsr.protocols import Message
from tests.protocols.flip_relay import FlipRelay


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Probe(MeshNode):
    def __init__(self, node_id: str, protocol: str, log: Path) -> None:
        super().__init__(node_id=node_id, protocol=protocol, log=EventLog(log, node_id),
                         data_port=free_port(), hb_port=None, role="search",
                         incarnation=f"{node_id}-1", hb_interval=1.0, hb_liveness=3)
        self.got: list[Message] = []

    def on_message(self, msg: Message) -> None:
        self.got.append(msg)


def run_until(nodes: list[Probe], cond: Any, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, "timed out"
        for n in nodes:
            n.step(0.01)


def send_through_flip(tmp_path: Path, protocol: str, nth: int
                      ) -> tuple[list[Message], Probe, list[dict[str, Any]], bool]:
    log = tmp_path / "log.jsonl"
    a, b = Probe("agent_a", protocol, log), Probe("agent_b", protocol, log)
    relay = FlipRelay(b.local.port, nth=nth)  # a -> relay -> b; b -> a direct
    try:
        a.add_peer("agent_b", relay.port, None)  # via the node: its monitor is polled
        b.add_peer("agent_a", a.local.port, None)
        sent = [Message("stage_request", {"n": i, "text": "a" * 300}) for i in range(4)]
        for m in sent:
            run_until([a, b], lambda m=m: a.adapter.send_message("agent_b", m))
        run_until([a, b], lambda: len(b.got) >= len(sent) or (protocol == "json" and
                                                                relay.flipped and
                                                                len(b.got) >= len(sent) - 1))
        for _ in range(20):  # let any late retransmit or duplicate show up
            for n in (a, b):
                n.step(0.005)
        flipped = relay.flipped
    finally:
        relay.close()
        for n in (a, b):
            n.close()
            n.log.close()
    events, _ = read_events(log)
    return sent, b, events, flipped


@pytest.mark.timeout(60)
def test_anp_crc_rejects_flipped_frame_and_re_request_recovers_it(tmp_path: Path) -> None:
    sent, b, events, flipped = send_through_flip(tmp_path, "anp", nth=3)
    assert flipped
    assert sorted(m.msg_id for m in b.got) == sorted(m.msg_id for m in sent)  # each once
    for m in sent:
        assert next(g for g in b.got if g.msg_id == m.msg_id).body == m.body  # all intact
    crc = [e for e in events if e["event"] == "crc_fail"]
    assert len(crc) == 1 and crc[0]["node"] == "agent_b" and crc[0]["seq"] == 3
    assert [e for e in events if e["event"] == "frame_dropped"][0]["node"] == "agent_b"
    sends = [e for e in events if e["event"] == "send"]
    assert [e["node"] for e in sends if e["kind"] == "anp.nack"] == ["agent_b"]
    resent = [e for e in sends if e["kind"] == "anp.retransmit"]
    assert [(e["node"], e["mid"]) for e in resent] == [("agent_a", sent[2].msg_id)]
    assert any(e["event"] == "anp_recovered" for e in events)


@pytest.mark.timeout(60)
def test_json_has_no_check_flipped_frame_is_delivered_corrupted(tmp_path: Path) -> None:
    sent, b, events, flipped = send_through_flip(tmp_path, "json", nth=3)
    assert flipped
    # The bit lands inside the payload's string ("a" -> "`"): still valid JSON, so json hands the
    # corrupted body to the application. (Had it hit a quote or brace, the frame would have been
    # dropped as malformed instead — and lost: json never asks for it again.)
    got = {m.msg_id: m for m in b.got}
    assert len(got) == len(sent)
    assert got[sent[2].msg_id].body != sent[2].body
    assert "`" in got[sent[2].msg_id].body["text"]
    assert all(got[m.msg_id].body == m.body for i, m in enumerate(sent) if i != 2)
    assert not any(e["event"] in ("crc_fail", "frame_dropped") for e in events)
    assert not any(e.get("kind", "").endswith("retransmit") for e in events)
