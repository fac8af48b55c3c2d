"""Failure handling as a protocol owns it: which signal makes a node stop using a peer, what a
client does with a request outstanding to a lost peer, and how the two reconnect.

Each protocol module declares one `FailureDesign` (its `ProtocolAdapter.DESIGN`), with the
source of every default; `fsr.protocols.recovery` turns it into decisions, which the agent's
links carry out (`fsr.agents.links`), and the adapter supplies the
protocol's own frames for it (pings, resubscriptions). Under ``scenario.failure_handling:
uniform`` every protocol runs json's design instead, so wire cost and recovery design can be told
apart.

Liveness signals (any subset):
* ``heartbeat`` — the PUB/SUB heartbeat channel: a peer silent for interval x liveness is lost
  (Paranoid Pirate). The channel runs for every protocol as the mesh's membership view (the
  runner's choice of entry agents, the trigger to re-handshake with a returning peer); only a
  design listing this signal stops using a peer because of it.
* ``stream`` — the transport drops the connection of an open request (an SSE stream closing):
  a peer this node has a request outstanding with is lost the moment its connection closes.
* ``ping`` — request/response pings every `ping_interval` to each peer in use; `ping_misses`
  unanswered in a row and the peer is lost.
* a request timeout (`request_timeout`, None = wait for ever) fails a single request, and a
  send the transport refuses (connection refused) loses the peer, in every design.

In-flight requests on a lost peer (`on_lost`): ``republish`` fails the hop at once, so the agent
re-sends it to another agent of the role; ``resubscribe`` keeps it and asks the same peer again
on the `backoff` schedule (the peer, once back, says whether it still knows the work).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

SIGNALS = frozenset({"heartbeat", "stream", "ping"})
ON_LOST = frozenset({"republish", "resubscribe"})
MODES = ("native", "uniform")


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: attempt i (0-based) waits first * factor**i seconds."""

    first: float
    factor: float
    tries: int

    def delay(self, attempt: int) -> float:
        return self.first * self.factor ** attempt


@dataclass(frozen=True)
class FailureDesign:
    liveness: frozenset[str]
    request_timeout: float | None  # seconds a request may wait for its answer; None: no limit
    ping_interval: float | None = None
    ping_misses: int = 0
    on_lost: str = "republish"
    backoff: Backoff | None = None
    reconnect: str = ""  # the handshake when a peer returns, in words (docs/protocols.md)
    sources: dict[str, str] = field(default_factory=dict)  # knob -> spec section / SDK file

    def scaled(self, factor: float) -> FailureDesign:
        """Every time of the design times `factor` (``--quick`` compresses them all alike)."""
        if factor == 1.0:
            return self
        b = self.backoff
        return replace(
            self,
            request_timeout=None if self.request_timeout is None
            else self.request_timeout * factor,
            ping_interval=None if self.ping_interval is None else self.ping_interval * factor,
            backoff=None if b is None else Backoff(b.first * factor, b.factor, b.tries),
        )


def baseline(hb_interval: float, hb_liveness: int, hop_timeout: float) -> FailureDesign:
    """json's design, the design card's baseline, with its times from the config."""
    return FailureDesign(
        liveness=frozenset({"heartbeat"}), request_timeout=hop_timeout,
        reconnect="hello / hello_ack when the peer's heartbeat returns",
        sources={"liveness": f"Paranoid Pirate, ZeroMQ Guide ch. 4 (heartbeat.interval "
                             f"{hb_interval:g} s x heartbeat.liveness {hb_liveness})",
                 "request_timeout": "timeouts.hop (fsr config)",
                 "on_lost": "re-publish to another agent of the role (SPEC §5)"})
