"""anp: CRC32 on every frame, NACK re-requests from a retransmit buffer, DID-WBA handshake."""

from __future__ import annotations

import json
import time
import zlib

import pytest

from fsr.protocols import MalformedFrame, Message
from fsr.protocols.anp import MIN_FRAME
from fsr.protocols.base import Heartbeat, WireFrame
from fsr.protocols.did_wba import DidIdentity, authority_of, did_for, node_of, verify
from tests.protocols.fakebus import FakeBus, Node


def setup(make_bus) -> tuple[FakeBus, Node, Node]:
    bus = make_bus("anp")
    return bus, bus.add("agent_0", "search"), bus.add("agent_1", "extract")


def flip_nth(n: int, src: str = "agent_0", bit_at: float = 0.6):
    """A tamper hook flipping one bit of the `n`th frame `src` sends (counting from 1)."""
    seen = {"count": 0}

    def tamper(s: str, d: str, f: WireFrame) -> bytes:
        if s != src:
            return f.data
        seen["count"] += 1
        if seen["count"] != n:
            return f.data
        data = bytearray(f.data)
        data[int(len(data) * bit_at)] ^= 0x04
        return bytes(data)

    return tamper


def test_frame_layout_and_did_addressing(make_bus) -> None:
    bus, a, b = setup(make_bus)
    a.adapter.start_handshake("agent_1")
    bus.pump()
    msg = Message("lookup", {"question": "q"})
    frame = a.adapter.encode("agent_1", msg)[0]
    raw = frame.data[:-4]
    assert zlib.crc32(raw).to_bytes(4, "big") == frame.data[-4:]
    assert frame.data[0] >> 6 == 1  # ANP meta-protocol header: application protocol
    body = json.loads(raw[9:])
    assert body["sourceDid"] == "did:wba:127.0.0.1%3A9100:agents:agent_0"
    assert body["destinationDid"] == "did:wba:127.0.0.1%3A9101:agents:agent_1"
    assert body["messageId"] == msg.msg_id and body["content"] == msg.body


def test_bit_flip_is_caught_and_recovered_by_re_request(make_bus) -> None:
    bus, a, b = setup(make_bus)
    msgs = [Message("stage_request", {"n": i, "text": "a" * 300}) for i in range(4)]
    bus.tamper = flip_nth(3)
    for m in msgs:
        assert a.adapter.send_message("agent_1", m)
    bus.pump()
    assert sorted(m.body["n"] for m in b.got) == [0, 1, 2, 3]
    assert [m.body for m in b.got if m.msg_id == msgs[2].msg_id] == [msgs[2].body]
    assert [e["seq"] for e in b.transport.logged("crc_fail")] == [3]
    assert len(b.transport.logged("frame_dropped")) == 1
    assert [f.kind for f in b.frames_to("agent_0")] == ["anp.nack"]
    resent = [f for f in a.frames_to("agent_1") if f.kind == "anp.retransmit"]
    assert [f.msg_id for f in resent] == [msgs[2].msg_id]
    assert b.transport.logged("anp_recovered") == [{"src": "agent_0", "seq": 3}]


def test_flip_in_header_of_first_frame_still_recovers(make_bus) -> None:
    bus, a, b = setup(make_bus)
    bus.tamper = flip_nth(1, bit_at=0.0)  # the protocol-type byte of the very first frame
    msgs = [Message("lookup", {"n": i}) for i in range(3)]
    for m in msgs:
        a.adapter.send_message("agent_1", m)
    bus.pump()
    assert sorted(m.body["n"] for m in b.got) == [0, 1, 2]


def test_lost_frame_is_detected_as_a_gap(make_bus) -> None:
    bus, a, b = setup(make_bus)
    lost = flip_nth(2)
    bus.tamper = lambda s, d, f: None if lost(s, d, f) != f.data else f.data
    for i in range(3):
        a.adapter.send_message("agent_1", Message("lookup", {"n": i}))
    bus.pump()
    assert sorted(m.body["n"] for m in b.got) == [0, 1, 2]
    assert b.transport.logged("anp_gap") == [{"src": "agent_0", "first": 2, "n": 1}]


def test_unanswered_nack_is_repeated_then_given_up(make_bus) -> None:
    bus, a, b = setup(make_bus)
    bus.tamper = lambda s, d, f: f.data if f.kind != "anp.nack" else None  # NACKs get lost
    for i in range(3):
        frame = a.adapter.encode("agent_1", Message("lookup", {"n": i}))[0]
        data = bytearray(frame.data)
        if i == 1:
            data[20] ^= 1
        b.transport.inbox.append(("agent_0", bytes(data)))  # straight into b's inbox
    bus.pump()
    assert [m.body["n"] for m in b.got] == [0, 2]
    t = time.time()
    for _ in range(b.adapter.NACK_TRIES + 1):
        t += b.adapter.NACK_RTO * 1.5
        b.adapter.tick(t)
    nacks = [f for f in b.frames_to("agent_0") if f.kind == "anp.nack"]
    assert len(nacks) == b.adapter.NACK_TRIES
    assert b.transport.logged("anp_unrecovered") == [{"src": "agent_0", "seq": 2}]


def test_duplicate_frame_is_dropped(make_bus) -> None:
    bus, a, b = setup(make_bus)
    frame = a.adapter.encode("agent_1", Message("lookup", {"n": 1}))[0]
    assert len(b.adapter.decode("agent_0", frame.data)) == 1
    assert b.adapter.decode("agent_0", frame.data) == []
    assert b.transport.logged("anp_duplicate")


def test_failed_send_reuses_its_sequence_number(make_bus) -> None:
    bus, a, b = setup(make_bus)
    a.adapter.send_message("agent_1", Message("lookup", {"n": 0}))
    bus.cut.add(("agent_0", "agent_1"))
    assert not a.adapter.send_message("agent_1", Message("lookup", {"n": 1}))
    bus.cut.clear()
    a.adapter.send_message("agent_1", Message("lookup", {"n": 2}))
    bus.pump()
    assert [m.body["n"] for m in b.got] == [0, 2]
    assert b.transport.logged("anp_gap") == []  # no phantom gap from the frame never sent


def test_handshake_verifies_signatures_both_ways(make_bus) -> None:
    bus, a, b = setup(make_bus)
    a.adapter.start_handshake("agent_1")
    bus.pump()
    sent = [f.kind for _, f in a.transport.sent + b.transport.sent]
    assert sorted(sent) == sorted(["anp.didHello", "anp.didChallenge", "anp.didAuth",
                                   "anp.didAuthOk"])
    assert [m.kind for m in a.got] == ["peer_ready"]
    assert a.adapter.auth.peer_dids["agent_1"] == b.adapter.me.did


def _forge(field: str):
    def tamper(s: str, d: str, f: WireFrame) -> bytes:
        if f.kind != field:
            return f.data
        raw = bytearray(f.data[:-4])
        body = json.loads(raw[9:])
        sig = body["proof"]["signature"]
        body["proof"]["signature"] = ("B" if sig[0] != "B" else "C") + sig[1:]
        out = bytes(raw[:9]) + json.dumps(body).encode()
        return out + zlib.crc32(out).to_bytes(4, "big")  # a valid frame with a bad signature

    return tamper


def test_forged_responder_signature_is_rejected(make_bus) -> None:
    bus, a, b = setup(make_bus)
    bus.tamper = _forge("anp.didChallenge")
    a.adapter.start_handshake("agent_1")
    bus.pump()
    assert a.got == []
    assert a.transport.logged("did_auth_failed")[0]["why"] == "bad signature"


def test_forged_initiator_signature_is_rejected(make_bus) -> None:
    bus, a, b = setup(make_bus)
    bus.tamper = _forge("anp.didAuth")
    a.adapter.start_handshake("agent_1")
    bus.pump()
    assert a.got == []
    assert b.transport.logged("did_auth_failed")[0]["side"] == "responder"
    assert a.transport.logged("did_auth_refused")


def test_did_wba_proofs() -> None:
    alice = DidIdentity(did_for("alice", 9001))
    bob = DidIdentity(did_for("bob", 9002))
    aud = authority_of(bob.did)
    assert aud == "127.0.0.1:9002" and node_of(alice.did) == "alice"
    proof = alice.prove("n1", aud)
    assert verify(proof, alice.document, "n1", aud) is None
    assert verify(proof, alice.document, "n2", aud) == "answers another challenge"
    assert verify(proof, bob.document, "n1", aud) == "DID does not match its document"
    assert verify(proof, alice.document, "n1", "127.0.0.1:1") == "bad signature"
    assert verify({**proof, "signature": "AA"}, alice.document, "n1", aud) is not None


def test_short_and_corrupt_heartbeats(make_bus) -> None:
    bus, a, b = setup(make_bus)
    frame = a.adapter.encode_heartbeat(Heartbeat("agent_0", "inc", 5))
    assert len(frame.data) > MIN_FRAME
    bad = bytearray(frame.data)
    bad[12] ^= 0x10
    with pytest.raises(MalformedFrame, match="CRC32"):
        b.adapter.decode_heartbeat(bytes(bad))
    assert b.transport.logged("crc_fail")[0]["channel"] == "heartbeat"


def test_two_handshakes_at_once_both_authenticate(make_bus) -> None:
    bus, a, b = setup(make_bus)
    assert a.adapter.start_handshake("agent_1") and a.adapter.start_handshake("agent_1")
    bus.pump()
    assert [m.kind for m in a.got] == ["peer_ready"]
    assert b.transport.logged("did_auth_failed") == []
    assert [f.kind for f in b.frames_to("agent_0")].count("anp.didAuthOk") == 2


def test_restarted_peer_refuses_the_old_token_and_the_sender_reauthenticates(make_bus) -> None:
    """DID-WBA after a restart: the new process never issued the bearer token the sender holds,
    so it answers 401 (authRequired); the sender runs DID-WBA again and resends the message,
    which then arrives once."""
    bus, a, _ = setup(make_bus)
    a.adapter.start_handshake("agent_1")
    bus.pump()
    assert [m.kind for m in a.got] == ["peer_ready"] and "agent_1" in a.adapter.auth.tokens
    b = bus.restart("agent_1")
    msg = Message("lookup", {"question": "q"})
    assert a.adapter.send_message("agent_1", msg)
    bus.pump()
    assert [m.msg_id for m in b.got] == [msg.msg_id]  # delivered once, after re-authenticating
    assert [e["reason"] for e in b.transport.logged("frame_dropped")] == [
        "anp: 401 from 'agent_0': bearer token not issued here"]
    assert [e["re"] for e in a.transport.logged("anp_reauth")] == [msg.msg_id]
    assert [e["mid"] for e in a.transport.logged("anp_resent")] == [msg.msg_id]
    assert [m.kind for m in a.got] == ["peer_ready", "peer_ready"]  # the second DID-WBA
    assert a.adapter.auth.tokens["agent_1"] == b.adapter.auth.issued["agent_0"]
