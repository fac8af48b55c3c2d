"""A mixed mesh's inbox (`fsr.bus.mux`): a frame in the receiver's own protocol goes bare, one
in another protocol behind that protocol's tag part, and the receiver hands each to the adapter
of its protocol; a tag's bytes are counted on the frame it precedes; a tagged frame that does
not parse, a lone tag and an unknown tag are counted and dropped. Two real nodes over real
sockets, and a raw DEALER for the garbage."""

from __future__ import annotations

from pathlib import Path

import zmq

from fsr.bus.wire import frame_bytes
from fsr.eventlog import EventLog, read_events
from fsr.protocols import Message
from tests.bus.test_outbox import Inbox, free_port, until

PROTOCOLS = {"agent_a": "json", "agent_b": "acp", "runner": "json"}


def make(node_id: str, log: Path) -> Inbox:
    return Inbox(node_id=node_id, protocol=PROTOCOLS[node_id], log=EventLog(log, node_id),
                 data_port=free_port(), hb_port=None, role="search",
                 incarnation=f"{node_id}-1", hb_interval=1.0, hb_liveness=3,
                 protocols=PROTOCOLS)


def test_each_frame_reaches_the_adapter_of_its_protocol(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    a, b = make("agent_a", log), make("agent_b", log)
    raw = zmq.Context.instance().socket(zmq.DEALER)
    try:
        assert a.mixed and set(a.adapters) == {"json", "acp"} and a.adapter.name == "json"
        assert a.adapter_for("agent_b").name == "acp" and b.adapter_for("agent_a").name == "json"
        a.add_peer("agent_b", b.local.port, None)
        b.add_peer("agent_a", a.local.port, None)
        # a request to b in b's protocol (acp), bare
        until(lambda: a.adapter_for("agent_b").send_message(
            "agent_b", Message("document", {"to": "b"})), a, b)
        until(lambda: len(b.got) == 1, a, b)
        # b's own protocol to a (as b answers a request): behind the acp tag, read by a's acp
        # adapter; and a's protocol to a, bare
        assert b.adapter.send_message("agent_a", Message("document", {"from": "b", "n": 1}))
        assert b.adapter_for("agent_a").send_message("agent_a",
                                                     Message("document", {"from": "b", "n": 2}))
        until(lambda: len(a.got) == 2, a, b)
        assert sorted(m.body["n"] for m in a.got) == [1, 2]
        # garbage: a tagged frame that does not parse, a lone tag, an unknown tag's batch
        raw.setsockopt(zmq.IDENTITY, b"intruder")
        raw.connect(f"tcp://127.0.0.1:{a.local.port}")
        raw.send_multipart([b"acp", b"not http"])
        raw.send_multipart([b"acp"])
        raw.send_multipart([b"smtp", b"{}"])
        until(lambda: sum(e["event"] == "frame_dropped" for e in read_events(log)[0]) >= 4,
              a, b, timeout=5)
        assert a.running
    finally:
        raw.close(linger=0)
        for n in (a, b):
            n.close()
            n.log.close()
    events, _ = read_events(log)
    sends = [e for e in events if e["event"] == "send"]
    tagged = [e for e in sends if "mux" in e]
    # only acp frames from b to the json node a go tagged (b's document, and its answer to a's
    # request): the tag's bytes are on their sends
    assert tagged and {(e["node"], e["dst"], e["kind"].split(".")[0]) for e in tagged} == {
        ("agent_b", "agent_a", "acp")}
    assert all(e["mux"] == frame_bytes(len(b"acp")) for e in tagged)
    assert {e["kind"].split(".")[0] for e in sends if e["node"] == "agent_a"} == {"acp"}
    dropped = [e for e in events if e["event"] == "frame_dropped" and e["node"] == "agent_a"]
    # acp's adapter refuses the tagged garbage and the lone tag (read as a json frame); an
    # unknown tag is no tag: its batch is two json frames, both refused
    assert [e["reason"].split(":")[0] for e in dropped] == ["acp", "json", "json", "json"], dropped
    assert all(e["src"] == "intruder" for e in dropped)
