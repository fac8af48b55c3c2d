"""ioa on the in-memory bus: AgentMessage frames (IoA's own model reads them in
`test_ioa_conformance.py`), the register handshake, and the client's retries (3 tries, 3 s
apart)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fsr.protocols import Message, adapter_class, design_for, kinds
from fsr.protocols.base import canonical
from fsr.protocols.failure import Backoff
from fsr.protocols.ioa import ASYNC_TASK, EXECUTION, SYNC_TASK, TASK_RESULT, TEAMUP
from tests.protocols.fakebus import FakeBus, Node, request_body


def ioa_pair() -> tuple[FakeBus, Node, Node]:
    bus = FakeBus("ioa")
    a, hub = bus.add("agent_0", "search"), bus.add("hub", "")
    assert a.adapter.start_handshake("hub")
    bus.pump()
    return bus, a, hub


FIELDS = ["content", "sender", "comm_id", "next_speaker", "state", "type", "proposal_id", "goal",
          "team_members", "team_up_depth", "task_id", "task_desc", "task_conclusion",
          "task_abstract", "triggers", "updated_plan", "is_collaborative_planning_enabled",
          "max_turns"]  # AgentMessage's, in order (common/types/communication.py:98-124)


def read(data: bytes) -> dict[str, Any]:
    env = json.loads(data)
    assert list(env)[:len(FIELDS)] == FIELDS  # every field, in the model's order
    return env


def test_requests_and_replies_are_agent_messages() -> None:
    bus, a, hub = ioa_pair()
    req = Message(kinds.STAGE_REQUEST, request_body(300))
    assert a.adapter.send_message("hub", req)
    bus.pump()
    frame = a.frames_to("hub")[-1]
    env = read(frame.data)
    assert (env["type"], env["state"]) == (SYNC_TASK, EXECUTION) and len(env) == len(FIELDS)
    assert (env["sender"], env["next_speaker"], env["comm_id"]) == ("agent_0", "hub", "t00042")
    assert (env["task_id"], env["task_desc"]) == (req.msg_id, "stage_request")
    assert env["content"].encode() == canonical(req.body)
    assert frame.payload_len == len(canonical(req.body)) and frame.category == "task"
    assert a.adapter.open_requests("hub")
    got = hub.kinds(kinds.STAGE_REQUEST)[-1]
    reply = Message(kinds.STAGE_REPLY, {"output": {"answer": "Ada"}}, reply_to=got.msg_id)
    assert hub.adapter.send_message("agent_0", reply)
    bus.pump()
    env = read(hub.frames_to("agent_0")[-1].data)
    assert (env["type"], env["task_id"]) == (TASK_RESULT, req.msg_id)
    assert env["msg_id"] == reply.msg_id  # fsr's field: AgentMessage has no message id
    answer = a.kinds(kinds.STAGE_REPLY)[-1]
    assert (answer.msg_id, answer.reply_to, answer.body) == (reply.msg_id, req.msg_id,
                                                             reply.body)
    assert not a.adapter.open_requests("hub")


def test_document_is_an_async_task_assignment() -> None:
    bus, a, hub = ioa_pair()
    doc = Message(kinds.DOCUMENT, {"document": {}, "shards": {}, "version": 1})
    assert a.adapter.send_message("hub", doc)
    bus.pump()
    env = read(a.frames_to("hub")[-1].data)
    assert (env["type"], env["comm_id"]) == (ASYNC_TASK, "")
    assert hub.kinds(kinds.DOCUMENT)[-1].msg_id == doc.msg_id
    assert not a.adapter.open_requests("hub")  # one-way: nothing awaits an answer


def test_register_handshake_exchanges_agent_info() -> None:
    bus, a, hub = ioa_pair()
    hello, answer = a.frames_to("hub")[0], hub.frames_to("agent_0")[0]
    for frame, content, who in ((hello, "register", a), (answer, "registered", hub)):
        env = read(frame.data)
        assert (env["state"], env["content"]) == (TEAMUP, content)
        assert env["team_members"] == [{"name": who.local.node_id, "type": "Thing Assistant",
                                        "desc": who.local.role,
                                        "incarnation": who.local.incarnation,
                                        "shard_version": 1}]
        assert frame.category == "handshake" and frame.payload_len == 0
    [ready] = a.kinds(kinds.PEER_READY)
    assert ready.body == {"peer": "hub", "role": "", "shard_version": 1,
                          "incarnation": hub.local.incarnation}
    hub.adapter.send_frames("agent_0", [answer])  # an answer nobody waits for: ignored
    bus.pump()
    assert len(a.kinds(kinds.PEER_READY)) == 1


def test_a_frame_for_another_node_is_dropped() -> None:
    bus, a, hub = ioa_pair()
    bus.tamper = lambda s, d, f: f.data.replace(b'"next_speaker":"hub"',
                                                b'"next_speaker":"agent_7"')
    a.adapter.send_message("hub", Message(kinds.LOOKUP, {"task_id": "t1", "fids": []}))
    bus.pump()
    assert hub.kinds(kinds.LOOKUP) == []
    [drop] = hub.transport.logged("frame_dropped")
    assert "next_speaker 'agent_7'" in drop["reason"]


def test_design_is_the_clients_retry_loop_scaled() -> None:
    d = adapter_class("ioa").DESIGN
    assert d is not None and d.liveness == {"stream"} and d.request_timeout is None
    assert (d.on_lost, d.backoff) == ("resubscribe", Backoff(3.0, 1.0, 3))
    assert design_for("ioa", "native", 0.5, 1.0, 3, 2.0).backoff == Backoff(1.5, 1.0, 3)


def held(bus: FakeBus, a: Node) -> Message:
    """A request to the hub, in flight when the hub's link goes; held by the adapter."""
    req = Message(kinds.STAGE_REQUEST, request_body())
    assert a.adapter.send_message("hub", req)
    bus.pump()
    bus.cut.add(("agent_0", "hub"))
    assert a.adapter.open_requests("hub")
    design = adapter_class("ioa").DESIGN
    assert design is not None and design.backoff is not None
    assert a.adapter.recover("hub", req.msg_id, design.backoff)
    return req


def test_a_held_request_is_sent_again_3_s_apart_then_given_up() -> None:
    bus, a, hub = ioa_pair()
    req = held(bus, a)
    bus.advance(2.9)
    assert a.transport.logged("ioa_retry") == []  # the first retry waits 3 s
    bus.advance(9.0)
    retries = a.transport.logged("ioa_retry")
    assert [(r["attempt"], r["sent"]) for r in retries] == [(1, False), (2, False), (3, False)]
    assert a.transport.logged("ioa_gave_up") == [{"dst": "hub", "mid": req.msg_id, "tries": 3}]
    assert a.transport.logged("hop_lost") == [{"mid": req.msg_id, "reason": "retries_exhausted"}]
    assert not a.adapter.open_requests("hub") and bus.timers == []


def test_the_first_send_that_goes_through_ends_the_retries() -> None:
    bus, a, hub = ioa_pair()
    req = held(bus, a)
    restarted = bus.restart("hub")  # a new hub process, back before the second try
    bus.advance(3.0)
    bus.cut.clear()
    bus.advance(10.0)
    assert [(r["attempt"], r["sent"]) for r in a.transport.logged("ioa_retry")] == [
        (1, False), (2, True)]
    assert a.transport.logged("hop_lost") == [] and bus.timers == []
    assert [m.msg_id for m in restarted.kinds(kinds.STAGE_REQUEST)] == [req.msg_id]
    assert a.adapter.open_requests("hub")  # it waits for its answer, with no timeout


@pytest.mark.parametrize("forget", [True, False])
def test_an_answered_or_forgotten_request_is_not_retried(forget: bool) -> None:
    bus, a, hub = ioa_pair()
    req = held(bus, a)
    if forget:
        a.adapter.forget(req.msg_id)
    else:  # its answer arrived meanwhile (over a link that works the other way)
        got = hub.kinds(kinds.STAGE_REQUEST)[-1]
        hub.adapter.send_message("agent_0", Message(kinds.STAGE_REPLY, {"output": 1},
                                                    reply_to=got.msg_id))
        bus.pump()
    bus.advance(10.0)
    assert a.transport.logged("ioa_retry") == [] and a.transport.logged("hop_lost") == []
    assert not a.adapter.recover("hub", req.msg_id, Backoff(3.0, 1.0, 3))
