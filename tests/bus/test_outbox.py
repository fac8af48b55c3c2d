"""The turn's outbox (`Mesh.flush`): the frames a node sends in a loop turn wait for the end of
the turn and then go out in order, a peer's run of protocol frames as one multipart message that
the receiver reads back frame by frame; each frame is logged ``send`` when ZeroMQ takes it; a
send to a peer with no live connection still fails at once, and a held frame whose link died
before the flush is logged ``send_failed``, not sent. Two real nodes over real sockets."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
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


def test_a_turns_frames_go_at_its_end_in_order(pair: tuple[Inbox, Inbox, Path]) -> None:
    a, b, log = pair
    sent = [Message("document", {"n": i}) for i in range(3)]
    for msg in sent:  # between two turns of `a`, as a handler would
        assert a.adapter.send_message("agent_b", msg)
    end = time.time() + 0.3
    while time.time() < end:  # b reads on; a has not ended its turn
        b.step(0.01)
    assert b.got == []
    flushed_at = time.time()
    a.step(0)  # the turn's end writes what it held
    until(lambda: len(b.got) == 3, b)
    assert [m.msg_id for m in b.got] == [m.msg_id for m in sent]  # in order
    a.close()
    b.close()
    sends = {e["mid"]: e for e in read_events(log)[0] if e["event"] == "send"
             and e["node"] == "agent_a"}
    assert all(sends[m.msg_id]["ts"] >= flushed_at for m in sent)


def test_a_batch_is_one_multipart_message_read_back_frame_by_frame(
        tmp_path: Path, zmq_ctx: zmq.Context) -> None:
    log = tmp_path / "log.jsonl"
    a = make("agent_a", log)
    raw = zmq_ctx.socket(zmq.ROUTER)
    raw.setsockopt(zmq.LINGER, 0)
    port = raw.bind_to_random_port("tcp://127.0.0.1")
    try:
        a.add_peer("raw", port, None)
        until(lambda: bool(zmq.backend.Socket.get(a.mesh.dealers["raw"], zmq.EVENTS)
                           & zmq.POLLOUT), a)
        sent = [Message("document", {"n": i}) for i in range(3)]
        for msg in sent:
            assert a.adapter.send_message("raw", msg)
        a.step(0)
        assert raw.poll(5000)
        parts = raw.recv_multipart()
        assert parts[0] == b"agent_a"
        assert [orjson.loads(p)["id"] for p in parts[1:]] == [m.msg_id for m in sent]
        # and back: a batch from the raw socket reaches a's application frame by frame
        frames = [a.adapter.encode("agent_a", Message("document", {"n": i}))[0].data
                  for i in range(2)]
        back = zmq_ctx.socket(zmq.DEALER)  # to a's inbox, as a peer's DEALER
        back.setsockopt(zmq.IDENTITY, b"raw")
        back.setsockopt(zmq.LINGER, 0)
        back.connect(f"tcp://127.0.0.1:{a.local.port}")
        back.send_multipart(frames)
        until(lambda: len(a.got) == 2, a)
        assert [m.body for m in a.got] == [{"n": 0}, {"n": 1}]
    finally:
        a.close()
    sends = [e for e in read_events(log)[0] if e["event"] == "send"]
    assert [e["mid"] for e in sends] == [m.msg_id for m in sent]  # each frame counted once
    assert all(e["wire"] == len(p) + 2 for e, p in zip(sends, parts[1:], strict=True))


def test_held_frames_of_a_link_lost_before_the_flush_are_not_sent(
        pair: tuple[Inbox, Inbox, Path]) -> None:
    a, b, log = pair
    held = [Message("document", {"n": i}) for i in range(2)]
    for msg in held:
        assert a.adapter.send_message("agent_b", msg)  # held: accepted, not yet written
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
    mids = {m.msg_id for m in held}
    assert not [e for e in events if e["event"] == "send" and e["mid"] in mids]
    failed = [e for e in events if e["event"] == "send_failed" and e["mid"] in mids]
    assert len(failed) == 2
    assert all(e["reason"].startswith("refused at the end of the turn") for e in failed)
    assert b.got == []


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
    until(lambda: len(b.got) == a.mesh.FLUSH_AT, b)  # a never ended its turn
    end = time.time() + 0.2
    while time.time() < end:
        b.step(0.01)
    assert len(b.got) == a.mesh.FLUSH_AT  # the last one waits for the turn's end
    a.step(0)
    until(lambda: len(b.got) == count, b)
    assert [m.body["n"] for m in b.got] == list(range(count))
