"""ioa — an Internet-of-Agents-style hub (OpenBMB/IoA 0.0.1, commit ca5e3d5): a central server
routes every message, the agents are its clients, and every message is an ``AgentMessage``
(common/types/communication.py:98-124) as JSON.

The hub. fsr runs IoA's server as one more agent process, node id ``hub`` (`HUB_ID`), with no
roles and no shard: the plan adds it and makes the topology its star (`HUB`, `fsr.bus.topology`),
so each agent is linked to the hub alone and each hop from A to B travels A -> hub -> B. The hub
is fsr's relay (`fsr.agents.agent.Agent.relay`): it takes the request and sends it on to an
agent that can answer, and the answer back, each leg an ordinary message counted by the bus. A
storm spares the hub or strikes it (``targets.hub``, `fsr.config.schedule`).

The frame: one ``AgentMessage`` as ``model_dump_json`` writes it — every field, in the model's
order, defaults included (the server forwards ``message.model_dump_json()``, im_server/app.py:56;
the client sends ``payload.model_dump_json()``, communication_layer.py:1477). ``content`` holds
the fsr body as JSON text; ``sender`` the node; ``next_speaker`` the receiver of this leg;
``comm_id`` the task (one conversation per task); ``state`` EXECUTION (3); ``type``
SYNC_TASK_ASSIGNMENT (5) for a request, ASYNC_TASK_ASSIGNMENT (6) for a one-way message (the
runner's ``document``), INFORM_TASK_RESULT (7) for a reply; ``task_id`` the request's id (a
reply names the request it concludes); ``task_desc`` the fsr kind. A reply's own id travels in
``msg_id``, a field of fsr's (AgentMessage has no message id; pydantic ignores unknown fields, so
IoA's model still reads the frame).

Reconnection handshake: IoA's ``POST /register`` (an ``AgentInfo``: name, type, desc) before the
WebSocket opens (communication_layer.py:179-210). fsr's is one round trip of TEAMUP messages
(``state`` 0): ``content`` "register" then "registered", ``team_members`` one AgentInfo each
(desc = the role) with the node's incarnation and shard version, ``task_id`` the handshake's id.

Failure handling (`DESIGN`): the client's WebSocket has keepalive off (``ping_timeout=None``,
websocket_client.py:19) and no read timeout, so only the connection dropping shows a lost peer
(``stream``), and a paused hub holds every message until it resumes. A send that meets a closed
connection is tried again 3 times, 3 s apart, reconnecting in between
(websocket_client.py:23-45; the receive loop likewise, :47-71): fsr holds each request in flight
to a lost peer, or refused by a lost link, and sends it again on that schedule (3 s, x1, 3
tries); the first send that goes through ends the loop (``ioa_retry``); after the last the
message is given up (``ioa_gave_up``) and the agent re-publishes it: without a hub it finds no
route, and the task parks until the hub is back.

Deliberate differences from IoA, and why:
* ZeroMQ frames instead of WebSocket frames (the bus is the benchmark's constant): the ZMTP
  frame header stands in for the WebSocket one, client frames are not masked, and no WebSocket
  ping frames cross the data link — fsr's heartbeat channel is every protocol's membership view;
  its frame here is a compact JSON ``ping`` (IoA's websockets keepalive pings every 20 s with
  its timeout off, so they never declare a peer dead either);
* IoA retries only a send that raised; a message that had reached the server before it died is
  lost without an error and nothing times it out (the conversation waits for ever). fsr sends
  it again on the same schedule, so a hub's loss costs its retries rather than the task timeout;
* the server forwards each message to every member of its session, the sender included
  (app.py:151-153); an fsr hop has one receiver, so the hub sends each leg to it alone, and the
  hub, not the sender, picks which agent of the role answers (fsr's relay);
* the runner is not an IoA client: its ``document`` broadcast goes to each agent directly.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fsr import events as ev
from fsr.protocols import jsonbytes, kinds
from fsr.protocols.base import Heartbeat, MalformedFrame, Message, ProtocolAdapter, WireFrame
from fsr.protocols.base import canonical as canonical_body
from fsr.protocols.common import Bounded, compact, new_id, parse_json
from fsr.protocols.failure import Backoff, FailureDesign
from fsr.protocols.fields import Fields

# common/types/communication.py: CommunicationState and CommunicationType
TEAMUP, EXECUTION = 0, 3
DEFAULT, SYNC_TASK, ASYNC_TASK, TASK_RESULT = 0, 5, 6, 7
TYPE_NAMES = {SYNC_TASK: "sync_task_assign", ASYNC_TASK: "async_task_assign",
              TASK_RESULT: "inform_task_result"}
REGISTER, REGISTERED = "register", "registered"


def agent_message(**fields: Any) -> dict[str, Any]:
    """An AgentMessage with every field, in the model's order, as model_dump_json writes it."""
    return {"content": "", "sender": "", "comm_id": "", "next_speaker": "", "state": TEAMUP,
            "type": DEFAULT, "proposal_id": "", "goal": None, "team_members": None,
            "team_up_depth": None, "task_id": "", "task_desc": "", "task_conclusion": "",
            "task_abstract": "", "triggers": [], "updated_plan": "",
            "is_collaborative_planning_enabled": False, "max_turns": None, **fields}


class IoaAdapter(ProtocolAdapter):
    name = "ioa"
    HUB = True
    DESIGN = FailureDesign(
        liveness=frozenset({"stream"}), request_timeout=None, on_lost="resubscribe",
        backoff=Backoff(3.0, 1.0, 3),
        reconnect="register (TEAMUP AgentMessage with the node's AgentInfo) answered with the "
                  "peer's; requests held for a lost peer are sent again as it comes back",
        sources={
            "liveness": "OpenBMB/IoA 0.0.1 im_client/communication/websocket_client.py:19: "
                        "websockets.connect(uri, ping_timeout=None), keepalive off: only the "
                        "connection closing (ConnectionClosed) shows a lost server",
            "request_timeout": "OpenBMB/IoA 0.0.1 websocket_client.py:54: websocket.recv() "
                               "with no timeout (timeout=None): nothing times a request out",
            "on_lost": "OpenBMB/IoA 0.0.1 websocket_client.py:23-45 and 47-71: a send or "
                       "receive that meets a closed connection is tried again, max_retries = 3, "
                       "asyncio.sleep(3) apart, reconnecting (connect()) in between; then the "
                       "message is dropped (3 s, x1, 3 tries); fsr's agent re-publishes it",
            "reconnect": "OpenBMB/IoA 0.0.1 im_client/communication/communication_layer.py:"
                         "179-210: POST /register (AgentInfo) then a new WebSocket to "
                         "/ws/{name}; im_server/app.py:43-49 keeps one socket per agent name"})

    def __init__(self, transport: Any, local: Any) -> None:
        super().__init__(transport, local)
        self.requests: Bounded = Bounded(4096)  # our request id -> (peer, Message), unanswered
        self.retrying: dict[str, int] = {}  # request id -> sends tried since its peer was lost
        self.handshakes: Bounded = Bounded(256)  # register id -> peer

    # -- sending ------------------------------------------------------------------------------
    def encode(self, dest: str, message: Message) -> list[WireFrame]:
        payload = canonical_body(message.body)
        extra: dict[str, Any] = {}
        if message.reply_to is not None:
            kind, task_id, extra["msg_id"] = TASK_RESULT, message.reply_to, message.msg_id
        elif message.kind in kinds.REQUESTS:
            kind, task_id = SYNC_TASK, message.msg_id
            self.requests[message.msg_id] = (dest, message)
        else:
            kind, task_id = ASYNC_TASK, message.msg_id
        env = agent_message(content=payload.decode(), sender=self.local.node_id,
                            comm_id=str(message.body.get("task_id") or ""), next_speaker=dest,
                            state=EXECUTION, type=kind, task_id=task_id, task_desc=message.kind,
                            **extra)
        return [WireFrame(jsonbytes.dumps(env), len(payload), message.category,
                          f"ioa.{TYPE_NAMES[kind]}", message.msg_id)]

    def _teamup(self, dest: str, content: str, handshake_id: str) -> WireFrame:
        loc = self.local
        member = {"name": loc.node_id, "type": "Thing Assistant", "desc": loc.role,
                  "incarnation": loc.incarnation, "shard_version": loc.shard_version}
        env = agent_message(content=content, sender=loc.node_id, next_speaker=dest,
                            team_members=[member], task_id=handshake_id)
        return WireFrame(compact(env), 0, "handshake", f"ioa.{content}")

    # -- receiving ----------------------------------------------------------------------------
    def decode(self, sender: str, data: bytes) -> list[Message]:
        env = Fields(parse_json(data, "ioa"), "ioa AgentMessage")
        to = env.text("next_speaker")
        if to != self.local.node_id:
            raise MalformedFrame(f"ioa: next_speaker {to[:40]!r} is not this node")
        task_id = env.text("task_id")
        if env.number("state") == TEAMUP:
            return self._on_teamup(sender, env, task_id)
        kind, typ = env.text("task_desc"), env.number("type")
        body = parse_json(env.text("content").encode(), "ioa")
        if not isinstance(body, dict):
            raise MalformedFrame("ioa: content is not a JSON object")
        if typ == TASK_RESULT:
            self.forget(task_id)
            return [Message(kind, body, env.text("msg_id"), task_id, sender)]
        if typ not in (SYNC_TASK, ASYNC_TASK):
            raise MalformedFrame(f"ioa: type {typ} carries no fsr message")
        return [Message(kind, body, task_id, None, sender)]

    def _on_teamup(self, sender: str, env: Fields, handshake_id: str) -> list[Message]:
        content = env.text("content")
        member = env.first("team_members")
        if content == REGISTER:
            self.send_frames(sender, [self._teamup(sender, REGISTERED, handshake_id)])
            return []
        if content != REGISTERED:
            raise MalformedFrame(f"ioa: TEAMUP content {content[:40]!r}")
        if self.handshakes.pop(handshake_id, None) is None:
            return []  # the answer to a register this node no longer waits for
        info = {"role": member.text("desc"), "shard_version": member.number("shard_version"),
                "incarnation": member.text("incarnation")}
        return [self.peer_ready(sender, info)]

    # -- handshake ----------------------------------------------------------------------------
    def start_handshake(self, peer: str) -> bool:
        rid = new_id()
        self.handshakes[rid] = peer
        return self.send_frames(peer, [self._teamup(peer, REGISTER, rid)])

    # -- failure handling: the client's retries ------------------------------------------------
    def open_requests(self, peer: str) -> bool:
        return any(dest == peer for dest, _ in self.requests.values())

    def recover(self, peer: str, msg_id: str, backoff: Backoff) -> bool:
        """Send request `msg_id` again on `backoff` until a send goes through (IoA's
        send_message loop); False if it is not ours to send."""
        if msg_id not in self.requests:
            return False
        self.retrying[msg_id] = 0
        self.transport.call_later(backoff.delay(0), partial(self._retry, msg_id, backoff))
        return True

    def _retry(self, msg_id: str, backoff: Backoff) -> None:
        attempt, sent = self.retrying.get(msg_id), self.requests.get(msg_id)
        if attempt is None or sent is None:  # answered, or the agent moved on
            self.retrying.pop(msg_id, None)
            return
        peer, message = sent
        ok = self.send_message(peer, message)
        self.transport.record(ev.IOA_RETRY, dst=peer, mid=msg_id, attempt=attempt + 1, sent=ok)
        if ok:  # the send went through: the request waits for its answer again
            self.retrying.pop(msg_id, None)
        elif attempt + 1 >= backoff.tries:
            self.forget(msg_id)
            self.transport.record(ev.IOA_GAVE_UP, dst=peer, mid=msg_id, tries=attempt + 1)
            self.transport.hop_lost(msg_id, "retries_exhausted")
        else:
            self.retrying[msg_id] = attempt + 1
            self.transport.call_later(backoff.delay(attempt + 1),
                                      partial(self._retry, msg_id, backoff))

    def forget(self, msg_id: str) -> None:
        self.requests.pop(msg_id, None)
        self.retrying.pop(msg_id, None)

    # -- heartbeat (fsr's membership channel) --------------------------------------------------
    def encode_heartbeat(self, hb: Heartbeat) -> WireFrame:
        data = compact({"type": "ping", "sender": hb.node_id, "incarnation": hb.incarnation,
                        "seq": hb.seq})
        return WireFrame(data, 0, "heartbeat", "ioa.ping")

    def decode_heartbeat(self, data: bytes) -> Heartbeat:
        ping = Fields(parse_json(data, "ioa"), "ioa ping")
        if ping.text("type") != "ping":
            raise MalformedFrame("ioa: heartbeat is not a ping")
        return Heartbeat(ping.text("sender"), ping.text("incarnation"), ping.number("seq"))
