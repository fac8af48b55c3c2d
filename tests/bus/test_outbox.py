"""The turn's outbox (`Mesh.flush`): a peer's first frame of a turn goes out at once, its later
ones wait for the end of the turn and then go out in order; each is logged ``send`` when ZeroMQ
takes it, and a held frame whose link died before the flush is logged ``send_failed``, not sent.
Two real nodes over real sockets."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from fsr.bus.node import MeshNode
from fsr.eventlog import EventLog, read_events
from fsr.protocols import Message


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox(MeshNode):
    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.got: list[Message] = []

    def on_message(self, msg: Message) -> None:
        self.got.append(msg)


def make(node_id: str, log: Path) -> Inbox:
    return Inbox(node_id=node_id, protocol="json", log=EventLog(log, node_id),
                 data_port=free_port(), hb_port=None, role="search", incarnation=f"{node_id}-1",
                 hb_interval=1.0, hb_liveness=3)


def until(pred: Callable[[], bool], *nodes: MeshNode, timeout: float = 10.0) -> None:
    deadline = time.time() + timeout
    while not pred():
        assert time.time() < deadline, "timed out"
        for n in nodes:
            n.step(0.01)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Inbox, Inbox, Path]]:
    log = tmp_path / "log.jsonl"
    a, b = make("agent_a", log), make("agent_b", log)
    a.add_peer("agent_b", b.local.port, None)
    b.add_peer("agent_a", a.local.port, None)
    until(lambda: a.adapter.send_message("agent_b", Message("document", {"warm": 1})), a, b)
    until(lambda: len(b.got) == 1, a, b)
    b.got.clear()
    yield a, b, log
    for n in (a, b):
        if n.running:
            n.close()


def test_first_frame_goes_at_once_the_rest_at_the_end_of_the_turn(
        pair: tuple[Inbox, Inbox, Path]) -> None:
    a, b, log = pair
    sent = [Message("document", {"n": i}) for i in range(3)]
    for msg in sent:  # between two turns of `a`, as a handler would
        assert a.adapter.send_message("agent_b", msg)
    until(lambda: len(b.got) >= 1, b)
    end = time.time() + 0.3
    while time.time() < end:  # b reads on; a has not ended its turn
        b.step(0.01)
    assert [m.msg_id for m in b.got] == [sent[0].msg_id]
    flushed_at = time.time()
    a.step(0)  # the turn's end writes what it held
    until(lambda: len(b.got) == 3, b)
    assert [m.msg_id for m in b.got] == [m.msg_id for m in sent]  # in order
    a.close()
    b.close()
    sends = {e["mid"]: e for e in read_events(log)[0] if e["event"] == "send"
             and e["node"] == "agent_a"}
    assert sends[sent[0].msg_id]["ts"] < flushed_at <= sends[sent[1].msg_id]["ts"]
    assert sends[sent[2].msg_id]["ts"] >= flushed_at


def test_held_frame_of_a_link_lost_before_the_flush_is_not_sent(
        pair: tuple[Inbox, Inbox, Path]) -> None:
    a, b, log = pair
    first, held = Message("document", {"n": 1}), Message("document", {"n": 2})
    assert a.adapter.send_message("agent_b", first)
    assert a.adapter.send_message("agent_b", held)  # held: accepted, not yet written
    until(lambda: len(b.got) == 1, b)
    b.close()
    # wait, without a.step (it would flush), until a's socket has dropped the link: the monitor
    # reports the disconnect, then the socket takes the pipe's end (no more POLLOUT under
    # ZMQ_IMMEDIATE; until then ZeroMQ would still take a frame, and lose it)
    mon = next(m for m, (peer, kind) in a.mesh.monitors.items() if kind == "dealer")
    deadline = time.time() + 10
    while recv_monitor_message(mon)["event"] != zmq.EVENT_DISCONNECTED:
        assert time.time() < deadline
    dealer = a.mesh.dealers["agent_b"]
    while zmq.backend.Socket.get(dealer, zmq.EVENTS) & zmq.POLLOUT:
        assert time.time() < deadline
        time.sleep(0.01)
    a.mesh.flush()
    a.close()
    events = read_events(log)[0]
    assert not [e for e in events if e["event"] == "send" and e["mid"] == held.msg_id]
    failed = [e for e in events if e["event"] == "send_failed" and e["mid"] == held.msg_id]
    assert len(failed) == 1 and failed[0]["reason"].startswith("refused at the end of the turn")
    assert [m.msg_id for m in b.got] == [first.msg_id]


def test_a_send_with_no_link_still_fails_at_once(tmp_path: Path) -> None:
    a = make("agent_a", tmp_path / "log.jsonl")
    try:
        a.add_peer("agent_gone", free_port(), None)  # nobody listens there
        assert not a.adapter.send_message("agent_gone", Message("document", {}))
        assert not a.adapter.send_message("agent_gone", Message("document", {}))
    finally:
        a.close()
    failed = [e for e in read_events(tmp_path / "log.jsonl")[0] if e["event"] == "send_failed"]
    assert [e["reason"] for e in failed] == ["no live connection"] * 2


def test_a_long_turn_flushes_on_its_own(pair: tuple[Inbox, Inbox, Path]) -> None:
    a, b, _ = pair
    count = a.mesh.FLUSH_AT + 1
    for i in range(count):
        assert a.adapter.send_message("agent_b", Message("document", {"n": i}))
    until(lambda: len(b.got) == count, b)  # a never ended its turn
