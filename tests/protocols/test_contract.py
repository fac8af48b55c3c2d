"""The ProtocolAdapter contract every framing keeps (json, a2a, anp, acp), on the in-memory bus."""

from __future__ import annotations

import re
import sys

import pytest

from fsr.protocols import MalformedFrame, Message, adapter_class, design_for, kinds
from fsr.protocols.base import Heartbeat, canonical
from fsr.protocols.failure import ON_LOST, SIGNALS, Backoff, baseline
from tests.protocols.fakebus import ALL_PROTOCOLS, FakeBus, Node, request_body

REPLY_OF = {"stage_request": "stage_reply", "lookup": "lookup_reply"}


def pair(make_bus, protocol: str) -> tuple[FakeBus, Node, Node]:
    bus = make_bus(protocol)
    return bus, bus.add("agent_0", "search"), bus.add("agent_1", "extract+triple")


def exchange(bus: FakeBus, a: Node, b: Node, kind: str, body: dict, reply_body: dict
             ) -> tuple[Message, Message, Message, Message]:
    """a asks b, b answers; returns (request sent, request got, reply sent, reply got)."""
    req = Message(kind, body)
    assert a.adapter.send_message("agent_1", req)
    bus.pump()
    got = b.kinds(kind)[-1]
    reply = Message(REPLY_OF[kind], reply_body, reply_to=got.msg_id)
    assert b.adapter.send_message("agent_0", reply)
    bus.pump()
    return req, got, reply, a.kinds(REPLY_OF[kind])[-1]


def payload_sum(node: Node, msg_id: str) -> int:
    return sum(f.payload_len for _, f in node.transport.sent if f.msg_id == msg_id)


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
@pytest.mark.parametrize("kind", ["stage_request", "lookup"])
@pytest.mark.parametrize("size", [0, 5000])
def test_request_reply_round_trip(make_bus, protocol: str, kind: str, size: int) -> None:
    bus, a, b = pair(make_bus, protocol)
    body = request_body(size)
    reply_body = {"output": {"answer": "Ada \u00e9 \"x\"", "hits": ["y" * size]}, "n": 2.5}
    req, got, reply, back = exchange(bus, a, b, kind, body, reply_body)
    assert (got.kind, got.body, got.msg_id, got.reply_to, got.sender) == (
        kind, body, req.msg_id, None, "agent_0")
    assert (back.kind, back.body, back.msg_id, back.reply_to, back.sender) == (
        REPLY_OF[kind], reply_body, reply.msg_id, req.msg_id, "agent_1")
    # exactly once each, nothing else handed up
    assert [m.kind for m in b.got] == [kind] and [m.kind for m in a.got] == [REPLY_OF[kind]]
    # every payload byte crosses once, in frames tagged with the message's id and category
    assert payload_sum(a, req.msg_id) == len(canonical(body))
    assert payload_sum(b, reply.msg_id) == len(canonical(reply_body))
    for node, msg in ((a, req), (b, reply)):
        frames = [f for _, f in node.transport.sent if f.msg_id == msg.msg_id]
        assert frames and {f.category for f in frames} == {"task"}
        assert all(f.payload_len <= len(f.data) for f in frames)


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_document_is_one_way(make_bus, protocol: str) -> None:
    bus = make_bus(protocol)
    runner, agent = bus.add("runner", "runner"), bus.add("agent_0", "reason")
    doc = {"document": {"doc_id": "d", "fragments": [{"fid": "f1", "text": "z" * 3000}]},
           "shards": {"agent_0": ["f1"]}, "version": 1}
    msg = Message("document", doc)
    assert runner.adapter.send_message("agent_0", msg)
    bus.pump()
    assert [(m.kind, m.body, m.msg_id, m.reply_to, m.sender) for m in agent.got] == [
        ("document", doc, msg.msg_id, None, "runner")]
    assert runner.got == []  # any protocol-level answer stays inside the adapter
    assert payload_sum(runner, msg.msg_id) == len(canonical(doc))
    assert {f.category for f in runner.frames_to("agent_0")} == {"broadcast"}
    assert {f.category for f in agent.frames_to("runner")} <= {"broadcast"}


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_heartbeat_round_trip(make_bus, protocol: str) -> None:
    bus, a, b = pair(make_bus, protocol)
    hb = Heartbeat("agent_0", a.local.incarnation, 17)
    frame = a.adapter.encode_heartbeat(hb)
    assert (frame.category, frame.payload_len) == ("heartbeat", 0)
    assert b.adapter.decode_heartbeat(frame.data) == hb
    with pytest.raises(MalformedFrame):
        b.adapter.decode_heartbeat(frame.data[:-3])
    with pytest.raises(MalformedFrame):
        b.adapter.decode_heartbeat(b"\x00garbage")


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_handshake_makes_initiator_ready(make_bus, protocol: str) -> None:
    bus, a, b = pair(make_bus, protocol)
    b.local.shard_version = 3
    assert a.adapter.start_handshake("agent_1")
    bus.pump()
    ready = a.kinds("peer_ready")
    assert len(ready) == 1 and ready[0].sender == "agent_1"
    assert ready[0].body == {"peer": "agent_1", "role": "extract+triple", "shard_version": 3,
                             "incarnation": b.local.incarnation}
    assert b.got == []  # the responder answers; it does not become "ready" itself
    handshake = [f for _, f in a.transport.sent + b.transport.sent]
    assert handshake and {f.category for f in handshake} == {"handshake"}
    assert all(f.payload_len == 0 for f in handshake)


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_handshake_to_unreachable_peer_reports_false(make_bus, protocol: str) -> None:
    bus, a, _ = pair(make_bus, protocol)
    bus.cut.add(("agent_0", "agent_1"))
    assert not a.adapter.start_handshake("agent_1")
    assert not a.adapter.send_message("agent_1", Message("lookup", {"q": 1}))


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_malformed_frames_are_counted_and_dropped(make_bus, protocol: str) -> None:
    bus, a, b = pair(make_bus, protocol)
    good = a.adapter.encode("agent_1", Message("lookup", request_body()))[0].data
    for junk in (b"", b"\xff\xfe", b"{not json", b"[1,2,3]", good[: len(good) // 2],
                 b"x" * 40, good.replace(b"lookup", b"lookpu", 1)[:-1]):
        with pytest.raises(MalformedFrame):
            b.adapter.decode("agent_0", junk)
        assert b.adapter.receive_message("agent_0", junk) == []
    assert len(b.transport.logged("frame_dropped")) == 7


def test_categories_follow_kinds() -> None:
    assert kinds.CATEGORY[kinds.DOCUMENT] == "broadcast"
    assert Message("lookup", {}).category == "task"


# -- failure designs (`fsr.protocols.failure`) -------------------------------------------------
OWN_DESIGNS = [p for p in ALL_PROTOCOLS if adapter_class(p).DESIGN is not None]  # json: None
KNOBS = ("liveness", "request_timeout", "on_lost", "reconnect")
# a citation points somewhere a reader can open: an SDK file (with or without line numbers) or a
# numbered section of a spec
REFERENCE = re.compile(r"[\w/.-]+\.py\b|§\s?\d+(\.\d+)*")
# "a2a-python v0.3.26", "acp-sdk 1.0.3", "A2A spec v0.3.0": the code base, then its version
VERSIONED = re.compile(r"([A-Za-z][\w-]*)(?: spec)? v?(\d+\.\d+\.\d+)\b")
UNCITED: dict[tuple[str, str], str] = {}  # (protocol, knob) whose source cites nothing yet


def test_json_runs_the_baseline_built_from_the_config() -> None:
    """json has no design of its own: whatever the mode, it runs the baseline, whose times and
    sources are the config's numbers (not constants)."""
    assert adapter_class("json").DESIGN is None
    for mode in ("native", "uniform"):
        d = design_for("json", mode, 0.5, 0.3, 5, 1.7)
        assert d == baseline(0.3, 5, 1.7)
        assert (d.liveness, d.request_timeout, d.on_lost) == ({"heartbeat"}, 1.7, "republish")
        assert "interval 0.3 s x heartbeat.liveness 5" in d.sources["liveness"]
        assert REFERENCE.search(d.sources["on_lost"]), d.sources["on_lost"]


@pytest.mark.parametrize("protocol,knob", [
    pytest.param(p, k, marks=pytest.mark.xfail(reason=UNCITED[p, k], strict=True)
                 if (p, k) in UNCITED else ()) for p in OWN_DESIGNS for k in KNOBS])
def test_failure_design_cites_a_source_for_every_knob(protocol: str, knob: str) -> None:
    """Every knob of a protocol's own design names where its default comes from: an SDK file or
    a spec section, and the design names the version of what it cites, one version per code
    base (a source updated to a new SDK release drags the others along)."""
    design = adapter_class(protocol).DESIGN
    assert design is not None
    text = design.sources.get(knob, "")
    assert REFERENCE.search(text), (protocol, knob, text)
    versions: dict[str, set[str]] = {}
    for source in design.sources.values():
        for base, version in VERSIONED.findall(source):
            versions.setdefault(base.lower(), set()).add(version)
    assert versions, (protocol, design.sources)
    assert all(len(v) == 1 for v in versions.values()), versions


def backoff_words(b: Backoff) -> str:
    factor = "doubling" if b.factor == 2 else f"x{b.factor:g}"
    return f"({b.first:g} s, {factor}, {b.tries} tries)"


@pytest.mark.parametrize("protocol", OWN_DESIGNS)
def test_failure_design_sources_state_the_designs_own_numbers(protocol: str) -> None:
    """The numbers the sources quote (and the module docstring repeats) are the design's values:
    a default changed without its source (or the other way round) fails here."""
    cls = adapter_class(protocol)
    d = cls.DESIGN
    assert d is not None
    src = d.sources
    doc = " ".join((sys.modules[cls.__module__].__doc__ or "").split())
    if d.request_timeout is None:
        assert re.search(r"timeout=None|nothing times a request out", src["request_timeout"])
    else:
        said = f"{d.request_timeout:g} s"
        assert said in src["request_timeout"], (said, src["request_timeout"])
        assert f"{d.request_timeout:g} s read timeout" in doc
    if d.backoff is not None:
        assert backoff_words(d.backoff) in src["on_lost"], src["on_lost"]
        assert backoff_words(d.backoff) in doc
    if "ping" in d.liveness:
        assert d.ping_interval and d.ping_misses >= 1
        words = f"every {d.ping_interval:g} s"
        assert words in src["liveness"] and words in doc
        assert f"after {d.ping_misses} missed pongs" in src["liveness"]
        assert f"{d.ping_misses} unanswered in a row" in doc
    if protocol == "a2a":  # the spec version cited is the one the adapter's AgentCard declares
        spec = re.search(r"A2A spec v(\d+\.\d+\.\d+)", src["liveness"])
        assert spec and spec.group(1) == sys.modules[cls.__module__].PROTOCOL_VERSION


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_failure_design_signals_are_backed_by_the_adapter(make_bus, protocol: str) -> None:
    """Each signal a design lists has the adapter hook behind it, and a hook the design does not
    list stays silent: ``stream`` reports a request open until its answer arrives, ``ping`` is
    answered with a pong on the wire (and a design without it has no ping)."""
    design = design_for(protocol, "native", 1.0, 0.25, 4, 1.0)
    assert design.liveness and design.liveness <= SIGNALS and design.on_lost in ON_LOST
    assert (design.backoff is not None) == (design.on_lost == "resubscribe")
    bus, a, b = pair(make_bus, protocol)
    assert a.adapter.start_handshake("agent_1")
    bus.pump()
    req = Message("stage_request", request_body())
    assert a.adapter.send_message("agent_1", req)
    bus.pump()
    assert a.adapter.open_requests("agent_1") == ("stream" in design.liveness)
    got = b.kinds("stage_request")[-1]
    assert b.adapter.send_message("agent_0", Message("stage_reply", {"output": 1},
                                                     reply_to=got.msg_id))
    bus.pump()
    assert a.kinds("stage_reply") and not a.adapter.open_requests("agent_1")
    if "ping" in design.liveness:
        assert a.adapter.send_ping("agent_1", 7)
        bus.pump()
        assert [m.body for m in a.kinds("pong")] == [{"seq": 7}]
    else:
        with pytest.raises(NotImplementedError):
            a.adapter.send_ping("agent_1", 7)
