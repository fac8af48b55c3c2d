"""The injector's seams, as `typing.Protocol`s: what it needs of the runner it strikes for, of
the netfilter rules and of the link relay, and the `Strike` it tells the runner about.

The runner satisfies `StormHost`; tests hand the injector a recording stand-in instead.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from fsr.config.schedule import Storm
from fsr.injector.process import Hit


@dataclass(frozen=True)
class Strike:
    """One storm as it strikes: the storm and its victims (sorted, never empty)."""

    storm: Storm
    victims: list[str]

    @property
    def takes_shards(self) -> bool:
        """The victims' processes, and the shards they held, are gone (a kill; a pause or a
        network fault keeps both)."""
        return self.storm.kind == "kill"


class StormHost(Protocol):
    """What the injector needs of the runner: its log and timers, the agents' processes (a
    victim's pid, a fresh process of an agent), and two notices around each strike."""

    def record(self, event: str, **fields: object) -> None: ...

    def call_at(self, when: float, fn: Callable[[], None]) -> None: ...

    def call_later(self, delay: float, fn: Callable[[], None]) -> None: ...

    def respawn(self, node_id: str) -> int:
        """Start a fresh process of the agent (same id and ports); returns its pid."""
        ...

    def signal(self, victims: list[str], sig: signal.Signals) -> tuple[list[Hit], bool]:
        """One burst of `sig` to the victims, through whoever runs them (this machine, or each
        victim's own host): (agent, pid, time of its kill() call on the runner's clock) each,
        and whether the burst ran at real-time priority."""
        ...

    def host_of(self, node_id: str) -> str:
        """The host the agent runs on (``local`` off a cluster)."""
        ...

    def striking(self, strike: Strike) -> None:
        """Called once a storm has its victims, before the first event of its strike."""
        ...

    def struck(self, strike: Strike) -> None:
        """Called after the strike's last event (every victim signalled, or the rules in)."""
        ...


class NetworkControl(Protocol):
    """What the storms need of `fsr.injector.network.NetworkFaults`."""

    def partition(self, targets: list[int]) -> str: ...
    def loss(self, targets: list[int], percent: float) -> str: ...
    def clear(self, handle: str) -> object: ...


class LinkFaults(Protocol):
    """What the storms need of `fsr.injector.relay.LinkRelay`."""

    def start(self, storm: int, kind: str, nodes: list[str], seed: str, percent: float = 0.0,
              ms: float = 0.0, jitter: float = 0.0) -> None: ...
    def stop(self, nodes: list[str]) -> None: ...
