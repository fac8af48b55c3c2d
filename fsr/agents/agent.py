"""The agent process: one tool, one shard, a place in the mesh.

An agent (1) keeps its links to its peers — membership from `MeshNode`, a completed protocol
handshake before it routes to a peer, and its protocol's reaction to a loss (`links`, carrying
out `fsr.protocols.recovery`); (2) serves the stages of its roles and lookups over its shard to
whoever asks (`serving`, `shard`); (3) acts as entry agent for the tasks the runner hands it
(`pipeline.TaskRun`), routed by its `routing.Router`.
"""

from __future__ import annotations

import os
import uuid
import zlib
from pathlib import Path
from typing import Any

from fsr import events as ev
from fsr.agents.hedge import Hedging
from fsr.agents.hops import Hop, HopTracker
from fsr.agents.links import PeerLinks
from fsr.agents.messages import check as check_message
from fsr.agents.pacing import pacing_of
from fsr.agents.pipeline import TaskRun
from fsr.agents.routing import Router
from fsr.agents.serving import ToolServer
from fsr.agents.shard import Shard
from fsr.agents.tools import make_backend
from fsr.agents.work import WorkSlots
from fsr.bus.detectors import detector_for
from fsr.bus.node import MeshNode
from fsr.bus.swim import Swim
from fsr.bus.topology import Routes
from fsr.config.schema import resolved
from fsr.eventlog import EventLog
from fsr.plan import RUNNER_ID, RunPlan
from fsr.protocols import Message, design_for, kinds
from fsr.workload import DocumentError


class Agent(MeshNode):
    def __init__(self, plan: RunPlan, node_id: str) -> None:
        cfg = plan.config
        spec = plan.agent(node_id)
        protocols = plan.protocols()
        super().__init__(
            node_id=node_id, protocol=protocols[node_id], protocols=protocols,
            log=EventLog(plan.log_path, node_id), data_port=spec.data_port,
            hb_port=spec.hb_port, role="+".join(spec.roles), incarnation=uuid.uuid4().hex[:12],
            hb_interval=cfg.heartbeat.interval, hb_liveness=cfg.heartbeat.liveness,
            fast_path=cfg.heartbeat.fast_path, keys=plan.keys(),
            detector=detector_for(cfg.heartbeat),
            starvation_guard=cfg.heartbeat.starvation_guard, address=spec.address,
        )
        self.mesh.control_senders = {RUNNER_ID}  # only the runner steers an agent
        self.roles = spec.roles
        self.workspace = Path(plan.run_dir) / "workspaces" / node_id
        self.workspace.mkdir(parents=True, exist_ok=True)
        # only the topology's neighbours (`fsr.bus.topology`); the rest is reached by relays
        self.neighbours = set(plan.peers_of(node_id))
        self.routes = Routes.of_mesh(node_id, {a.node_id: plan.peers_of(a.node_id)
                                               for a in plan.agents})
        self.specs = {a.node_id: a for a in plan.agents}
        self.add_peer(node_id, spec.data_port, None, spec.address)  # hops to itself (fewer
        self.add_peer(RUNNER_ID, plan.runner_port, None, plan.runner_address)  # agents than roles)
        self.linked = False  # links to the neighbours open on the runner's `connect`
        self.membership = cfg.heartbeat.membership
        if self.membership == "swim":
            self.swim = Swim(node_id, self.local.incarnation, sorted(self.neighbours),
                             cfg.heartbeat.interval, self.routes.shared_neighbours,
                             str(cfg.scenario.seed),
                             lifeguard=cfg.heartbeat.detector == "lifeguard", table=self.peers)
        sc = cfg.scenario
        self.hop_timeout = resolved(cfg.timeouts.hop, "timeouts.hop")
        self.task_timeout = resolved(cfg.timeouts.task, "timeouts.task")
        # each peer is handled by the design of the protocol it speaks (a mixed mesh's differ)
        designs = {p: design_for(p, sc.failure_handling, sc.failure_scale,
                                 cfg.heartbeat.interval, cfg.heartbeat.liveness, self.hop_timeout)
                   for p in set(protocols.values())}
        self.hops = HopTracker(self)
        self.links = PeerLinks(self, self.peers, designs[self.protocol], self.hop_timeout,
                               pacing_of(cfg), by_peer={peer: designs[p] for peer, p in
                                                        protocols.items() if p != self.protocol})
        self.recovery = self.links.recovery
        self.router = Router(self.peers, self.routes,
                             {a.node_id: a.roles for a in plan.agents})
        self.max_attempts = cfg.timeouts.max_attempts
        quantile = cfg.recovery.hedge_quantile
        self.hedging = None if quantile is None else Hedging(quantile)
        self.top_k = cfg.workload.top_k
        self.work = WorkSlots(self, make_backend(cfg.llm.model), cfg.service,
                              cfg.workload.slots, cfg.llm.model.concurrency)
        self.seed = cfg.scenario.seed
        self.announced_ready = False
        self.tasks: dict[str, TaskRun] = {}
        self.shard: Shard | None = None
        self.server = ToolServer(self)

    # -- life cycle ---------------------------------------------------------------------------
    def run(self) -> None:
        d = self.recovery.design
        self.record(ev.AGENT_STARTED, pid=os.getpid(), incarnation=self.local.incarnation,
                    roles=self.roles, port=self.local.port, protocol=self.protocol,
                    host=self.specs[self.node_id].host,
                    design={"liveness": sorted(d.liveness), "request_timeout": d.request_timeout,
                            "ping_interval": d.ping_interval, "ping_misses": d.ping_misses,
                            "on_lost": d.on_lost})
        self.start_heartbeats()
        self.links.start_pings()
        self._hello_runner()
        self._check_ready()  # a one-agent mesh has no peer to wait for
        while self.running:
            self.step()
        self.record(ev.AGENT_STOPPED, pid=os.getpid())
        self.work.close()
        self.close()

    def _hello_runner(self) -> None:
        if not self.mesh.send_control(RUNNER_ID, "hello", pid=os.getpid(),
                                      incarnation=self.local.incarnation):
            self.when_link_up(RUNNER_ID, self._hello_runner)

    # -- membership and liveness: the protocol's decisions (`fsr.protocols.recovery`), which
    # the links carry out (`fsr.agents.links`) --------------------------------------------------
    def on_peer_alive(self, peer: str, how: str) -> None:
        self.links.returned(peer)

    def on_peer_suspected(self, peer: str, how: str) -> None:
        self.links.suspected(peer, how)

    def on_peer_disconnected(self, peer: str) -> None:
        self.links.disconnected(peer)

    def request_timed_out(self, peer: str) -> None:
        self.links.timed_out(peer)

    def unreachable(self, peer: str) -> None:
        self.links.send_refused(peer)

    def on_pong(self, peer: str) -> None:
        self.links.recovery.pong(peer)

    def hop_lost(self, msg_id: str, reason: str) -> None:
        self.hops.fail(msg_id, reason)

    def on_peer_ready(self, peer: str, info: dict[str, Any]) -> None:
        self.peers.ready.add(peer)
        self.links.ready(peer)
        self._check_ready()
        for run in list(self.tasks.values()):
            if run.parked:
                run.advance()

    def _check_ready(self) -> None:
        """Tell the runner once every peer has completed a handshake with us."""
        if not self.announced_ready and self.peers.ready >= self.neighbours:
            if self.mesh.send_control(RUNNER_ID, "ready", roles=self.roles):
                self.announced_ready = True
            else:
                self.when_link_up(RUNNER_ID, self._check_ready)

    def relay(self, req: Message, targets: frozenset[str]) -> bool:
        """Pass `req` on to a live neighbour closer to `targets`, and its answer back; False
        when there is none."""
        via = self.router.toward(targets)
        if not via:
            return False
        dest = via[zlib.crc32(req.msg_id.encode()) % len(via)]
        task, stage = req.body.get("task_id"), req.body.get("stage", "lookup")
        self.record(ev.HOP_RELAYED, task=task, kind=req.kind, stage=stage, src=req.sender,
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
        if msg.kind in (kinds.STAGE_REPLY, kinds.LOOKUP_REPLY):
            self.hops.reply(msg)
        elif msg.kind == kinds.STAGE_REQUEST:
            self.server.execute(msg)
        elif msg.kind == kinds.LOOKUP:
            self.server.answer_lookup(msg)
        elif msg.kind == kinds.DOCUMENT:
            self.load_document(msg.body)
        elif msg.kind == kinds.HOP_LOST:
            self.hops.fail(str(msg.body.get("reply_to")), "lost_by_peer")

    def link_neighbours(self) -> None:
        """Connect to every neighbour's inbox and heartbeats. The runner says when: once every
        agent is listening (a restarted one: at once), because at 128 agents, links to peers
        not yet started retried connect() tens of thousands of times a second."""
        if not self.linked:
            self.linked = True
            pubsub = self.membership == "pubsub"  # SWIM rides on the data links
            for peer in sorted(self.neighbours):
                spec = self.specs[peer]
                self.add_peer(peer, spec.data_port, spec.hb_port if pubsub else None,
                              spec.address)
            if not pubsub:
                self.start_swim()

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
        kind = kinds.REPLY_TO.get(request.kind, kinds.LOOKUP_REPLY)
        if not self.adapter.send_message(request.sender,
                                         Message(kind, body, reply_to=request.msg_id)):
            self.record(ev.REPLY_LOST, dst=request.sender, re=request.msg_id)
            self.unreachable(request.sender)

    # -- shards -------------------------------------------------------------------------------
    def load_document(self, body: dict[str, Any]) -> None:
        try:
            self.shard = Shard.from_broadcast(body, self.node_id, self.workspace)
        except DocumentError as exc:
            self.record(ev.FRAME_DROPPED, src=RUNNER_ID, reason=f"document: {exc}"[:200])
            return
        self.router.holders = self.shard.holders
        self.local.shard_version = self.shard.version
        self.record(ev.SHARD_LOADED, fragments=len(self.shard.index), version=self.shard.version)
        self.mesh.send_control(RUNNER_ID, "shard_loaded", version=self.shard.version)

    # -- the entry agent's side ---------------------------------------------------------------
    def task_finished(self, run: TaskRun, status: str, answer: str, reason: str) -> None:
        self.tasks.pop(run.task_id, None)
        # the fragments search gathered from the mesh: whether the answer was *found* is
        # graded from these (`fsr.metrics.history.Task.found`), whatever the later stages did
        passages = [str(p.get("fid")) for p in run.state.get("passages", [])
                    if isinstance(p, dict)]
        self.record(ev.TASK_FINISHED, task=run.task_id, status=status, reason=reason)
        self.mesh.send_control(RUNNER_ID, "task_done", task_id=run.task_id, status=status,
                               answer=answer, reason=reason, passages=passages)

    def _abandon(self, run: TaskRun) -> None:
        if self.tasks.pop(run.task_id, None) is not None:
            run.done = True
            self.record(ev.TASK_ABANDONED, task=run.task_id, stage=run.stage)

