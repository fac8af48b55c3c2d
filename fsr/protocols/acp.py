"""acp — IBM/BeeAI's Agent Communication Protocol (acp-sdk 1.0 REST API): runs whose output
streams back as Server-Sent Events, framed as HTTP/1.1 text (`fsr.protocols.http1`).

A request hop is ``POST /runs`` (a `RunCreateRequest`: agent_name = the peer, mode "stream",
input = one user `Message` whose single `MessagePart` is named after the fsr kind and holds the
body as ``application/json`` content), with ``X-Request-ID: <msg_id>``. The peer creates a run
and answers at once with the stream head and a ``run.created`` event. The application's reply
then streams on that run: ``message.part`` events, each carrying the next `PART_SIZE` bytes of the
reply's payload (SSE ``id`` = the reply's msg_id, part name = its kind), and ``run.completed``,
followed by the stream's last chunk. The requester reassembles the parts and delivers the reply
on run.completed. A one-way message (the runner's `document`) is ``POST /runs`` in mode "sync",
answered with the completed `Run`.

Reconnection handshake: ``GET /agents/{name}`` -> the peer's `AgentManifest` (role as
capabilities and tags; incarnation and shard version as extra metadata); then every run the peer
holds for us with no answer yet is read back — ``GET /runs/{run_id}`` (acp-sdk 1.0.3
``server/app.py``: the `Run`). A run the peer never heard of (a restarted process) answers 404
(`Error` code not_found) -> `hop_lost`, and the hop is posted again; a completed run hands up
its output as the reply (``X-Reply-ID`` names the reply's message id); one still in progress
goes on answering on its original stream.

Heartbeat: ``GET /ping`` with ``Host: <node>``, ``X-Agent-Incarnation`` and ``X-Ping-Seq``.

Deliberate differences from ACP, and why:
* HTTP/1.1 messages travel as ZeroMQ frames, many exchanges sharing one connection; so chunks
  name their stream (chunk extension ``stream=``) and responses carry ``X-Request-ID``;
* the SDK's stream also has run.in-progress, message.created and message.completed events, and
  repeats the whole output in run.completed; fsr sends run.created -> message.part x k ->
  run.completed with an empty ``output`` so that each payload byte crosses the wire once;
* a completed run's `output` carries the reply only when read back with ``GET /runs/{id}``
  (the stream sends each payload byte once), and ``X-Reply-ID`` is fsr's header;
* ping is published on the heartbeat channel and never answered (ACP answers ``{}``).
"""

from __future__ import annotations

from typing import Any

from fsr import events as ev
from fsr.protocols import http1, kinds
from fsr.protocols.base import (
    Heartbeat,
    MalformedFrame,
    Message,
    WireFrame,
    canonical,
)
from fsr.protocols.common import (
    Bounded,
    Pending,
    ReattachingAdapter,
    Work,
    compact,
    info_of,
    iso_now,
    new_id,
    parse_json,
)
from fsr.protocols.failure import FailureDesign
from fsr.protocols.fields import Fields

JSON = http1.JSON


def _part(kind: str, content: bytes) -> dict[str, Any]:
    return {"name": kind, "content_type": "application/json", "content": content.decode(),
            "content_encoding": "plain"}


class AcpAdapter(ReattachingAdapter):
    name = "acp"
    DESIGN = FailureDesign(
        liveness=frozenset({"stream"}), request_timeout=None, on_lost="republish",
        reconnect="GET /agents/{name} -> AgentManifest; runs still open with that peer are "
                  "resumed by id (unknown -> re-posted)",
        sources={
            "liveness": "acp-sdk 1.0.3: the client never pings by itself (client/client.py:143 "
                        "ping() on demand); a stream-mode run fails when its SSE connection "
                        "drops (client.py:180, 237 aconnect_sse)",
            "request_timeout": "acp-sdk 1.0.3 client/client.py:58: Client(timeout=None)",
            "on_lost": "acp-sdk 1.0.3 client has no retries (the retry helper in "
                       "server/utils.py:49-76 is for platform registration only): the run "
                       "fails and the caller posts it again, to any live agent of the role",
            "reconnect": "acp-sdk 1.0.3 server/app.py: GET /agents/{name}; GET /runs/{id} -> "
                         "404 for an unknown run (MemoryStore, app.py:122)"})
    # Payload bytes per message.part event: a typical reply (0.1-1 KB) streams in 1-4 parts.
    PART_SIZE = 256

    def __init__(self, transport: Any, local: Any) -> None:
        super().__init__(transport, local)
        self.partial: Bounded = Bounded(512)  # our request msg_id -> reply parts so far

    # -- sending ------------------------------------------------------------------------------
    def encode(self, dest: str, message: Message) -> list[WireFrame]:
        payload = canonical(message.body)
        if message.reply_to is not None:
            work = self.work.for_request(message.reply_to)
            if work is not None:
                work.reply, work.state = message, "completed"
            return self._reply_frames(work, message, work.stream_id if work else
                                      message.reply_to)
        stream = message.kind in kinds.REQUESTS
        if stream:
            self.outstanding.add(dest, message.msg_id)
        run = {"agent_name": dest, "session_id": None, "mode": "stream" if stream else "sync",
               "input": [{"role": "user", "parts": [_part(message.kind, payload)]}]}
        data = http1.request("POST", "/runs", [
            ("Host", dest), JSON, ("Accept", "text/event-stream" if stream else JSON[1]),
            ("X-Request-ID", message.msg_id)], compact(run))
        return [WireFrame(data, len(payload), message.category, "acp.POST /runs",
                          message.msg_id)]

    def _reply_frames(self, work: Work | None, reply: Message, stream: str) -> list[WireFrame]:
        payload = canonical(reply.body)
        frames = []
        for at in range(0, max(len(payload), 1), self.PART_SIZE):
            piece = payload[at:at + self.PART_SIZE]
            event = {"type": "message.part", "part": _part(reply.kind, piece)}
            frames.append(WireFrame(http1.chunk(http1.sse(compact(event), reply.msg_id), stream),
                                    len(piece), reply.category, "acp.message.part",
                                    reply.msg_id))
        done = {"type": "run.completed", "run": self._run(work, "completed")}
        frames.append(WireFrame(http1.chunk(http1.sse(compact(done)), stream)
                                + http1.last_chunk(stream), 0, reply.category,
                                "acp.run.completed", reply.msg_id))
        return frames

    def _run(self, work: Work | None, status: str) -> dict[str, Any]:
        terminal = status in ("completed", "failed", "cancelled")
        return {"run_id": work.work_id if work else new_id(), "agent_name": self.local.node_id,
                "session_id": None, "status": status, "await_request": None, "output": [],
                "error": None, "created_at": work.created if work else iso_now(),
                "finished_at": iso_now() if terminal else None}

    def _respond(self, dest: str, rid: str, status: int, body: Any, category: str, kind: str,
                 msg_id: str = "") -> None:
        data = http1.response(status, [JSON, ("X-Request-ID", rid)], compact(body))
        self.send_frames(dest, [WireFrame(data, 0, category, f"acp.{status} {kind}", msg_id)])

    def _stream_head(self, dest: str, work: Work, event: dict[str, Any],
                     category: str) -> WireFrame:
        data = http1.response(200, [("Content-Type", "text/event-stream"),
                                    ("Cache-Control", "no-cache"),
                                    ("X-Request-ID", work.stream_id)],
                              http1.chunk(http1.sse(compact(event)), work.stream_id),
                              chunked=True)
        return WireFrame(data, 0, category, f"acp.{event['type']}", work.request_id)

    # -- receiving ----------------------------------------------------------------------------
    def decode(self, sender: str, data: bytes) -> list[Message]:
        msg = http1.read(data, "acp")
        if msg.kind == "request":
            return self._on_request(sender, msg)
        out = []
        if msg.kind == "response" and not msg.chunks:
            out += self._on_response(sender, msg)
        for stream, chunk in msg.chunks:
            out += self._on_chunk(sender, stream, chunk)
        return out

    def _on_request(self, sender: str, req: http1.Http1) -> list[Message]:
        rid = _request_id(req)
        path = req.target.strip("/").split("/")
        if req.method == "POST" and path == ["runs"]:
            return self._create_run(sender, rid, Fields(parse_json(req.body, "acp"), "acp run"))
        if req.method == "GET" and len(path) == 2 and path[0] == "runs":
            self._read_run(sender, rid, path[1])
        elif req.method == "GET" and len(path) == 2 and path[0] == "agents":
            if path[1] == self.local.node_id:
                self._respond(sender, rid, 200, self._manifest(), "handshake", "manifest")
            else:
                self._respond(sender, rid, 404, {"code": "not_found", "message":
                                                 f"Agent {path[1]} not found"}, "handshake",
                              "error")
        else:
            self._respond(sender, rid, 404, {"code": "not_found", "message": req.target},
                          "task", "error")
        return []

    def _create_run(self, sender: str, rid: str, run: Fields) -> list[Message]:
        agent = run.text("agent_name")
        if agent != self.local.node_id:
            self._respond(sender, rid, 404, {"code": "not_found", "message":
                                             f"Agent {agent[:64]} not found"}, "task", "error")
            return []
        part = run.first("input").first("parts")
        got = Message(part.text("name"), _part_body(part), rid, None, sender)
        if run.raw("mode") != "stream":  # sync: the run is over once the message is taken
            self._respond(sender, rid, 200, self._run(None, "completed"), got.category,
                          "run", rid)
            return [got]
        if self.work.for_request(rid) is not None:
            return []  # the same request twice: its run already exists
        work = self.work.open(sender, rid, got.kind, rid, "created")
        head = self._stream_head(sender, work, {"type": "run.created",
                                                "run": self._run(work, "created")}, got.category)
        self.send_frames(sender, [head])
        return [got]

    def _read_run(self, sender: str, rid: str, run_id: str) -> None:
        """``GET /runs/{run_id}``: the run as it stands, with its output once completed (the
        reply's message id in ``X-Reply-ID``); 404 for a run this process never held."""
        work = self.work.get(run_id)
        if work is None:
            self._respond(sender, rid, 404, {"code": "not_found", "message":
                                             f"Run {run_id} not found"}, "handshake", "error")
            return
        run = self._run(work, work.state)
        headers = [JSON, ("X-Request-ID", rid)]
        payload = b""
        if work.reply is not None:
            payload = canonical(work.reply.body)
            run["output"] = [{"role": "agent", "parts": [_part(work.reply.kind, payload)]}]
            headers.append(("X-Reply-ID", work.reply.msg_id))
        data = http1.response(200, headers, compact(run))
        category = kinds.CATEGORY.get(work.kind, "task")
        self.send_frames(sender, [WireFrame(data, len(payload), category, "acp.200 run",
                                            work.request_id)])

    def _on_response(self, sender: str, resp: http1.Http1) -> list[Message]:
        rid = _request_id(resp)
        if rid in self.handshakes:
            if resp.status != 200:
                peer = self.handshakes.pop(rid)
                self.transport.record(ev.HANDSHAKE_REFUSED, peer=peer, status=resp.status)
                return []
            info = _manifest_info(Fields(parse_json(resp.body, "acp"), "acp manifest"))
            self.handshakes.pop(rid)
            return self.handshake_done(sender, info)
        if rid in self.reattaching:
            if resp.status != 200:
                return self.reattach_failed(
                    rid, f"{resp.status} {resp.body[:100].decode(errors='replace')}")
            return self._run_read(sender, rid, resp)
        if resp.status == 200:
            return []  # a sync run's result: nothing to hand up
        p = self.outstanding.pop(rid)
        return [self.hop_lost(p)] if p is not None else []

    def _run_read(self, sender: str, rid: str, resp: http1.Http1) -> list[Message]:
        """The answer to a re-attach: a completed run hands up its output as the reply; one
        still in progress goes on answering on its stream."""
        mid = self.reattaching.get(rid)
        run = Fields(parse_json(resp.body, "acp"), "acp run")
        status = run.text("status")
        output = run.items("output") if status == "completed" else []
        reply = None
        if output and mid is not None:
            part = run.first("output").first("parts")
            reply = Message(part.text("name"), _part_body(part), _header(resp, "x-reply-id"),
                            mid, sender)
        self.reattached(rid)
        if reply is None or reply.reply_to is None:
            return []
        self.partial.pop(reply.reply_to, None)
        self.outstanding.pop(reply.reply_to)
        return [reply]

    def _on_chunk(self, sender: str, stream: str, data: bytes) -> list[Message]:
        mid = stream
        if not data:  # the stream's last chunk
            return []
        out = []
        for event_id, raw in http1.sse_events(data):
            event = Fields(parse_json(raw, "acp"), "acp event")
            kind = event.text("type")
            if kind in ("run.created", "run.in-progress"):
                self.outstanding.bind(mid, event.obj("run").text("run_id"))
                self.partial.pop(mid, None)  # a resumed stream replays the output from its start
            elif kind == "message.part":
                part = event.obj("part")
                name, content = part.text("name"), part.text("content")
                acc = self.partial.get(mid)
                if acc is None:
                    acc = self.partial[mid] = {"id": event_id, "kind": name, "text": []}
                acc["text"].append(content)
            elif kind == "run.completed":
                out += self._completed(sender, mid)
            elif kind in ("run.failed", "run.cancelled", "error"):
                self.partial.pop(mid, None)
                p = self.outstanding.pop(mid)
                out += [self.hop_lost(p)] if p is not None else []
        return out

    def _completed(self, sender: str, mid: str) -> list[Message]:
        acc = self.partial.pop(mid, None)
        p = self.outstanding.pop(mid)
        if acc is None:  # ended without output
            return [self.hop_lost(p)] if p is not None and not p.delivered else []
        body = parse_json("".join(acc["text"]).encode(), "acp")
        if not isinstance(body, dict) or not acc["id"]:
            raise MalformedFrame("acp: reply is not a JSON object with an id")
        return [Message(str(acc["kind"]), body, str(acc["id"]), mid, sender)]

    # -- handshake ----------------------------------------------------------------------------
    def start_handshake(self, peer: str) -> bool:
        rid = new_id()
        self.handshakes[rid] = peer
        data = http1.request("GET", f"/agents/{peer}", [("Host", peer), ("Accept", JSON[1]),
                                                         ("X-Request-ID", rid)])
        return self.send_frames(peer, [WireFrame(data, 0, "handshake", "acp.GET /agents")])

    def reattach_frame(self, peer: str, pending: Pending, request_id: str) -> WireFrame:
        data = http1.request("GET", f"/runs/{pending.remote_id}", [
            ("Host", peer), ("Accept", JSON[1]), ("X-Request-ID", request_id)])
        return WireFrame(data, 0, "handshake", "acp.GET /runs/{id}", pending.msg_id)

    def _manifest(self) -> dict[str, Any]:
        info, roles = info_of(self.local), self.local.role.split("+")
        return {"name": self.local.node_id, "description": f"fsr agent with tools {roles}",
                "metadata": {"capabilities": [{"name": r, "description": f"the {r} stage"}
                                              for r in roles],
                             "tags": roles, "incarnation": info["incarnation"],
                             "shard_version": info["shard_version"]},
                "input_content_types": ["application/json"],
                "output_content_types": ["application/json"]}

    # -- heartbeat ----------------------------------------------------------------------------
    def encode_heartbeat(self, hb: Heartbeat) -> WireFrame:
        return http1.ping_frame(hb, "acp")

    def decode_heartbeat(self, data: bytes) -> Heartbeat:
        return http1.read_ping(data, "acp")


def _manifest_info(manifest: Fields) -> dict[str, Any]:
    meta = manifest.obj("metadata")
    return {"role": "+".join(c.text("name") for c in meta.objs("capabilities")),
            "shard_version": meta.number("shard_version"),
            "incarnation": meta.text("incarnation")}


def _header(msg: http1.Http1, name: str) -> str:
    return http1.header(msg, name, "acp")


def _request_id(msg: http1.Http1) -> str:
    return _header(msg, "x-request-id")


def _part_body(part: Fields) -> dict[str, Any]:
    """The JSON object an ACP MessagePart's ``content`` carries."""
    body = parse_json(part.text("content").encode(), "acp")
    if not isinstance(body, dict):
        raise MalformedFrame("acp: message part is not a JSON object")
    return body
