"""agora's protocol document on the wire: exchanged at first contact and again after a restart,
sent as a hash alone in between; a request under a protocol the node does not hold is answered
``status: failure`` and counted; transport-level errors lose the request."""

from __future__ import annotations

import json

from fsr.protocols import Message, http1
from fsr.protocols.agora import DATA_URI, DOCUMENT, PROTOCOL_HASH, UNSUPPORTED
from fsr.protocols.base import WireFrame
from tests.protocols.fakebus import FakeBus, Node, request_body


def request_of(frame: WireFrame) -> dict:
    return json.loads(http1.parse(frame.data).body)


def carries_document(frame: WireFrame) -> bool:
    return any(s.startswith(DATA_URI) for s in request_of(frame)["protocolSources"])


def posts(node: Node, dest: str) -> list[WireFrame]:
    return [f for f in node.frames_to(dest) if f.kind in ("agora.POST", "agora.hello")]


def ready_pair() -> tuple[FakeBus, Node, Node]:
    bus = FakeBus("agora")
    a, b = bus.add("agent_0", "search"), bus.add("agent_1", "extract")
    assert a.adapter.start_handshake("agent_1")
    bus.pump()
    assert [m.kind for m in a.got] == ["peer_ready"]
    return bus, a, b


def test_document_travels_at_first_contact_and_then_the_hash_alone() -> None:
    bus, a, b = ready_pair()
    for _ in range(2):
        a.adapter.send_message("agent_1", Message("lookup", request_body()))
    bus.pump()
    hello, *later = posts(a, "agent_1")
    assert carries_document(hello) and len(later) == 2
    assert not any(carries_document(f) for f in later)
    assert {request_of(f)["protocolHash"] for f in (hello, *later)} == {PROTOCOL_HASH}
    # the responder took the document once, after checking its SHA1
    assert b.transport.logged("agora_learned") == [{"src": "agent_0", "hash": PROTOCOL_HASH}]
    assert len(DOCUMENT) < len(hello.data) and all(len(f.data) < len(DOCUMENT) for f in later)
    assert [m.kind for m in b.got] == ["lookup", "lookup"]


def test_restarted_peer_gets_the_document_again_and_its_open_requests_are_lost() -> None:
    bus, a, _ = ready_pair()
    lost = Message("stage_request", request_body())
    a.adapter.send_message("agent_1", lost)
    bus.pump()
    assert a.adapter.open_requests("agent_1")
    b2 = bus.restart("agent_1")  # the new process has neither the request nor the document
    sent_before = len(posts(a, "agent_1"))
    assert a.adapter.start_handshake("agent_1")
    bus.pump()
    hello = posts(a, "agent_1")[sent_before]
    assert hello.kind == "agora.hello" and carries_document(hello)
    assert b2.transport.logged("agora_learned") == [{"src": "agent_0", "hash": PROTOCOL_HASH}]
    ready = a.kinds("peer_ready")[-1]
    assert ready.body["incarnation"] == b2.local.incarnation
    assert [m.body for m in a.kinds("hop_lost")] == [{"reply_to": lost.msg_id}]
    assert not a.adapter.open_requests("agent_1")


def test_hash_alone_to_a_restarted_peer_is_unsupported_then_sent_again_with_the_document(
        ) -> None:
    """The peer restarted and no handshake ran yet (the runner, which runs none, re-sends its
    document broadcast so): the sender still sends the hash alone. The new process answers
    ``Unsupported protocol`` (standard §8.3) and counts the frame as dropped; the sender sends
    the same message again, once, with the document, and it arrives."""
    bus, a, _ = ready_pair()
    b2 = bus.restart("agent_1")
    req = Message("lookup", request_body())
    a.adapter.send_message("agent_1", req)
    bus.pump()
    first, again = posts(a, "agent_1")[-2:]
    assert not carries_document(first) and carries_document(again)
    assert first.msg_id == again.msg_id == req.msg_id
    [dropped] = b2.transport.logged("frame_dropped")
    assert dropped["src"] == "agent_0" and "unsupported protocol" in dropped["reason"]
    answer = json.loads(http1.parse(b2.frames_to("agent_0")[0].data).body)
    assert answer == {"status": "failure", "error": UNSUPPORTED}
    assert a.transport.logged("agora_resent") == [{"dst": "agent_1", "mid": req.msg_id}]
    assert [m.msg_id for m in b2.got] == [req.msg_id] and a.kinds("hop_lost") == []
    assert a.adapter.open_requests("agent_1")  # still awaiting its answer


def test_document_that_does_not_match_its_hash_is_refused() -> None:
    bus = FakeBus("agora")
    a, b = bus.add("agent_0", "search"), bus.add("agent_1", "extract")
    forged: list[str] = []

    def tamper(src: str, dst: str, frame: WireFrame) -> bytes:
        if frame.kind != "agora.POST":
            return frame.data
        msg = http1.parse(frame.data)
        env = json.loads(msg.body)
        env["protocolSources"] = [s.replace("fsr-mesh", "fsr-mash", 1) for s in
                                  env["protocolSources"]]
        forged.extend(env["protocolSources"])
        return http1.request("POST", "/", [("Host", dst), http1.JSON,
                                           ("X-Request-ID", msg.headers["x-request-id"])],
                             json.dumps(env).encode())

    bus.tamper = tamper
    req = Message("stage_request", request_body())
    a.adapter.send_message("agent_1", req)
    bus.pump()
    assert len(forged) == 1 and "fsr-mash" in forged[0]  # a document, not the agreed one
    assert b.got == [] and b.transport.logged("agora_learned") == []
    assert len(b.transport.logged("frame_dropped")) == 1
    assert [m.body for m in a.kinds("hop_lost")] == [{"reply_to": req.msg_id}]
    assert a.transport.logged("agora_failure") == [
        {"peer": "agent_1", "re": req.msg_id, "error": UNSUPPORTED}]
    assert a.transport.logged("agora_resent") == []  # it carried the document: not again


def test_transport_level_error_loses_the_request() -> None:
    """A conversation fsr never opened is an unknown endpoint: 404 (standard §10.1), which the
    SDK's client raises as ProtocolTransportError; the request is lost."""
    bus, a, b = ready_pair()

    def to_conversation(src: str, dst: str, frame: WireFrame) -> bytes:
        return frame.data.replace(b"POST / ", b"POST /conversations/c1 ", 1)

    bus.tamper = to_conversation
    req = Message("lookup", request_body())
    a.adapter.send_message("agent_1", req)
    bus.pump()
    assert b.got == [] and http1.parse(b.frames_to("agent_0")[-1].data).status == 404
    assert [m.body for m in a.kinds("hop_lost")] == [{"reply_to": req.msg_id}]
    assert a.transport.logged("agora_failure")[0]["error"] == "HTTP 404"
