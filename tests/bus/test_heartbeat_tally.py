"""Heartbeat tallies (`hb_tally`): each node logs, once per heartbeat interval and at close, the
exact count and wire bytes of the heartbeat copies it read — the runner too (it publishes none).
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from pathlib import Path

import pytest

from fsr.bus.node import MeshNode
from fsr.bus.wire import message_bytes
from fsr.eventlog import EventLog, read_events

INTERVAL = 0.2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node(node_id: str, log: Path, hb_port: int | None,
         protocols: dict[str, str] | None = None) -> MeshNode:
    protocol = (protocols or {}).get(node_id, "json")
    n = MeshNode(node_id=node_id, protocol=protocol, log=EventLog(log, node_id),
                 data_port=free_port(), hb_port=hb_port, role="search",
                 incarnation=f"{node_id}-1", hb_interval=INTERVAL, hb_liveness=3,
                 protocols=protocols)
    # what the node really read off its SUB socket (each message's part sizes), counted
    # beside its own tally
    n.read_sizes = Counter()  # type: ignore[attr-defined]
    recv = n.mesh.recv_heartbeat

    def counted() -> list[bytes] | None:
        parts = recv()
        if parts is not None:
            n.read_sizes[tuple(map(len, parts))] += 1  # type: ignore[attr-defined]
        return parts

    n.mesh.recv_heartbeat = counted  # type: ignore[method-assign]
    return n


@pytest.mark.parametrize("protocols", [None, {"agent_a": "json", "agent_b": "a2a",
                                                "runner": "json"}], ids=["json", "mixed"])
def test_tallies_are_the_copies_each_node_read(tmp_path: Path,
                                               protocols: dict[str, str] | None) -> None:
    """In a mixed mesh (`fsr.bus.mux`) each heartbeat travels behind its protocol's tag part,
    and the tally counts the tag's bytes too."""
    log = tmp_path / "log.jsonl"
    hb_ports = {"agent_a": free_port(), "agent_b": free_port()}
    a, b = (node(name, log, port, protocols) for name, port in hb_ports.items())
    runner = node("runner", log, None, protocols)  # like the coordinator: a SUB, no PUB
    nodes = [a, b, runner]
    try:
        for me in nodes:
            for peer in (a, b):
                if peer is not me:
                    me.add_peer(peer.node_id, peer.local.port, hb_ports[peer.node_id])
        a.start_heartbeats()
        b.start_heartbeats()
        deadline = time.time() + 6 * INTERVAL
        while time.time() < deadline:
            for n in nodes:
                n.step(0.01)
    finally:
        for n in nodes:
            n.close()
            n.log.close()
    events, bad = read_events(log)
    assert bad == 0
    for n in nodes:
        tallies = [e for e in events if e["event"] == "hb_tally" and e["node"] == n.node_id]
        assert len(tallies) >= 3, n.node_id  # one per interval, plus the last at close
        assert all(e["cat"] == "heartbeat" and "sec" not in e for e in tallies)  # no CURVE
        assert all(later["ts"] - e["ts"] >= INTERVAL - 0.001  # an interval apart at least
                   for e, later in zip(tallies[:-2], tallies[1:-1], strict=True))
        read = n.read_sizes  # type: ignore[attr-defined]
        assert sum(e["copies"] for e in tallies) == read.total() > 0
        assert sum(e["wire"] for e in tallies) == sum(message_bytes(list(sizes)) * k
                                                      for sizes, k in read.items())
        assert {len(sizes) for sizes in read} == {1 if protocols is None else 2}
        for e in tallies:  # the totals are the per-source counts
            assert [e["copies"], e["wire"]] == [sum(c) for c in zip(*e["by_src"].values(),
                                                                   strict=True)]
        assert {src for e in tallies for src in e["by_src"]} == {"agent_a", "agent_b"} - {
            n.node_id}
