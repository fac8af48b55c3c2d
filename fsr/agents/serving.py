"""What an agent serves its peers: a stage of its roles (`stage_request`) and lookups over its
shard (`lookup`), each a unit of work on its slots (`fsr.agents.work`), answered with a reply.

A stage it has no tool for is relayed towards an agent that has (`Agent.relay`); a search, or a
lookup for fragments held further away, becomes a `lookups.SearchRun` of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fsr import events as ev
from fsr.agents.lookups import SearchRun
from fsr.agents.tools import ToolResult
from fsr.protocols import Message

if TYPE_CHECKING:
    from fsr.agents.agent import Agent


class ToolServer:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def execute(self, req: Message) -> None:
        a = self.agent
        task, stage = req.body.get("task_id"), req.body.get("stage")
        holders = a.router.role_holders.get(str(stage), frozenset())
        if stage not in a.roles and a.relay(req, holders):
            return
        a.record(ev.STAGE_EXEC, task=task, stage=stage, attempt=req.body.get("attempt"),
                 src=req.sender)
        if stage not in a.roles:
            a.reply(req, {"error": f"{a.node_id} has no {stage} tool"})
        elif stage == "search":
            if a.shard is None:
                a.reply(req, {"error": "no shard yet"})
            else:
                SearchRun(a, req).start()
        else:
            def done(result: ToolResult | None, exc: BaseException | None, secs: float) -> None:
                calls = getattr(exc, "calls", None) or (result.llm_calls if result else [])
                a.record(ev.STAGE_DONE, task=task, stage=stage, ok=exc is None,
                         ms=round(secs * 1000, 3), llm=calls,
                         error=None if exc is None else str(exc)[:200])
                if exc is not None:
                    a.reply(req, {"error": str(exc)[:200]})
                else:
                    assert result is not None
                    a.reply(req, {"output": result.output})

            a.work.stage(task, str(stage), req.body.get("input", {}),
                         f"{a.seed}/{task}/{stage}/{a.node_id}/{req.body.get('attempt')}", done)

    def answer_lookup(self, req: Message) -> None:
        a = self.agent
        task, fids = req.body.get("task_id"), req.body.get("fids")
        a.record(ev.LOOKUP_EXEC, task=task, src=req.sender)
        if a.shard is None:
            a.reply(req, {"error": "no shard yet"})
        elif not a.routes.full and any(f not in a.shard.index for f in fids or ()):
            # some fragments are held further away (a relayed lookup): cover them from here
            SearchRun(a, req).start()
        else:
            self._lookup(task, req.body["question"], fids, int(req.body.get("k", a.top_k)),
                         req.sender, lambda hits, exc: a.reply(
                             req, {"error": str(exc)[:200]} if exc is not None
                             else {"hits": hits}))

    def lookup_local(self, task: str, question: str, fids: list[str],
                     on_hits: Callable[[list[dict[str, Any]]], None]) -> None:
        """Look `fids` up in this agent's own shard, as a unit of work; `on_hits` gets the hits
        (none if the lookup failed)."""
        self._lookup(task, question, fids, self.agent.top_k, self.agent.node_id,
                     lambda hits, exc: on_hits([] if exc is not None else hits))

    def _lookup(self, task: Any, question: str, fids: list[str] | None, k: int, src: str,
                then: Callable[[Any, BaseException | None], None]) -> None:
        """One lookup over the shard, as a unit of work for `src`."""
        a = self.agent
        assert a.shard is not None
        index = a.shard.index

        def done(hits: Any, exc: BaseException | None, _: float) -> None:
            if a.work.service.emulated:  # its start was logged too (`work_start`)
                a.record(ev.LOOKUP_DONE, task=task, src=src)
            then(hits, exc)

        a.work.lookup(task, lambda: index.lookup(question, fids, k),
                      f"{a.seed}/{task}/lookup/{a.node_id}/{src}/{fids}", done)
