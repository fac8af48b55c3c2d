"""a2a — Google's Agent2Agent protocol (spec v0.3.0, JSON-RPC 2.0 binding), one JSON-RPC object
per ZeroMQ frame.

Requests. A request hop (`stage_request`, `lookup`) is a ``message/stream`` call whose params
carry an A2A `Message` (kind "message", role "user", messageId = our msg_id, contextId = the fsr
task id, one `DataPart` holding the body, metadata ``{"fsr/kind": KIND}``); the JSON-RPC id is
the msg_id too. A one-way message (the runner's `document`) is a ``message/send`` call, answered
with a completed `Task`.

The event queue. The receiver opens a task per request and answers through the task's event
queue, as the SDK's EventQueue does: ``status-update`` submitted, then working, at once; the
application's reply becomes an ``artifact-update`` (artifactId = the reply's msg_id, name = its
kind, one DataPart) and a final ``status-update`` completed. Each event leaves as its own frame,
a JSON-RPC response carrying the stream's id (the spec's SSE shape for ``message/stream``).
Events that could not be sent stay queued in their task; a client that resubscribes drains them.
The requester delivers the reply on the artifact; the final status closes the request.

Reconnection handshake (run by the side that detected the peer): ``agent/getAuthenticatedExtended
Card`` -> the peer's `AgentCard` (name = node id, url, version, one skill per role, and the
membership facts in a capability extension); then ``tasks/resubscribe`` for every unanswered task
held by that peer. The peer answers -32001 TaskNotFoundError for a task it never heard of (a
restarted process) -> `hop_lost`, so the agent re-publishes the hop at once.

Failure handling (`DESIGN`, each default with its source): a peer is lost when the stream of an
open request closes (the transport drops the connection) or a request gets no event for the
client's 5 s read timeout; an open task on a lost peer is resubscribed with backoff (0.5 s,
doubling, 4 tries) — a restarted peer answers TaskNotFound and the hop is sent again (to any
live agent of the role), and one that never answers is given up and re-published.

Heartbeat: a JSON-RPC notification ``{"jsonrpc":"2.0","method":"fsr/heartbeat","params":{...}}``.

Deliberate differences from the spec, and why:
* transport: JSON-RPC objects travel as ZeroMQ frames, not HTTP POST + Server-Sent Events (the
  bus is the benchmark's constant); the stream id is the JSON-RPC id, as in the SSE binding;
* A2A has no heartbeat; the notification on fsr's membership channel is ours (a2a's own design
  does not use it for liveness: see `DESIGN`);
* the AgentCard carries the node's incarnation and shard version in a capability extension
  (``urn:fsr:membership:v1``): A2A has no field for them and the agent needs them in peer_ready;
* the card is fetched with the authenticated-extended-card call, without authentication (there is
  no TLS/OAuth on a loopback benchmark), instead of GET /.well-known/agent-card.json;
* tasks/resubscribe on a task already finished with nothing left to send gets InvalidParams
  (-32602), as the SDK does; the requester takes that as the hop being lost.
"""

from __future__ import annotations

from typing import Any

from fsr import events as ev
from fsr.protocols import kinds
from fsr.protocols.base import (
    Heartbeat,
    MalformedFrame,
    Message,
    WireFrame,
    canonical,
)
from fsr.protocols.common import (
    PAYLOAD,
    Pending,
    ReattachingAdapter,
    Work,
    compact,
    info_of,
    iso_now,
    new_id,
    parse_json,
    splice,
)
from fsr.protocols.failure import Backoff, FailureDesign
from fsr.protocols.fields import Fields

PROTOCOL_VERSION = "0.3.0"
MEMBERSHIP_EXT = "urn:fsr:membership:v1"
TASK_NOT_FOUND, INVALID_PARAMS, METHOD_NOT_FOUND = -32001, -32602, -32601
TERMINAL = frozenset({"completed", "canceled", "failed", "rejected"})


def _rpc(rid: str | None, **fields: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", **({"id": rid} if rid is not None else {}), **fields}


class A2AAdapter(ReattachingAdapter):
    name = "a2a"
    DESIGN = FailureDesign(
        liveness=frozenset({"stream"}), request_timeout=5.0, on_lost="resubscribe",
        backoff=Backoff(0.5, 2.0, 4),
        reconnect="agent card, then tasks/resubscribe per open task; TaskNotFound (-32001) -> "
                  "send again",
        sources={
            "liveness": "A2A spec v0.3.0 defines no heartbeat: a client sees a crashed server "
                        "when the SSE stream of its open message/stream closes (§3.3.1)",
            "request_timeout": "a2a-python v0.3.26: client_factory.py:79 builds "
                               "httpx.AsyncClient() (httpx default timeout 5 s); "
                               "transports/jsonrpc.py:162 uses its read timeout for "
                               "message/stream (v0.3.7+)",
            "on_lost": "a2a-python v0.3.26 base_client.py:239-272: resubscribe() only when the "
                       "caller asks; the schedule (0.5 s, doubling, 4 tries) is fsr's: the SDK "
                       "has none",
            "reconnect": "a2a-python v0.3.26 default_request_handler.py:508-544 (unknown task "
                         "-> TaskNotFoundError -32001) and inmemory_task_store.py:15 (tasks are "
                         "lost when the server process stops)"})

    def __init__(self, transport: Any, local: Any) -> None:
        super().__init__(transport, local)
        # frames drained from a task's queue and not yet known to be on the wire
        self._in_flight: dict[WireFrame, tuple[Work, dict[str, Any]]] = {}

    # -- sending ------------------------------------------------------------------------------
    def encode(self, dest: str, message: Message) -> list[WireFrame]:
        payload = canonical(message.body)
        if message.reply_to is not None:
            work = self.work.for_request(message.reply_to)
            if work is None:  # no task to answer through: a bare Message result, as allowed
                return [self._bare_reply(message, payload)]
            self._enqueue(work, {"kind": "artifact-update", "taskId": work.work_id,
                                 "contextId": work.context_id, "lastChunk": True,
                                 "artifact": {"artifactId": message.msg_id, "name": message.kind,
                                              "parts": [{"kind": "data", "data": PAYLOAD}]}},
                          message.msg_id, payload)
            work.state = "completed"
            self._enqueue_status(work, "completed", True, message.msg_id)
            return self._drain(work)
        method = "message/stream" if message.kind in kinds.REQUESTS else "message/send"
        ctx = str(message.body.get("task_id") or message.msg_id)
        msg = {"kind": "message", "messageId": message.msg_id, "role": "user", "contextId": ctx,
               "parts": [{"kind": "data", "data": PAYLOAD}],
               "metadata": {"fsr/kind": message.kind}}
        if method == "message/stream":
            self.outstanding.add(dest, message.msg_id)
        data = splice(_rpc(message.msg_id, method=method, params={"message": msg}), payload)
        return [WireFrame(data, len(payload), message.category, f"a2a.{method}", message.msg_id)]

    def send_frames(self, dest: str, frames: list[WireFrame]) -> bool:
        for i, frame in enumerate(frames):
            if self.transport.send_frame(dest, frame):
                self._in_flight.pop(frame, None)
                continue
            # Not on the wire: task events go back to the front of their queue (a resubscriber
            # drains them); a request that never left is no longer outstanding.
            for f in reversed(frames[i:]):
                back = self._in_flight.pop(f, None)
                if back is not None:
                    back[0].events.appendleft(back[1])
            if frame.kind == "a2a.message/stream":
                self.outstanding.pop(frame.msg_id)
            return False
        return True

    def _enqueue(self, work: Work, result: dict[str, Any], msg_id: str,
                 payload: bytes | None = None) -> None:
        category = kinds.CATEGORY.get(work.kind, "task")
        work.events.append({"result": result, "mid": msg_id, "payload": payload, "cat": category})

    def _enqueue_status(self, work: Work, state: str, final: bool, msg_id: str) -> None:
        self._enqueue(work, {"kind": "status-update", "taskId": work.work_id,
                             "contextId": work.context_id, "final": final,
                             "status": {"state": state, "timestamp": iso_now()}}, msg_id)

    def _drain(self, work: Work) -> list[WireFrame]:
        frames = []
        while work.events:
            item = work.events.popleft()
            env = _rpc(work.stream_id, result=item["result"])
            payload = item["payload"]
            data = compact(env) if payload is None else splice(env, payload)
            name = item["result"]["kind"]
            if name == "status-update":
                name += "." + item["result"]["status"]["state"]
            frame = WireFrame(data, len(payload or b""), item["cat"], f"a2a.{name}", item["mid"])
            self._in_flight[frame] = (work, item)
            frames.append(frame)
        return frames

    def _bare_reply(self, message: Message, payload: bytes) -> WireFrame:
        msg = {"kind": "message", "messageId": message.msg_id, "role": "agent",
               "parts": [{"kind": "data", "data": PAYLOAD}],
               "metadata": {"fsr/kind": message.kind}}
        return WireFrame(splice(_rpc(message.reply_to, result=msg), payload), len(payload),
                         message.category, "a2a.message", message.msg_id)

    def _answer(self, dest: str, rid: Any, category: str, kind: str, msg_id: str = "",
                **fields: Any) -> None:
        self.send_frames(dest, [WireFrame(compact(_rpc(rid, **fields)), 0, category,
                                          f"a2a.{kind}", msg_id)])

    # -- receiving ----------------------------------------------------------------------------
    def decode(self, sender: str, data: bytes) -> list[Message]:
        env = Fields(parse_json(data, "a2a"), "a2a")
        if env.raw("jsonrpc") != "2.0":
            raise MalformedFrame("a2a: not a JSON-RPC 2.0 object")
        if isinstance(env.raw("method"), str):
            return self._on_request(sender, env)
        if env.has("result") or env.has("error"):
            return self._on_response(sender, env)
        raise MalformedFrame("a2a: neither request nor response")

    def _on_request(self, sender: str, env: Fields) -> list[Message]:
        method, rid = env.text("method"), env.raw("id")
        if method in ("message/stream", "message/send"):
            msg = env.obj("params").obj("message")
            kind, mid = msg.obj("metadata").text("fsr/kind"), msg.text("messageId")
            got = Message(kind, _data_part(msg), mid, None, sender)
            category = got.category
            context = msg.opt_text("contextId") or mid
            if method == "message/send":
                task = {"kind": "task", "id": new_id(), "contextId": context,
                        "status": {"state": "completed", "timestamp": iso_now()}}
                self._answer(sender, rid, category, "task.completed", mid, result=task)
                return [got]
            if self.work.for_request(mid) is not None:
                return []  # the same request twice: its task already runs
            work = self.work.open(sender, mid, kind, context, "working")
            work.stream_id = str(rid)
            self._enqueue_status(work, "submitted", False, mid)
            self._enqueue_status(work, "working", False, mid)
            self.send_frames(sender, self._drain(work))
            return [got]
        if method == "agent/getAuthenticatedExtendedCard":
            self._answer(sender, rid, "handshake", "agent-card", result=self._card())
        elif method == "tasks/resubscribe":
            self._resubscribe(sender, rid, env.obj("params").text("id"))
        elif rid is not None:
            self._answer(sender, rid, "task", "error", error={
                "code": METHOD_NOT_FOUND, "message": f"Method not found: {method[:100]}"})
        return []

    def _resubscribe(self, sender: str, rid: Any, task_id: str) -> None:
        work = self.work.get(task_id)
        if work is None:
            self._answer(sender, rid, "handshake", "error",
                         error={"code": TASK_NOT_FOUND, "message": "Task not found"})
        elif work.state in TERMINAL and not work.events:
            self._answer(sender, rid, "handshake", "error", error={
                "code": INVALID_PARAMS,
                "message": f"Task {task_id} is in terminal state: {work.state}"})
        else:  # tap the task's queue: what is left of its events goes to the new stream
            work.stream_id, work.client = str(rid), sender
            self.send_frames(sender, self._drain(work))

    def _on_response(self, sender: str, env: Fields) -> list[Message]:
        rid = str(env.raw("id"))
        if rid in self.handshakes:
            if env.has("error"):
                peer = self.handshakes.pop(rid)
                self.transport.record(ev.HANDSHAKE_REFUSED, peer=peer,
                                      error=str(env.raw("error"))[:200])
                return []
            info = _card_info(env.obj("result"))
            self.handshakes.pop(rid)
            return self.handshake_done(sender, info)
        if env.has("error"):
            err = env.obj("error")
            if rid in self.reattaching:
                return self.reattach_failed(
                    rid, f"{err.raw('code')} {str(err.raw('message'))[:100]}")
            p = self.outstanding.pop(rid)
            return [self.hop_lost(p)] if p is not None else []
        result = env.obj("result")
        kind = result.text("kind")
        if kind == "status-update":
            task_id, final = result.text("taskId"), result.flag("final")
            state = result.obj("status").text("state")
            self.reattached(rid)  # a resubscription answered with events: it took
            return self._on_status(rid, task_id, final, state)
        if kind == "artifact-update":
            art, task_id = result.obj("artifact"), result.text("taskId")
            name, body, art_id = art.text("name"), _data_part(art), art.text("artifactId")
            self.reattached(rid)
            p = self.outstanding.find(task_id) or self.outstanding.get(rid)
            if p is not None:
                p.delivered = True
            return [Message(name, body, art_id, p.msg_id if p is not None else rid, sender)]
        if kind == "message":  # a bare reply (the task was gone on the answering side)
            reply = Message(result.obj("metadata").text("fsr/kind"), _data_part(result),
                            result.text("messageId"), rid, sender)
            self.reattached(rid)
            self.outstanding.pop(rid)
            return [reply]
        if kind == "task":  # the answer to a one-way message/send
            self.reattached(rid)
            return []
        raise MalformedFrame(f"a2a: unknown result kind {kind[:40]!r}")

    def _on_status(self, rid: str, task_id: str, final: bool, state: str) -> list[Message]:
        p = self.outstanding.find(task_id) or self.outstanding.bind(rid, task_id)
        if p is None or not final:
            return []
        self.outstanding.pop(p.msg_id)
        if state == "completed" and p.delivered:
            return []
        return [self.hop_lost(p)]  # ended without an answer

    # -- handshake ----------------------------------------------------------------------------
    def start_handshake(self, peer: str) -> bool:
        rid = new_id()
        self.handshakes[rid] = peer
        req = _rpc(rid, method="agent/getAuthenticatedExtendedCard")
        return self.send_frames(peer, [WireFrame(compact(req), 0, "handshake",
                                                 "a2a.agent/getAuthenticatedExtendedCard")])

    def reattach_frame(self, peer: str, pending: Pending, request_id: str) -> WireFrame:
        req = _rpc(request_id, method="tasks/resubscribe", params={"id": pending.remote_id})
        return WireFrame(compact(req), 0, "handshake", "a2a.tasks/resubscribe", pending.msg_id)

    def _card(self) -> dict[str, Any]:
        loc, info = self.local, info_of(self.local)
        return {
            "name": loc.node_id, "description": f"fsr agent holding the tools {loc.role}",
            "url": f"tcp://127.0.0.1:{loc.port}", "version": "0.1.0",
            "protocolVersion": PROTOCOL_VERSION, "preferredTransport": "JSONRPC",
            "capabilities": {"streaming": True, "pushNotifications": False, "extensions": [
                {"uri": MEMBERSHIP_EXT, "description": "fsr mesh membership",
                 "params": {"incarnation": info["incarnation"],
                            "shard_version": info["shard_version"]}}]},
            "defaultInputModes": ["application/json"],
            "defaultOutputModes": ["application/json"],
            "skills": [{"id": r, "name": r, "description": f"the {r} stage of a task",
                        "tags": [r]} for r in loc.role.split("+")],
            "supportsAuthenticatedExtendedCard": True,
        }

    # -- heartbeat ----------------------------------------------------------------------------
    def encode_heartbeat(self, hb: Heartbeat) -> WireFrame:
        note = _rpc(None, method="fsr/heartbeat",
                    params={"agent": hb.node_id, "incarnation": hb.incarnation, "seq": hb.seq})
        return WireFrame(compact(note), 0, "heartbeat", "a2a.heartbeat")

    def decode_heartbeat(self, data: bytes) -> Heartbeat:
        env = Fields(parse_json(data, "a2a"), "a2a heartbeat")
        if env.raw("method") != "fsr/heartbeat" or env.has("id"):
            raise MalformedFrame("a2a: not a heartbeat notification")
        p = env.obj("params")
        return Heartbeat(p.text("agent"), p.text("incarnation"), p.number("seq"))


def _data_part(holder: Fields) -> dict[str, Any]:
    """The object of the first DataPart in `holder`'s parts."""
    for part in holder.objs("parts"):
        if part.raw("kind") == "data" and isinstance(part.raw("data"), dict):
            return part.obj("data").data
    raise MalformedFrame("a2a: no DataPart")


def _card_info(card: Fields) -> dict[str, Any]:
    ext = next((e for e in card.obj("capabilities").objs("extensions")
                if e.raw("uri") == MEMBERSHIP_EXT), None)
    if ext is None:
        raise MalformedFrame("a2a: AgentCard lacks the membership extension")
    params = ext.obj("params")
    return {"role": "+".join(s.text("id") for s in card.objs("skills")),
            "shard_version": params.number("shard_version"),
            "incarnation": params.text("incarnation")}
