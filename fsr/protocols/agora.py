"""agora — the Agora Protocol (agoraprotocol.org working standard; Python SDK agora-protocol
0.2.0; paper arXiv 2410.11905): JSON requests under a protocol document named by its SHA1,
HTTP/1.1 text (`fsr.protocols.http1`) in ZeroMQ frames.

The routine path, with one fixed document. The agents have agreed on `DOCUMENT` (YAML metadata
``name: fsr-mesh``, ``multiround: false``, then the body formats); no LLM and no negotiation
cross the wire. Every request is ``POST /`` (the agent's Agora base URL) with
``{"protocolHash": PROTOCOL_HASH, "protocolSources": [...], "body": {"kind": KIND, "data":
BODY}}`` and ``X-Request-ID: <msg_id>``. The answer is the POST's response, ``{"status":
"success", "body": {"kind": REPLY_KIND, "id": REPLY_ID, "data": BODY}}``, sent when the
application replies. A one-way message (the runner's `document`) is answered at once with
``{"status": "success", "body": {}}``. The exchanges are single-round: fsr opens no
conversation, so no ``conversationId`` ever appears, and a ``POST /conversations/{id}`` names
an unknown conversation: 404 (standard §10.1).

The protocol document. A node supports the document once it has it in this process (the SDK's
receiver memory, apart from its sender memory). A request to a peer not known to support it
carries the document inline in ``protocolSources`` as a ``data:`` URI — the SDK's form for a
document with no other source (sender/core.py:256-258, utils.py:71-80) — and the receiver
checks its SHA1 against ``protocolHash`` before it takes it (``agora_learned``). A peer that
answered ``success`` under the hash supports it: later requests send the hash alone, with an
empty ``protocolSources`` (standard §6.1: sources MAY be omitted then). A request under a hash
the node does not support, with no source that verifies, is answered ``{"status": "failure",
"error": "Unsupported protocol"}`` (HTTP 200, standard §8.3) and counted (``frame_dropped``).
A message that went with the hash alone is then sent again, once, with the document inline
(``agora_resent``): the peer restarted since it last answered — what the SDK, which sends the
sources every time, never needs. Any other failure loses the request (``agora_failure``).

Reconnection handshake: a ``hello`` request (body ``{"kind": "hello", "data": <node id, role,
shard version, incarnation>}``) that always carries the document, so a first contact and the
first contact after a restart exchange it; the answer carries the responder's facts. Requests
still open with a peer whose incarnation changed are lost (`hop_lost`): a restarted Agora
server has forgotten them.

Failure handling (`DESIGN`): the SDK's client is a blocking ``requests.post`` with no timeout
and no retry. A request fails only when its connection drops (the server process died: the
``stream`` signal), on a non-200 status (transport level, standard §10.1) or on ``status:
failure`` (Agora level, §10.2); protocol-level errors travel inside a ``success`` body (§10.3)
and are the application's. Nothing times a request out, so a paused peer holds its requests
until it resumes. A failed hop is re-published to another agent of the role.

Agora has no membership of its own — no heartbeat, no peer list, no discovery. What follows: a
client learns a server is gone only through a request of its own, so a peer nobody is asking is
never seen to fail; nothing tells a client that a server came back either. fsr's heartbeat
channel (``GET /ping``, `http1.ping_frame`) supplies both for every protocol — which peers are
routable, and the trigger for the hello — but agora's design does not stop using a peer for
its silence.

Deliberate differences from Agora, and why:
* HTTP/1.1 travels in ZeroMQ frames instead of HTTPS (the bus is the benchmark's constant), many
  exchanges sharing one connection, so requests and responses carry ``X-Request-ID``;
* ``protocolHash`` is the standard's 40-digit hex SHA1 (§8.2); the SDK 0.2.0 sends base64 of the
  same digest (utils.py:32-46);
* ``body`` is a JSON object (the standard allows string or object, §6.1), so payload bytes are
  carried verbatim; the SDK's routines send strings;
* the SDK sends protocolSources with every request (transporter.py:65-69); fsr omits the
  document once the peer has answered under it (§6.1), so its cost shows at first contact and
  after a restart instead of in every request;
* the SDK keeps protocols in a JSON file (receiver/core.py:69, common/storage.py:45): a
  restarted SDK agent would remember the document; fsr's agents keep no disk state;
* the handshake is fsr's: Agora has none (the optional ``GET /wellknown`` of §9 lists protocols
  but cannot teach one).
"""

from __future__ import annotations

import hashlib
import urllib.parse
from typing import Any

from fsr import events as ev
from fsr.protocols import http1, kinds
from fsr.protocols.base import Heartbeat, MalformedFrame, Message, ProtocolAdapter, WireFrame
from fsr.protocols.base import canonical as canonical_body
from fsr.protocols.common import (
    PAYLOAD,
    Bounded,
    Outstanding,
    compact,
    hop_lost,
    info_of,
    new_id,
    parse_json,
    splice,
)
from fsr.protocols.failure import FailureDesign
from fsr.protocols.fields import Fields

DOCUMENT = """---
name: fsr-mesh
description: Stage requests, lookups and the document broadcast between the agents of an fsr run.
multiround: false
---

A request body is a JSON object {"kind": KIND, "data": DATA}. KIND is "stage_request",
"lookup", "document" or "hello"; DATA is the JSON object of that message. The request's id is
its X-Request-ID header.

A stage_request is answered with {"kind": "stage_reply", "id": ID, "data": DATA}, a lookup
with {"kind": "lookup_reply", "id": ID, "data": DATA}; ID is the reply's own id. A document is
answered at once with {}. A hello carries the sender's {"node_id", "role", "shard_version",
"incarnation"} and is answered with {"kind": "hello", "data": ...} holding the receiver's.

Errors of a stage or a lookup are reported inside DATA ({"ok": false, "error": ...}).
"""
PROTOCOL_HASH = hashlib.sha1(DOCUMENT.encode()).hexdigest()  # standard §8.2: hex digest
DATA_URI = "data:text/plain;charset=utf-8,"  # agora-protocol utils.py:80
UNSUPPORTED = "Unsupported protocol"  # standard §8.3
HELLO = "hello"
FAILED = frozenset({"failure", "error"})  # "error": what the SDK's server answers (server.py:57)


def source_text(source: Any) -> str | None:
    """The document a ``data:`` URI source holds (agora-protocol utils.py:93-101 reads the
    plain and the base64 form; fsr writes the plain one); None for any other source."""
    if not isinstance(source, str) or not source.startswith(DATA_URI):
        return None
    return urllib.parse.unquote(source[len(DATA_URI):])


def sha1_hex(text: str) -> str:
    return hashlib.sha1(text.encode(errors="surrogatepass")).hexdigest()


class AgoraAdapter(ProtocolAdapter):
    name = "agora"
    DESIGN = FailureDesign(
        liveness=frozenset({"stream"}), request_timeout=None, on_lost="republish",
        reconnect="hello under the protocol hash with the document inline (data: URI); the "
                  "peer verifies its SHA1 and answers its facts; requests held by a restarted "
                  "peer are lost and sent again",
        sources={
            "liveness": "agora-protocol 0.2.0 sender/components/transporter.py:74: a blocking "
                        "requests.post per request, no heartbeat (Agora standard §2.1 leaves "
                        "everything but the JSON exchange out): a dead server shows as the "
                        "request's connection dropping",
            "request_timeout": "agora-protocol 0.2.0 transporter.py:74 passes no timeout to "
                               "requests.post (requests' default timeout=None): nothing times "
                               "a request out",
            "on_lost": "agora-protocol 0.2.0 transporter.py:76-77: a non-200 answer raises "
                       "ProtocolTransportError and a dropped connection requests' "
                       "ConnectionError, with no retry; the caller sends again, to any live "
                       "agent of the role. Agora standard §10.1-10.3: transport, Agora "
                       "(status failure) and protocol-level errors",
            "reconnect": "agora-protocol 0.2.0 receiver/core.py:157-164: an unknown "
                         "protocolHash is fetched from protocolSources and verified "
                         "(utils.py:93-113), else ProtocolRetrievalError; Agora standard §8.3: "
                         "\"Unsupported protocol\""})

    def __init__(self, transport: Any, local: Any) -> None:
        super().__init__(transport, local)
        self.outstanding = Outstanding()
        self.handshakes: Bounded = Bounded(256)  # hello request id -> peer
        self.supported: set[str] = set()  # peers that answered success under PROTOCOL_HASH
        # messages sent with the hash alone, kept until answered: sent again with the document
        # if the peer no longer holds it
        self.hash_only: Bounded = Bounded(1024)
        self.knows_document = False  # the document reached this process (receiver memory)

    # -- sending ------------------------------------------------------------------------------
    def encode(self, dest: str, message: Message) -> list[WireFrame]:
        payload = canonical_body(message.body)
        if message.reply_to is not None:
            answer = {"status": "success",
                      "body": {"kind": message.kind, "id": message.msg_id, "data": PAYLOAD}}
            return [self._response(message.reply_to, splice(answer, payload), len(payload),
                                   message.category, "success", message.msg_id)]
        if message.kind in kinds.REQUESTS:
            self.outstanding.add(dest, message.msg_id)
        if dest in self.supported:
            self.hash_only[message.msg_id] = message
        return [self._post(dest, message.msg_id, {"kind": message.kind, "data": PAYLOAD},
                           payload, message.category)]

    def _post(self, dest: str, rid: str, body: dict[str, Any], payload: bytes | None,
              category: str) -> WireFrame:
        sources = [] if dest in self.supported else [DATA_URI + urllib.parse.quote(DOCUMENT)]
        env = {"protocolHash": PROTOCOL_HASH, "protocolSources": sources, "body": body}
        data = http1.request("POST", "/", [("Host", dest), http1.JSON, ("X-Request-ID", rid)],
                             compact(env) if payload is None else splice(env, payload))
        kind = body["kind"] if category == "handshake" else "POST"
        return WireFrame(data, len(payload or b""), category, f"agora.{kind}",
                         "" if category == "handshake" else rid)

    def _response(self, rid: str, body: bytes, carried: int, category: str, kind: str,
                  msg_id: str = "", status: int = 200) -> WireFrame:
        data = http1.response(status, [http1.JSON, ("X-Request-ID", rid)], body)
        return WireFrame(data, carried, category, f"agora.{kind}", msg_id)

    def _answer(self, dest: str, rid: str, answer: dict[str, Any], category: str,
                status: int = 200) -> None:
        kind = str(answer["status"]) if status == 200 else str(status)
        self.send_frames(dest, [self._response(rid, compact(answer), 0, category, kind,
                                               status=status)])

    # -- receiving ----------------------------------------------------------------------------
    def decode(self, sender: str, data: bytes) -> list[Message]:
        msg = http1.read(data, "agora")
        if msg.kind == "chunks" or msg.chunks:
            raise MalformedFrame("agora: a chunked body (Agora answers in one response)")
        rid = http1.header(msg, "x-request-id", "agora")
        if msg.kind == "response":
            return self._on_response(sender, rid, msg)
        if msg.method == "POST" and msg.target == "/":
            env = Fields(parse_json(msg.body, "agora"), "agora request")
            return self._on_request(sender, rid, env, len(data))
        # standard §10.1: 404 for unknown endpoints or conversation ids (fsr opens none)
        self._answer(sender, rid, {"status": "failure", "error": f"Not found: {msg.target[:80]}"},
                     "task", status=404)
        return []

    def _on_request(self, sender: str, rid: str, env: Fields, wire: int) -> list[Message]:
        body = env.obj("body")
        kind = body.text("kind")
        category = "handshake" if kind == HELLO else kinds.CATEGORY.get(kind, "task")
        data = body.obj("data")
        if not self._supports(sender, env):
            self._answer(sender, rid, {"status": "failure", "error": UNSUPPORTED}, category)
            self.transport.record(ev.FRAME_DROPPED, src=sender, wire=wire,
                                  reason=f"agora: unsupported protocol "
                                         f"{str(env.raw('protocolHash'))[:48]}")
            return []
        if kind == HELLO:
            self._answer(sender, rid, {"status": "success", "body": {
                "kind": HELLO, "id": new_id(), "data": info_of(self.local)}}, category)
            return []
        if kind not in kinds.REQUESTS:  # one-way: answered at once
            self._answer(sender, rid, {"status": "success", "body": {}}, category)
        return [Message(kind, data.data, rid, None, sender)]

    def _supports(self, sender: str, env: Fields) -> bool:
        """Whether this node can answer under the request's protocol: fsr's document, held
        already or carried by a source whose SHA1 is the hash (receiver/core.py:157-164).
        No hash means natural language, for an LLM fsr's agents do not run."""
        if env.raw("protocolHash") != PROTOCOL_HASH:
            return False
        if not self.knows_document:
            for source in env.items("protocolSources", []):
                text = source_text(source)
                if text is not None and sha1_hex(text) == PROTOCOL_HASH:
                    self.knows_document = True
                    self.transport.record(ev.AGORA_LEARNED, src=sender, hash=PROTOCOL_HASH)
                    break
        return self.knows_document

    def _on_response(self, sender: str, rid: str, resp: http1.Http1) -> list[Message]:
        peer = self.handshakes.pop(rid, None)
        sent = self.hash_only.pop(rid, None)
        if resp.status != 200:  # transport level: the SDK raises ProtocolTransportError
            return self._failed(sender, rid, peer, f"HTTP {resp.status}")
        env = Fields(parse_json(resp.body, "agora"), "agora response")
        status = env.text("status")
        if status in FAILED:
            error = env.opt_text("error") or status
            if error == UNSUPPORTED and sent is not None:  # the peer restarted: teach it
                self.supported.discard(sender)
                self.transport.record(ev.AGORA_RESENT, dst=sender, mid=rid)
                self.send_message(sender, sent)
                return []
            return self._failed(sender, rid, peer, error)
        if status != "success":
            raise MalformedFrame(f"agora: status {status[:40]!r}")
        body = env.obj("body")
        self.supported.add(sender)
        if peer is not None:
            return self._handshake_done(peer, body.obj("data"))
        if not body.has("kind"):  # the acknowledgement of a one-way message
            return []
        reply = Message(body.text("kind"), body.obj("data").data, body.text("id"), rid, sender)
        self.outstanding.pop(rid)
        return [reply]

    def _failed(self, sender: str, rid: str, peer: str | None, error: str) -> list[Message]:
        if error == UNSUPPORTED:
            self.supported.discard(sender)  # send the document again with the next request
        if peer is not None:
            self.transport.record(ev.HANDSHAKE_REFUSED, peer=peer, error=error[:200])
            return []
        self.transport.record(ev.AGORA_FAILURE, peer=sender, re=rid, error=error[:200])
        p = self.outstanding.pop(rid)
        return [hop_lost(p)] if p is not None else []

    # -- handshake ----------------------------------------------------------------------------
    def start_handshake(self, peer: str) -> bool:
        rid = new_id()
        self.handshakes[rid] = peer
        self.supported.discard(peer)  # a hello always carries the document
        hello = self._post(peer, rid, {"kind": HELLO, "data": info_of(self.local)}, None,
                           "handshake")
        return self.send_frames(peer, [hello])

    def _handshake_done(self, peer: str, data: Fields) -> list[Message]:
        incarnation = data.text("incarnation")
        info = {"role": data.text("role"), "shard_version": data.number("shard_version"),
                "incarnation": incarnation}
        _, lost = self.outstanding.reconnect(peer, incarnation)
        return [self.peer_ready(peer, info), *(hop_lost(p) for p in lost)]

    # -- failure handling ---------------------------------------------------------------------
    def open_requests(self, peer: str) -> bool:
        return self.outstanding.open_to(peer)

    def forget(self, msg_id: str) -> None:
        self.outstanding.pop(msg_id)
        self.hash_only.pop(msg_id, None)

    # -- heartbeat (fsr's membership channel: Agora has none) ---------------------------------
    def encode_heartbeat(self, hb: Heartbeat) -> WireFrame:
        return http1.ping_frame(hb, "agora")

    def decode_heartbeat(self, data: bytes) -> Heartbeat:
        return http1.read_ping(data, "agora")
