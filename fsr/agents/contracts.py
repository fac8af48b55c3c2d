"""The seams inside an agent, as `typing.Protocol`s: what each part needs of the agent it runs
in. `fsr.agents.agent.Agent` satisfies all of them; tests can hand a part a smaller stand-in.

* `HopHost` — what `hops.HopTracker` needs: each peer's adapter, timers, the log, the protocol's
  recovery decisions, and the agent's reactions to a refused send and to a request timeout;
* `PipelineHost` — what `pipeline.TaskRun` / `lookups.SearchRun` need: the router (executors, set
  cover of shard holders), the shard, the tool server's lookups, the hop tracker, replies and
  task ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from fsr.protocols import Message, ProtocolAdapter
from fsr.protocols.recovery import Recovery

if TYPE_CHECKING:
    from fsr.agents.hedge import Hedging
    from fsr.agents.hops import HopTracker
    from fsr.agents.pipeline import TaskRun
    from fsr.agents.routing import Router
    from fsr.agents.serving import ToolServer
    from fsr.agents.shard import Shard


class Recorder(Protocol):
    def record(self, event: str, **fields: Any) -> None: ...

    def call_later(self, delay: float, fn: Callable[[], None]) -> None: ...


class HopHost(Recorder, Protocol):
    recovery: Recovery

    def adapter_for(self, peer: str) -> ProtocolAdapter: ...

    def unreachable(self, peer: str) -> None: ...

    def request_timed_out(self, peer: str) -> None: ...


class PipelineHost(Recorder, Protocol):
    hops: HopTracker
    max_attempts: int
    top_k: int
    hedging: Hedging | None  # recovery.hedge; None: off

    router: Router
    server: ToolServer
    shard: Shard | None

    def task_finished(self, run: TaskRun, status: str, answer: str, reason: str) -> None: ...

    def reply(self, request: Message, body: dict[str, Any]) -> None: ...
