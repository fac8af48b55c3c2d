"""The agent process: one tool, one shard, a place in the mesh.

An agent (1) keeps membership — heartbeat liveness from `MeshNode`, plus a completed protocol
handshake before it routes to a peer (the reconnection handler); (2) executes the stages of its
role for whoever asks, and answers `lookup` (lookup_fragment) over its shard; (3) acts as entry
agent for the tasks the runner hands it (`pipeline.TaskRun`).
"""

from __future__ import annotations

import json
import os
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fsr.agents.hops import Hop, HopTracker
from fsr.agents.messages import check as check_message
from fsr.agents.pipeline import SearchRun, TaskRun
from fsr.agents.plan import RUNNER_ID, RunPlan
from fsr.agents.tools import CorpusStats, ShardIndex, ToolResult, make_backend, merge_hits
from fsr.agents.work import WorkSlots
from fsr.bus.node import MeshNode
from fsr.bus.swim import Swim
from fsr.bus.topology import Routes
from fsr.config import from_dict
from fsr.config.load import service_time
from fsr.config.schema import resolved
from fsr.eventlog import EventLog
from fsr.protocols import Message, design_for
from fsr.workload import Document, DocumentError, holders


class Agent(MeshNode):
    def __init__(self, plan: RunPlan, node_id: str) -> None:
        cfg = from_dict(plan.config)
        spec = plan.agent(node_id)
        super().__init__(
            node_id=node_id, protocol=cfg.scenario.protocol,
            log=EventLog(plan.log_path, node_id), data_port=spec.data_port,
            hb_port=spec.hb_port, role="+".join(spec.roles), incarnation=uuid.uuid4().hex[:12],
            hb_interval=cfg.heartbeat.interval, hb_liveness=cfg.heartbeat.liveness,
            fast_path=cfg.heartbeat.fast_path, keys=plan.keys(),
        )
        self.mesh.control_senders = {RUNNER_ID}  # only the runner steers an agent
        self.roles = spec.roles
        self.peer_roles = {a.node_id: a.roles for a in plan.agents}
        self.role_holders = {r: frozenset(a for a, rs in self.peer_roles.items() if r in rs)
                             for r in {r for rs in self.peer_roles.values() for r in rs}}
        self.workspace = Path(plan.run_dir) / "workspaces" / node_id
        self.workspace.mkdir(parents=True, exist_ok=True)
        # only the topology's neighbours (`fsr.bus.topology`); the rest is reached by relays
        self.neighbours = set(plan.peers_of(node_id))
        graph = {a.node_id: plan.peers_of(a.node_id) for a in plan.agents}
        full = all(len(p) == len(graph) - 1 for p in graph.values())
        self.routes = Routes(node_id, None if full else graph)
        self.specs = {a.node_id: a for a in plan.agents}
        self.add_peer(node_id, spec.data_port, None)  # hops to itself (fewer agents than roles)
        self.add_peer(RUNNER_ID, plan.runner_port, None)
        self.linked = False  # links to the neighbours open on the runner's `connect`
        self.membership = cfg.heartbeat.membership
        if self.membership == "swim":
            self.swim = Swim(node_id, self.local.incarnation, sorted(self.neighbours),
                             cfg.heartbeat.interval, self._links_of, str(cfg.scenario.seed))
        sc = cfg.scenario
        self.hop_timeout = resolved(cfg.timeouts.hop, "timeouts.hop")
        self.task_timeout = resolved(cfg.timeouts.task, "timeouts.task")
        self.design = design_for(sc.protocol, sc.failure_handling, sc.failure_scale,
                                 cfg.heartbeat.interval, cfg.heartbeat.liveness, self.hop_timeout)
        self.hops = HopTracker(self, self.design.request_timeout)
        self.ping_misses: dict[str, int] = {}  # peer -> pings sent since its last pong
        self._ping_seq = 0
        self.max_attempts = cfg.timeouts.max_attempts
        self.top_k = cfg.workload.top_k
        self.work = WorkSlots(self, make_backend(cfg.llm.model), service_time(cfg),
                              cfg.workload.slots, cfg.llm.model.concurrency)
        self.seed = cfg.scenario.seed
        self.ready_peers: set[str] = {node_id}
        self.handshaking: set[str] = set()  # peers with a handshake loop running
        self.announced_ready = False
        self.tasks: dict[str, TaskRun] = {}
        self.shard: ShardIndex | None = None
        self.holders: dict[str, list[str]] = {}
        self.all_fids: list[str] = []

    # -- life cycle ---------------------------------------------------------------------------
    def run(self) -> None:
        d = self.design
        self.record("agent_started", pid=os.getpid(), incarnation=self.local.incarnation,
                    roles=self.roles, port=self.local.port,
                    design={"liveness": sorted(d.liveness), "request_timeout": d.request_timeout,
                            "ping_interval": d.ping_interval, "ping_misses": d.ping_misses,
                            "on_lost": d.on_lost})
        self.start_heartbeats()
        if "ping" in d.liveness and d.ping_interval:
            self.call_later(d.ping_interval, self._ping_round)
        self._hello_runner()
        self._check_ready()  # a one-agent mesh has no peer to wait for
        while self.running:
            self.step()
        self.record("agent_stopped", pid=os.getpid())
        self.work.close()
        self.close()

    def _hello_runner(self) -> None:
        if not self.mesh.send_control(RUNNER_ID, "hello", pid=os.getpid(),
                                      incarnation=self.local.incarnation):
            self.when_link_up(RUNNER_ID, self._hello_runner)

    # -- membership and liveness: the protocol's failure-handling design --------------------
    def on_peer_alive(self, peer: str, how: str) -> None:
        self.ready_peers.discard(peer)
        self.reconnect(peer)

    def on_peer_suspected(self, peer: str, how: str) -> None:
        # The heartbeat channel is every protocol's membership view; only a design that lists
        # it stops using a peer for its silence. A new incarnation means the old process and
        # its connections are gone, whatever the design.
        if "heartbeat" in self.design.liveness or how == "new_incarnation":
            self.lose_peer(peer, how)

    def on_peer_disconnected(self, peer: str) -> None:
        """``stream``: the connection of an open request closed (an SSE stream dropping)."""
        if "stream" in self.design.liveness and self.adapter.open_requests(peer):
            self.lose_peer(peer, "stream_closed")

    def request_timed_out(self, peer: str) -> None:
        """A request to `peer` got no answer in time: without heartbeats, the only sign of a
        hung peer, so the design stops using it."""
        if "heartbeat" not in self.design.liveness:
            self.lose_peer(peer, "request_timeout")

    def unreachable(self, peer: str) -> None:
        """The transport refused a send to `peer` (no live connection): a lost peer in every
        design — whether it is dead is still the membership view's call."""
        if peer != self.node_id:
            self.lose_peer(peer, "send_failed")

    def lose_peer(self, peer: str, how: str) -> None:
        """Stop using `peer` until a new handshake; its requests in flight are re-published, or
        held for the protocol to recover (``on_lost: resubscribe``)."""
        in_use = peer in self.ready_peers or self.hops.has(peer)
        self.ready_peers.discard(peer)
        self.ping_misses.pop(peer, None)
        if in_use:
            self.record("peer_lost", peer=peer, how=how)
        self.hops.peer_lost(peer, how)
        self.call_later(0.05, lambda: self.reconnect(peer))

    def hop_lost(self, msg_id: str, reason: str) -> None:
        self.hops.fail(msg_id, reason)

    def _ping_round(self) -> None:
        """``ping``: one ping to each peer in use; `ping_misses` unanswered and it is lost. A
        ping the transport cannot send counts as unanswered."""
        d = self.design
        for peer in sorted(self.ready_peers - {self.node_id}):
            misses = self.ping_misses.get(peer, 0)
            if misses >= d.ping_misses:
                self.lose_peer(peer, "ping_timeout")
                continue
            self.ping_misses[peer] = misses + 1
            self._ping_seq += 1
            self.adapter.send_ping(peer, self._ping_seq)
        assert d.ping_interval is not None
        self.call_later(d.ping_interval, self._ping_round)

    def on_pong(self, peer: str) -> None:
        self.ping_misses[peer] = 0

    def reconnect(self, peer: str) -> None:
        """Handshake with `peer` until it completes or the peer is suspected — one loop per peer,
        however many reasons to reconnect arrive meanwhile."""
        if peer not in self.handshaking:
            self.handshaking.add(peer)
            self._handshake_turn(peer, 0.25)

    def _handshake_turn(self, peer: str, wait: float) -> None:
        if peer in self.ready_peers or not self.peer_alive(peer):
            self.handshaking.discard(peer)
            return
        sent = self.adapter.start_handshake(peer)
        self.record("handshake_start", peer=peer, sent=sent)
        if not sent:  # our link to the peer is not up yet: try again once it is
            self.when_link_up(peer, lambda: self._handshake_turn(peer, wait))
            return
        # No answer (its link back to us may not have been up): ask again, backing off up to
        # the hop timeout so a slow peer is not flooded with handshakes.
        self.call_later(wait, lambda: self._handshake_turn(peer, min(2 * wait, self.hop_timeout)))

    def on_peer_ready(self, peer: str, info: dict[str, Any]) -> None:
        self.ready_peers.add(peer)
        self._check_ready()
        for run in list(self.tasks.values()):
            if run.parked:
                run.advance()

    def _check_ready(self) -> None:
        """Tell the runner once every peer has completed a handshake with us."""
        if not self.announced_ready and self.ready_peers >= self.neighbours:
            if self.mesh.send_control(RUNNER_ID, "ready", roles=self.roles):
                self.announced_ready = True
            else:
                self.when_link_up(RUNNER_ID, self._check_ready)

    def executors(self, role: str) -> list[str]:
        """Reachable agents holding `role`, other agents first choice, self next; with none,
        the live neighbours that lead towards one (a relay)."""
        able = [p for p in sorted(self.ready_peers) if role in self.peer_roles.get(p, ())]
        others = [p for p in able if p != self.node_id]
        return others or able or self.relays_toward(self.role_holders.get(role, frozenset()))

    def relays_toward(self, targets: frozenset[str]) -> list[str]:
        return self.routes.toward(targets, self.ready_peers - {self.node_id})

    def relay(self, req: Message, targets: frozenset[str]) -> bool:
        """Pass `req` on to a live neighbour closer to `targets`, and its answer back; False
        when there is none."""
        via = self.relays_toward(targets)
        if not via:
            return False
        dest = via[zlib.crc32(req.msg_id.encode()) % len(via)]
        task, stage = req.body.get("task_id"), req.body.get("stage", "lookup")
        self.record("hop_relayed", task=task, kind=req.kind, stage=stage, src=req.sender,
                    dst=dest, mid=req.msg_id)

        def failed(reason: str) -> None:
            self.reply(req, {"error": f"relay via {dest}: {reason}"[:200]})

        self.hops.send(Hop(dest, Message(req.kind, req.body), lambda m: self.reply(req, m.body),
                           failed, {"task": task, "stage": stage,
                                    "attempt": req.body.get("attempt", 1), "retry": False,
                                    "relay": True}))
        return True

    # -- messages -----------------------------------------------------------------------------
    def check_message(self, msg: Message) -> str | None:
        return check_message(msg)

    def on_message(self, msg: Message) -> None:
        if msg.kind in ("stage_reply", "lookup_reply"):
            self.hops.reply(msg)
        elif msg.kind == "stage_request":
            self.execute(msg)
        elif msg.kind == "lookup":
            self.answer_lookup(msg)
        elif msg.kind == "document":
            self.load_document(msg.body)
        elif msg.kind == "hop_lost":
            self.hops.fail(str(msg.body.get("reply_to")), "lost_by_peer")

    def link_neighbours(self) -> None:
        """Connect to every neighbour's inbox and heartbeats. The runner says when: once every
        agent is listening (a restarted one: at once), because at 128 agents, links to peers
        not yet started retried connect() tens of thousands of times a second."""
        if not self.linked:
            self.linked = True
            pubsub = self.membership == "pubsub"  # SWIM rides on the data links
            for peer in sorted(self.neighbours):
                self.add_peer(peer, self.specs[peer].data_port,
                              self.specs[peer].hb_port if pubsub else None)
            if not pubsub:
                self.start_swim()

    def _links_of(self, peer: str) -> set[str]:
        """Our neighbours that are also `peer`'s (helpers for SWIM's indirect probe)."""
        if self.routes.full:
            return self.neighbours - {peer}
        return self.neighbours & set(self.routes.graph.get(peer, ()))

    def on_control(self, sender: str, body: dict[str, Any]) -> None:
        if body["k"] == "connect":
            self.link_neighbours()
        elif body["k"] == "task":
            run = TaskRun(self, body["task_id"], body["question"])
            self.tasks[run.task_id] = run
            self.call_later(self.task_timeout, lambda: self._abandon(run))
            run.advance()
        elif body["k"] == "stop":
            self.running = False

    def reply(self, request: Message, body: dict[str, Any]) -> None:
        kind = "stage_reply" if request.kind == "stage_request" else "lookup_reply"
        if not self.adapter.send_message(request.sender,
                                         Message(kind, body, reply_to=request.msg_id)):
            self.record("reply_lost", dst=request.sender, re=request.msg_id)
            self.unreachable(request.sender)

    # -- executing a stage --------------------------------------------------------------------
    def execute(self, req: Message) -> None:
        task, stage = req.body.get("task_id"), req.body.get("stage")
        holders = self.role_holders.get(str(stage), frozenset())
        if stage not in self.roles and self.relay(req, holders):
            return
        self.record("stage_exec", task=task, stage=stage, attempt=req.body.get("attempt"),
                    src=req.sender)
        if stage not in self.roles:
            self.reply(req, {"error": f"{self.node_id} has no {stage} tool"})
        elif stage == "search":
            if self.shard is None:
                self.reply(req, {"error": "no shard yet"})
            else:
                SearchRun(self, req).start()
        else:
            def done(result: ToolResult | None, exc: BaseException | None, secs: float) -> None:
                calls = getattr(exc, "calls", None) or (result.llm_calls if result else [])
                self.record("stage_done", task=task, stage=stage, ok=exc is None,
                            ms=round(secs * 1000, 3), llm=calls,
                            error=None if exc is None else str(exc)[:200])
                if exc is not None:
                    self.reply(req, {"error": str(exc)[:200]})
                else:
                    assert result is not None
                    self.reply(req, {"output": result.output})

            self.work.stage(task, str(stage), req.body.get("input", {}),
                            f"{self.seed}/{task}/{stage}/{self.node_id}/{req.body.get('attempt')}",
                            done)

    def answer_lookup(self, req: Message) -> None:
        self.record("lookup_exec", task=req.body.get("task_id"), src=req.sender)
        if self.shard is None:
            self.reply(req, {"error": "no shard yet"})
            return
        if not self.routes.full and any(f not in self.shard for f in req.body.get("fids") or ()):
            # some fragments are held further away (a relayed lookup): cover them from here
            SearchRun(self, req).start()
            return
        shard, fids = self.shard, req.body.get("fids")
        task = req.body.get("task_id")

        def done(hits: Any, exc: BaseException | None, _: float) -> None:
            self._lookup_done(task, req.sender)
            self.reply(req, {"error": str(exc)[:200]} if exc is not None else {"hits": hits})

        self.work.lookup(task, lambda: shard.lookup(req.body["question"], fids,
                                                    int(req.body.get("k", self.top_k))),
                         f"{self.seed}/{task}/lookup/{self.node_id}/{req.sender}/{fids}", done)

    def _lookup_done(self, task: Any, src: str) -> None:
        if self.work.service.emulated:  # its start was logged too (`work_start`)
            self.record("lookup_done", task=task, src=src)

    # -- shards -------------------------------------------------------------------------------
    def load_document(self, body: dict[str, Any]) -> None:
        try:
            doc = Document.from_json(body["document"])
        except DocumentError as exc:
            self.record("frame_dropped", src=RUNNER_ID, reason=f"document: {exc}"[:200])
            return
        texts = {f.fid: f.text for f in doc.fragments}
        shards = body["shards"]  # shape checked on arrival (`fsr.agents.messages`)
        bad = [h for h, fids in shards.items() if any(f not in texts for f in fids)]
        if bad:
            self.record("frame_dropped", src=RUNNER_ID,
                        reason=f"document: shard of {str(bad[0])[:40]!r} names unknown fragments")
            return
        mine = shards.get(self.node_id, [])
        stats = CorpusStats.build(texts.values())
        self.shard = ShardIndex({fid: texts[fid] for fid in mine}, stats)
        self.holders = holders(body["shards"])
        self.all_fids = list(texts)
        self.local.shard_version = int(body.get("version", 1))
        (self.workspace / "shard.json").write_text(
            json.dumps({"doc_id": doc.doc_id, "version": self.local.shard_version,
                        "fragments": {fid: texts[fid] for fid in mine}}, indent=1))
        self.record("shard_loaded", fragments=len(mine), version=self.local.shard_version)
        self.mesh.send_control(RUNNER_ID, "shard_loaded", version=self.local.shard_version)

    def split_own_fragments(self, fids: list[str] | None = None) -> tuple[list[str], list[str]]:
        """(held here, held elsewhere) of `fids` (default: every fragment of the document)."""
        shard = self.shard if self.shard is not None else ()
        fids = self.all_fids if fids is None else fids
        return [f for f in fids if f in shard], [f for f in fids if f not in shard]

    def lookup_local(self, task: str, question: str, fids: list[str],
                     on_hits: Callable[[list[dict[str, Any]]], None]) -> None:
        """Look `fids` up in this agent's own shard, as a unit of work; `on_hits` gets the hits
        (none if the lookup failed)."""
        shard = self.shard
        assert shard is not None

        def done(hits: Any, exc: BaseException | None, _: float) -> None:
            self._lookup_done(task, self.node_id)
            on_hits([] if exc is not None else hits)

        self.work.lookup(task, lambda: shard.lookup(question, fids, self.top_k),
                         f"{self.seed}/{task}/lookup/{self.node_id}/{self.node_id}/{fids}", done)

    def cover(self, fids: list[str], exclude: set[str], salt: str
              ) -> tuple[dict[str, list[str]], list[str]]:
        """Greedy set cover of `fids` by reachable holders — or, for a fragment no live
        neighbour holds, by the neighbours that lead towards one; returns (agent -> fids,
        lost)."""
        live = self.ready_peers - exclude - {self.node_id}
        todo = {f: [h for h in self.holders.get(f, []) if h in live] for f in fids}
        for f in [f for f, hs in todo.items() if not hs]:
            todo[f] = [r for r in self.relays_toward(frozenset(self.holders.get(f, [])))
                       if r not in exclude]
        lost = [f for f, hs in todo.items() if not hs]
        left = {f for f, hs in todo.items() if hs}
        plan: dict[str, list[str]] = {}
        while left:
            counts: dict[str, int] = {}
            for f in left:
                for h in todo[f]:
                    counts[h] = counts.get(h, 0) + 1
            best = max(counts, key=lambda h: (counts[h], zlib.crc32((salt + h).encode())))
            plan[best] = sorted(f for f in left if best in todo[f])
            left -= set(plan[best])
        return plan, lost

    def merge(self, hit_lists: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        return merge_hits(hit_lists, self.top_k)

    # -- the entry agent's side ---------------------------------------------------------------
    def task_finished(self, run: TaskRun, status: str, answer: str, reason: str) -> None:
        self.tasks.pop(run.task_id, None)
        # the fragments search gathered from the mesh: whether the answer was *found* is
        # graded from these (`fsr.metrics.history.Task.found`), whatever the later stages did
        passages = [str(p.get("fid")) for p in run.state.get("passages", [])
                    if isinstance(p, dict)]
        self.record("task_finished", task=run.task_id, status=status, reason=reason)
        self.mesh.send_control(RUNNER_ID, "task_done", task_id=run.task_id, status=status,
                               answer=answer, reason=reason, passages=passages)

    def _abandon(self, run: TaskRun) -> None:
        if self.tasks.pop(run.task_id, None) is not None:
            run.done = True
            self.record("task_abandoned", task=run.task_id, stage=run.stage)
