"""The catalogue of the events in a run's log, each declared once with the fields it carries.

Each event is declared once, here (`event`), as an `EventType`: the name (a `str`) that writers
log by (`record(ev.HOP_SENT, dst=...)`) and readers select by (`history.of(ev.HOP_SENT)`), with
its fields (`.fields`) and what they mean (`.doc`). `tests/test_events.py` holds the code to it
on the syntax tree: no module spells an event's name itself; a writer logs only the fields its
event declares, and every declared field has a writer; a checker reads from an event only fields
some event (the events it selected, where it can tell) declares. `History.of` refuses a name
that is not declared. Every event also has ``ts`` (unix seconds), ``node`` and ``event`` (its
name): `IMPLICIT`. The log on disk holds the names themselves, so a log written by any version
replays.

A declaration: ``event(name, fields, doc="", **notes)``. `fields` are the field names, in
order, separated by spaces; ``a|b`` says an event carries one or the other. `doc` is a note on
the event, `notes` one per field (a note that starts with ``{`` or ``[`` is the field's shape).
"""

from __future__ import annotations

import re
from typing import Any

IMPLICIT = ("ts", "node", "event")  # every event's: stamped by `fsr.eventlog`


class EventType(str):
    """An event's name — a `str`, so it is what the log holds and compares equal to it — with
    its fields (besides `IMPLICIT`) and its prose: the fields, their notes and the event's."""

    fields: tuple[str, ...]
    doc: str

    def __new__(cls, name: str, fields: tuple[str, ...], doc: str) -> EventType:
        self = super().__new__(cls, name)
        self.fields, self.doc = fields, doc
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return EventType, (str(self), self.fields, self.doc)


CATALOGUE: dict[str, EventType] = {}  # name -> its declaration


def event(name: str, fields: str, doc: str = "", /, **notes: str) -> EventType:
    """Declare an event: its name in the log, the fields it carries besides `IMPLICIT` (see the
    module's docstring for the form), a note on the event and notes on its fields."""
    if name in CATALOGUE:
        raise ValueError(f"event {name!r} is declared twice")
    tokens = fields.split()
    names = tuple(f for t in tokens for f in t.split("|"))
    bad = [f for f in names if not re.fullmatch(r"[a-z_][a-z0-9_]*", f) or f in IMPLICIT]
    if bad or len(set(names)) != len(names):
        raise ValueError(f"event {name!r}: bad or repeated field names in {fields!r}")
    if set(notes) - set(names):
        raise ValueError(f"event {name!r}: notes on no field: {sorted(set(notes) - set(names))}")

    def shown(f: str) -> str:
        note = notes.get(f)
        return f if note is None else f"{f} {note}" if note[:1] in ("{", "[") else f"{f} ({note})"

    prose = ", ".join(" | ".join(shown(f) for f in t.split("|")) for t in tokens)
    declared = CATALOGUE[name] = EventType(name, names, prose + (f" ({doc})" if doc else ""))
    return declared


# -- the run (runner) ----------------------------------------------------------------
RUN_START = event(
    "run_start", "run_id config agents doc_id fragments qa harness_nice doc_notes load cluster",
    cluster="{engine, address, hosts: {host: {node_id, address, agents}}} (a cluster run's)",
    agents="[{id, roles, port, hb_port, peers (a topology other than full), host, address "
    "(a cluster's)}]",
    harness_nice="the runner's and forkserver's nice value; agents run at 0",
    load="{task_rate, capacity_per_s, utilisation, slots, service} (what the run was set up for)")
RUN_END = event("run_end", "reason counts")
PHASE = event("phase", "name", name="startup | broadcast | work | fault | drain | stop")
DOCUMENT = event("document", "doc_id fragments",
                 fragments="{fid: text} (logged once, so `found` is graded from the log)")
AGENT_SPAWNED = event("agent_spawned", "agent pid")
AGENT_HELLO = event("agent_hello", "agent pid incarnation")
MESH_READY = event("mesh_ready", "agents")
TASK_SUBMIT = event("task_submit", "task qid question gold entry")
TASK_END = event("task_end", "task status answer reason by passages", passages="[fid]")
TASK_LATE = event("task_late", "task status by")
# -- the injector (runner) -----------------------------------------------------------
STORM_START = event("storm_start", "storm fault victims at duration percent targets ms jitter",
                    ms="delay", jitter="delay")
KILL = event("kill", "storm victim pid kill_ts signal host", "SIGKILL",
             host="the victim's (a cluster run's); kill_ts is on the runner's clock")
PAUSE = event("pause", "storm victim pid kill_ts signal host", "SIGSTOP")
NET_FAULT = event("net_fault", "storm fault victims kill_ts percent", "rules in place",
                  fault="partition | loss")
RESUME = event("resume", "storm victim pid resume_ts host", "SIGCONT")
RESTART = event("restart", "storm victim pid")
STORM_END = event("storm_end", "storm fault victims", "the victims restarted, continued or healed")
CORRUPT_FRAME = event("corrupt_frame", "storm dst bytes bit at",
                      "the relay flipped one bit of a frame to dst")
RELAY_BYTES = event("relay_bytes", "a b bytes",
                    "what the link relay forwarded between a and b, both ways")
TCP_TOTALS = event("tcp_totals", "sockets received retransmitted", "the kernel's count, ss -tin, "
                   "at the end of the drain; runs with network faults")
CLOCK_OFFSET = event(
    "clock_offset", "host phase offset_ms error_ms rtt_ms samples",
    "a host's clock against the runner's (Cristian's algorithm: the sample with the smallest "
    "round trip): `fsr.cluster.clock`", offset_ms="host clock - runner clock",
    error_ms="the bound on that offset: half the round trip", phase="start | end")
HOST_LOST = event("host_lost", "host agents reason",
                  "a cluster host's controller stopped answering: its agents' later events are "
                  "lost with it")
STRIKE_SPREAD = event("strike_spread", "storm ms victims realtime",
                      ms="first to last kill() call", realtime="the burst ran in SCHED_FIFO")
# -- an agent's life and work --------------------------------------------------------
AGENT_STARTED = event("agent_started", "pid incarnation roles port protocol design host",
                      host="the host it runs on: a cluster's, or local",
                      protocol="what its inbox speaks (a mixed mesh's differ by role)",
                      design="{liveness, request_timeout, ping_interval, ping_misses, on_lost}")
AGENT_STOPPED = event("agent_stopped", "pid")
SHARD_LOADED = event("shard_loaded", "fragments version")
TASK_PARKED = event("task_parked", "task stage")
TASK_FINISHED = event("task_finished", "task status reason")
TASK_ABANDONED = event("task_abandoned", "task stage")
STAGE_EXEC = event("stage_exec", "task stage attempt src")
STAGE_DONE = event("stage_done", "task stage ok ms llm error", llm="[calls]")
LOOKUP_EXEC = event("lookup_exec", "task src")
LOOKUP_DONE = event("lookup_done", "task src", "a lookup's work ended; only with a service time")
WORK_QUEUED = event("work_queued", "task stage ahead", "every work slot was busy: the unit "
                    "waits, with this many ahead of it", stage="lookup | extract | triple | reason")
WORK_START = event("work_start", "task stage service_ms busy",
                   service_ms="the drawn load, never a figure",
                   busy="slots in use, this one included")
HOP_SENT = event("hop_sent", "dst kind mid task stage attempt retry relay hedge",
                 relay="a relay's leg", hedge="a hedged copy: `fsr.agents.hedge`")
HOP_FAILED = event("hop_failed", "dst mid reason task stage attempt retry relay hedge",
                   reason="hedged: its hedged twin answered first")
HOP_HELD = event("hop_held", "dst mid how task stage attempt retry relay hedge")
HOP_DONE = event("hop_done", "dst mid", "the hop's reply reached its sender")
HOP_HEDGED = event("hop_hedged", "task stage mid dst attempt after_ms",
                   mid="the hop still waiting", dst="its copy's", attempt="the copy's",
                   after_ms="the stage's hedge delay: `fsr.agents.hedge`")
HOP_REPUBLISHED = event("hop_republished", "task stage attempt reason")
HOP_RELAYED = event("hop_relayed", "task kind stage src dst mid", "a request this agent cannot "
                    "answer, passed on towards one that can: `fsr.bus.topology`")
REPLY_LOST = event("reply_lost", "dst re")
STALE_REPLY = event("stale_reply", "src kind re")
# -- membership and the failure-handling design --------------------------------------
PEER_JOINED = event("peer_joined", "peer how incarnation")
PEER_RETURNED = event("peer_returned", "peer how incarnation", how="restarted | resumed")
PEER_SUSPECTED = event("peer_suspected", "peer how silent_ms", "the membership view",
                       how="heartbeat_timeout | socket_disconnect | new_incarnation | swim_dead")
SUSPICION_DEFERRED = event(
    "suspicion_deferred", "peer starved_ms",
    "heartbeat.starvation_guard: the peer's deadline passed, and moved by the time this node "
    "itself waited for a CPU since the peer's last heartbeat (fsr.bus.starvation)")
PEER_LOST = event("peer_lost", "peer how", "the protocol's design stopped using the peer")
SWIM_SUSPECT = event("swim_suspect", "peer silent_ms",
                     "SWIM: a probe went unanswered; dead unless it refutes")
SWIM_REFUTE = event("swim_refute", "incarnation",
                    "SWIM: this node heard itself suspected and said it is alive")
SWIM_HEALTH = event("swim_health", "score", "Lifeguard's local health changed: the probe "
                    "interval is x (score + 1)")
HANDSHAKE_START = event("handshake_start", "peer sent")
HANDSHAKE_DONE = event("handshake_done", "peer role incarnation")
HANDSHAKE_REFUSED = event("handshake_refused", "peer error|status")
HANDSHAKE_DEFERRED = event(
    "handshake_deferred", "peer attempt why wait ahead in_progress tokens",
    "recovery.reconnect batched: `fsr.agents.links`", attempt="the attempt deferred",
    why="backoff: the attempt just sent waits `wait` s for its answer before this one | "
        "admission: the attempt queues for the node's limit, behind `ahead`, with "
        "`in_progress` attempts in progress and `tokens` left")
REATTACH = event("reattach", "peer re remote")
REATTACH_FAILED = event("reattach_failed", "peer re why")
REATTACH_GAVE_UP = event("reattach_gave_up", "peer re tries")
# -- the bus: bytes and frames -------------------------------------------------------
SEND = event("send", "dst cat kind mid wire pay env sec mux",
             sec="under CURVE: the bytes CURVE adds",
             mux="a mixed mesh: the wire bytes of the protocol tag before this frame (fsr.bus.mux)")
SEND_FAILED = event("send_failed", "dst cat kind mid reason")
DELIVER = event("deliver", "src kind mid")
HB_SENT = event("hb_sent", "seq frame")
HB_TALLY = event("hb_tally", "cat copies wire sec by_src",
                 "the heartbeat copies a node received in one interval", cat="heartbeat",
                 sec="under CURVE only", by_src="{src: [copies, wire, sec]}")
ZMTP_CONNECT = event("zmtp_connect", "peer sock cat wire sec")
HANDSHAKE_FAILED = event("handshake_failed", "sock how value why",
                         "a listening socket refused a connection", sock="router | pub",
                         how="auth (ZAP refused) | protocol | no_detail")
ZMTP_DISCONNECT = event("zmtp_disconnect", "peer sock")
FRAME_DROPPED = event("frame_dropped", "src reason wire|kind mid")
# -- anp's integrity and DID-WBA ------------------------------------------------------
CRC_FAIL = event("crc_fail", "src seq claimed_seq wire|channel")
ANP_DUPLICATE = event("anp_duplicate", "src seq")
ANP_GAP = event("anp_gap", "src first n")
ANP_RECOVERED = event("anp_recovered", "src seq")
ANP_UNRECOVERED = event("anp_unrecovered", "src seq")
ANP_NACK_STALE = event("anp_nack_stale", "src seqs")
ANP_NACK_UNKNOWN = event("anp_nack_unknown", "src seq")
DID_AUTH_FAILED = event("did_auth_failed", "peer side why")
DID_AUTH_STALE = event("did_auth_stale", "peer")
DID_AUTH_REFUSED = event("did_auth_refused", "peer why")
ANP_REAUTH = event("anp_reauth", "peer re", "a 401: our bearer token is not honoured; DID-WBA "
                   "again")
ANP_RESENT = event("anp_resent", "dst mid",
                   "a message refused with 401, sent again once authenticated")
# -- agora's protocol document and Agora-level errors ------------------------------------
AGORA_LEARNED = event("agora_learned", "src hash",
                      "the protocol document arrived with a request (a protocolSources data: "
                      "URI) and its SHA1 matched protocolHash: this process supports it now",
                      src="the peer whose request carried it")
AGORA_FAILURE = event("agora_failure", "peer re error",
                      "an answer with status failure (Agora-level error, spec §10.2) or a non-200 "
                      "HTTP status (transport level, §10.1): the request `re` is lost")
AGORA_RESENT = event("agora_resent", "dst mid",
                     "a message sent with the protocol hash alone was answered Unsupported "
                     "protocol (the peer restarted since): sent again, once, with the document")
# -- ioa's client retries ---------------------------------------------------------------
IOA_RETRY = event("ioa_retry", "dst mid attempt sent",
                  "a request held for a lost peer, sent again (IoA's client: 3 tries, 3 s apart)",
                  sent="the send went through: the request waits for its answer again")
IOA_GAVE_UP = event("ioa_gave_up", "dst mid tries",
                    "no send of a held request went through: it is given up (hop_lost) and the "
                    "agent re-publishes it")

# A storm logs each victim's signal under its fault's kind (`fsr.injector`).
FAULT_EVENTS = {"kill": KILL, "pause": PAUSE}
