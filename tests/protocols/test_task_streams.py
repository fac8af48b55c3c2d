"""a2a and acp: the answer streams as protocol events, and a reconnection re-attaches to work the
peer still holds — or learns (hop_lost) that the peer never heard of it."""

from __future__ import annotations

import json

import pytest

from fsr.protocols import Message
from fsr.protocols.base import canonical
from tests.protocols.fakebus import TASK_PROTOCOLS, FakeBus, Node, request_body


def setup(make_bus, protocol: str) -> tuple[FakeBus, Node, Node]:
    bus = make_bus(protocol)
    a, b = bus.add("agent_0", "search"), bus.add("agent_1", "extract")
    for x, y in ((a, "agent_1"), (b, "agent_0")):
        assert x.adapter.start_handshake(y)
    bus.pump()
    a.got.clear()
    b.got.clear()
    return bus, a, b


def kinds_sent(node: Node, dest: str) -> list[str]:
    return [f.kind for f in node.frames_to(dest)]


def test_a2a_hop_is_a_stream_of_task_events(make_bus) -> None:
    bus, a, b = setup(make_bus, "a2a")
    a.transport.sent.clear()
    b.transport.sent.clear()
    req = Message("stage_request", request_body())
    a.adapter.send_message("agent_1", req)
    bus.pump()
    reply = Message("stage_reply", {"output": {"answer": "x"}}, reply_to=req.msg_id)
    b.adapter.send_message("agent_0", reply)
    bus.pump()
    assert kinds_sent(a, "agent_1") == ["a2a.message/stream"]
    assert kinds_sent(b, "agent_0") == ["a2a.status-update.submitted", "a2a.status-update.working",
                                        "a2a.artifact-update", "a2a.status-update.completed"]
    events = [json.loads(f.data) for f in b.frames_to("agent_0")]
    assert {e["id"] for e in events} == {req.msg_id}  # the stream of the message/stream call
    assert [e["result"].get("final") for e in events] == [False, False, None, True]
    assert len({e["result"]["taskId"] for e in events}) == 1
    assert [f.msg_id for f in b.frames_to("agent_0")] == [req.msg_id] * 2 + [reply.msg_id] * 2
    assert a.adapter.outstanding.get(req.msg_id) is None  # the final status closed it


def test_acp_reply_streams_in_parts(make_bus) -> None:
    bus, a, b = setup(make_bus, "acp")
    a.transport.sent.clear()
    b.transport.sent.clear()
    req = Message("lookup", {"question": "q"})
    a.adapter.send_message("agent_1", req)
    bus.pump()
    body = {"hits": [{"fid": f"f{i}", "text": "w" * 900} for i in range(3)]}
    reply = Message("lookup_reply", body, reply_to=req.msg_id)
    b.adapter.send_message("agent_0", reply)
    bus.pump()
    parts = -(-len(canonical(body)) // b.adapter.PART_SIZE)
    assert parts >= 3
    assert kinds_sent(a, "agent_1") == ["acp.POST /runs"]
    assert kinds_sent(b, "agent_0") == (["acp.run.created"] + ["acp.message.part"] * parts
                                        + ["acp.run.completed"])
    assert [f.payload_len for f in b.frames_to("agent_0")][1:-1] == [
        min(b.adapter.PART_SIZE, len(canonical(body)) - i * b.adapter.PART_SIZE)
        for i in range(parts)]
    assert a.kinds("lookup_reply")[0].body == body


@pytest.mark.parametrize("protocol", TASK_PROTOCOLS)
def test_reattach_to_restarted_peer_reports_hop_lost(make_bus, protocol: str) -> None:
    bus, a, b = setup(make_bus, protocol)
    req = Message("stage_request", request_body())
    a.adapter.send_message("agent_1", req)
    bus.pump()  # b acknowledged: a knows b's task / run id
    assert a.adapter.outstanding.get(req.msg_id).remote_id
    bus.restart("agent_1")  # SIGKILL + restart: the new process never heard of that work
    a.transport.sent.clear()
    assert a.adapter.start_handshake("agent_1")
    bus.pump()
    assert [m.kind for m in a.got] == ["peer_ready", "hop_lost"]
    assert a.got[1].body == {"reply_to": req.msg_id} and a.got[1].sender == "agent_1"
    reattach = {"a2a": "a2a.tasks/resubscribe", "acp": "acp.GET /runs/{id}"}[protocol]
    assert reattach in kinds_sent(a, "agent_1")  # asked on the wire, not guessed
    assert a.transport.logged("reattach_failed")


@pytest.mark.parametrize("protocol", TASK_PROTOCOLS)
def test_unacknowledged_request_to_restarted_peer_is_lost(make_bus, protocol: str) -> None:
    bus, a, _ = setup(make_bus, protocol)
    bus.tamper = lambda s, d, f: None if f.kind.endswith(("message/stream", "/runs")) else f.data
    req = Message("lookup", {"question": "q"})
    assert a.adapter.send_message("agent_1", req)  # lost in transit
    bus.tamper = lambda s, d, f: f.data
    bus.restart("agent_1")
    a.adapter.start_handshake("agent_1")
    bus.pump()
    assert [m.kind for m in a.got] == ["peer_ready", "hop_lost"]


@pytest.mark.parametrize("protocol", TASK_PROTOCOLS)
def test_unacknowledged_request_to_same_peer_keeps_waiting(make_bus, protocol: str) -> None:
    bus, a, b = setup(make_bus, protocol)
    acks = ("submitted", "working", "run.created")
    bus.tamper = lambda s, d, f: None if f.kind.endswith(acks) else f.data  # acks get lost
    req = Message("lookup", {"question": "q"})
    a.adapter.send_message("agent_1", req)
    bus.pump()
    assert a.adapter.outstanding.get(req.msg_id).remote_id is None
    a.adapter.start_handshake("agent_1")  # reconnecting to the same process: nothing is lost
    bus.pump()
    assert [m.kind for m in a.got] == ["peer_ready"]
    b.adapter.send_message("agent_0", Message("lookup_reply", {"hits": []}, reply_to=req.msg_id))
    bus.pump()
    assert [m.kind for m in a.got] == ["peer_ready", "lookup_reply"]


@pytest.mark.parametrize("protocol", TASK_PROTOCOLS)
def test_reattach_recovers_an_answer_that_could_not_be_sent(make_bus, protocol: str) -> None:
    bus, a, b = setup(make_bus, protocol)
    req = Message("stage_request", request_body(2500))
    a.adapter.send_message("agent_1", req)
    bus.pump()
    bus.cut.add(("agent_1", "agent_0"))  # a's inbox unreachable while b answers
    reply = Message("stage_reply", {"output": {"answer": "y" * 3000}}, reply_to=req.msg_id)
    assert not b.adapter.send_message("agent_0", reply)
    bus.cut.clear()
    a.transport.sent.clear()
    a.adapter.start_handshake("agent_1")
    bus.pump()
    assert [m.kind for m in a.got] == ["peer_ready", "stage_reply"]
    got = a.got[1]
    assert (got.body, got.msg_id, got.reply_to) == (reply.body, reply.msg_id, req.msg_id)
    assert a.adapter.outstanding.get(req.msg_id) is None


@pytest.mark.parametrize("protocol", TASK_PROTOCOLS)
def test_reattach_to_running_work_then_answer_arrives(make_bus, protocol: str) -> None:
    bus, a, b = setup(make_bus, protocol)
    req = Message("lookup", {"question": "q"})
    a.adapter.send_message("agent_1", req)
    bus.pump()
    a.adapter.start_handshake("agent_1")  # e.g. b was paused; it still runs the work
    bus.pump()
    assert [m.kind for m in a.got] == ["peer_ready"]
    b.adapter.send_message("agent_0", Message("lookup_reply", {"hits": []}, reply_to=req.msg_id))
    bus.pump()
    assert [m.kind for m in a.got] == ["peer_ready", "lookup_reply"]
    assert a.got[1].reply_to == req.msg_id


@pytest.mark.parametrize("protocol", TASK_PROTOCOLS)
def test_answer_without_known_request_still_reaches_application(make_bus, protocol: str) -> None:
    bus, a, b = setup(make_bus, protocol)
    reply = Message("stage_reply", {"output": {}}, reply_to="no-such-request")
    assert b.adapter.send_message("agent_0", reply)
    bus.pump()
    assert [(m.kind, m.reply_to, m.msg_id) for m in a.got] == [
        ("stage_reply", "no-such-request", reply.msg_id)]  # the agent logs it as stale


def test_acp_stream_cut_mid_reply_is_replayed_whole(make_bus) -> None:
    bus, a, b = setup(make_bus, "acp")
    req = Message("stage_request", request_body())
    a.adapter.send_message("agent_1", req)
    bus.pump()
    sent = {"n": 0}

    def cut_after_two_parts(s: str, d: str, f) -> bytes | None:
        if f.kind == "acp.message.part":
            sent["n"] += 1
            if sent["n"] > 2:
                bus.cut.add(("agent_1", "agent_0"))
        return f.data

    bus.tamper = cut_after_two_parts
    reply = Message("stage_reply", {"output": {"answer": "q" * 2000}}, reply_to=req.msg_id)
    assert not b.adapter.send_message("agent_0", reply)
    bus.pump()
    bus.tamper = lambda s, d, f: f.data
    bus.cut.clear()
    a.adapter.start_handshake("agent_1")
    bus.pump()
    assert [m.kind for m in a.got] == ["peer_ready", "stage_reply"]
    assert a.got[1].body == reply.body
