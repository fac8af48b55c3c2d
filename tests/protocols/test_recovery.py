"""Each protocol's reaction to a loss, as decisions (`fsr.protocols.recovery`): pure, so every
observation is checked against every protocol's real design without a process."""

from __future__ import annotations

import pytest

from fsr.protocols import design_for
from fsr.protocols.failure import Backoff
from fsr.protocols.peers import PeerTable
from fsr.protocols.recovery import Lose, Ping, Recovery


def recovery(protocol: str, mode: str = "native", ready: tuple[str, ...] = ("b", "c")
             ) -> Recovery:
    peers = PeerTable("a")
    peers.ready |= set(ready)
    return Recovery(design_for(protocol, mode, 1.0, 1.0, 3, 5.0), peers)


# protocol -> the signal it stops using a peer for (json: heartbeats; a2a, acp: the stream of
# an open request; anp: its pings)
@pytest.mark.parametrize(("protocol", "suspect", "stream", "timeout"), [
    ("json", [Lose("b", "heartbeat_timeout")], [], []),
    ("a2a", [], [Lose("b", "stream_closed")], [Lose("b", "request_timeout")]),
    ("anp", [], [], [Lose("b", "request_timeout")]),
    ("acp", [], [Lose("b", "stream_closed")], [Lose("b", "request_timeout")]),
])
def test_each_design_reacts_to_its_own_signals(protocol: str, suspect: list[Lose],
                                               stream: list[Lose], timeout: list[Lose]) -> None:
    r = recovery(protocol)
    assert r.suspected("b", "heartbeat_timeout") == suspect
    assert r.disconnected("b", open_request=True) == stream
    assert r.disconnected("b", open_request=False) == []
    assert r.timed_out("b") == timeout
    # whatever the design: a new incarnation, and a send the transport refuses
    assert r.suspected("b", "new_incarnation") == [Lose("b", "new_incarnation")]
    assert r.send_refused("b") == [Lose("b", "send_failed")]
    assert r.send_refused("a") == []  # a hop to itself is never a lost peer


@pytest.mark.parametrize("protocol", ["a2a", "anp", "acp"])
def test_uniform_runs_json_reaction_for_every_protocol(protocol: str) -> None:
    r = recovery(protocol, "uniform")
    assert r.suspected("b", "heartbeat_timeout") == [Lose("b", "heartbeat_timeout")]
    assert r.disconnected("b", open_request=True) == []
    assert r.timed_out("b") == []


def test_anp_pings_each_peer_in_use_and_loses_it_after_its_misses() -> None:
    r = recovery("anp")
    misses = r.design.ping_misses
    assert misses == 3
    rounds = [r.ping_round() for _ in range(misses)]
    assert rounds[0] == [Ping("b", 1), Ping("c", 2)]  # sequence numbers run on
    r.pong("c")  # c answers, b never does
    assert r.ping_round() == [Lose("b", "ping_timeout"), Ping("c", 2 * misses + 1)]
    assert r.peers.drop("b") and not r.peers.drop("b")  # routable until the loss is carried out
    assert "b" not in r.peers.ping_misses


def test_returned_peer_is_not_routable_until_its_new_handshake() -> None:
    r = recovery("json")
    r.returned("b")
    assert r.peers.others() == ["c"]


def test_only_a_resubscribing_design_whose_adapter_takes_the_hop_keeps_it() -> None:
    asked: list[Backoff] = []

    def takes(backoff: Backoff) -> bool:
        asked.append(backoff)
        return True

    a2a = recovery("a2a")
    assert a2a.keeps_hop("b", takes) and asked == [a2a.design.backoff]
    assert not a2a.keeps_hop("b", lambda _: False)  # the adapter cannot: re-publish
    for protocol in ("json", "anp", "acp"):
        assert not recovery(protocol).keeps_hop("b", takes)
    assert len(asked) == 1  # a republishing design never asks its adapter


def test_a_mixed_mesh_handles_each_peer_by_its_own_protocols_design() -> None:
    # a json node whose peer b speaks a2a and c anp (`protocols.by_role`)
    peers = PeerTable("a")
    peers.ready |= {"b", "c", "d"}
    own = design_for("json", "native", 1.0, 1.0, 3, 5.0)
    a2a, anp = (design_for(p, "native", 1.0, 1.0, 3, 5.0) for p in ("a2a", "anp"))
    r = Recovery(own, peers, {"b": a2a, "c": anp})
    assert r.design_of("b") is a2a and r.design_of("d") is own
    # json stops using d for its silence; a2a and anp do not use the heartbeat channel
    assert r.suspected("d", "heartbeat_timeout") == [Lose("d", "heartbeat_timeout")]
    assert r.suspected("b", "heartbeat_timeout") == [] == r.suspected("c", "heartbeat_timeout")
    assert r.disconnected("b", True) == [Lose("b", "stream_closed")]
    assert r.disconnected("d", True) == []
    # only a2a's hops are held (resubscribed); json's are re-published
    assert r.keeps_hop("b", lambda _: True) and not r.keeps_hop("d", lambda _: True)
    # anp's pings go to anp's peers only, on anp's schedule
    assert r.ping_designs() == [anp]
    assert r.ping_round(anp) == [Ping("c", 1)]
    assert r.ping_round(own) == []
