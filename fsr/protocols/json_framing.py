"""json — the baseline framing: one compact JSON object per frame, nothing else.

Envelope: ``{"v":1,"type":KIND,"id":MSG_ID,"re":REPLY_TO,"from":SRC,"to":DST,"body":BODY}``.
Heartbeat: ``{"v":1,"type":"heartbeat","from":SRC,"inc":INCARNATION,"seq":N}``.
Handshake: one round trip, ``hello`` then ``hello_ack``, each carrying node id, role, shard
version and incarnation.
There is no integrity check: a frame that parses is trusted (compare anp's CRC32); a frame that
does not parse is counted and dropped by the base class.
"""

from __future__ import annotations

from typing import Any

from fsr.protocols import jsonbytes
from fsr.protocols.base import (
    Heartbeat,
    MalformedFrame,
    Message,
    ProtocolAdapter,
    WireFrame,
    canonical,
    new_msg_id,
)
from fsr.protocols.fields import Fields


class JsonAdapter(ProtocolAdapter):
    name = "json"

    def frame(self, dest: str, kind: str, body: Any, msg_id: str, reply_to: str | None,
              category: str) -> WireFrame:
        payload = canonical(body)
        # Handshake bodies are protocol state, not application payload: all envelope.
        carried = 0 if category == "handshake" else len(payload)
        data = jsonbytes.dumps({"v": 1, "type": kind, "id": msg_id, "re": reply_to,
                                "from": self.local.node_id, "to": dest,
                                "body": jsonbytes.Verbatim(payload)})
        return WireFrame(data, carried, category, f"json.{kind}", msg_id)

    def encode(self, dest: str, message: Message) -> list[WireFrame]:
        return [self.frame(dest, message.kind, message.body, message.msg_id, message.reply_to,
                           message.category)]

    def decode(self, sender: str, data: bytes) -> list[Message]:
        env = _parse(data)
        kind, body = env.get("type"), env.get("body")
        if not isinstance(kind, str) or not isinstance(body, dict):
            raise MalformedFrame("json: envelope lacks type/body")
        if kind == "hello":
            ack = self.frame(sender, "hello_ack", self._info(), env.get("id", ""), None,
                             "handshake")
            self.send_frames(sender, [ack])
            return []
        if kind == "hello_ack":
            return [self.peer_ready(sender, body)]
        mid, reply_to = env.get("id"), env.get("re")
        if type(mid) is not str or (reply_to is not None and type(reply_to) is not str):
            fields = Fields(env, "json")  # numbers are ids too; other types are refused
            mid, reply_to = fields.opt_text("id") or "", fields.opt_text("re")
        return [Message(kind, body, mid, reply_to, sender)]

    def start_handshake(self, peer: str) -> bool:
        return self.send_frames(peer, [self.frame(peer, "hello", self._info(), new_msg_id(),
                                                  None, "handshake")])

    def encode_heartbeat(self, hb: Heartbeat) -> WireFrame:
        data = jsonbytes.dumps({"v": 1, "type": "heartbeat", "from": hb.node_id,
                                "inc": hb.incarnation, "seq": hb.seq})
        return WireFrame(data, 0, "heartbeat", "json.heartbeat")

    def decode_heartbeat(self, data: bytes) -> Heartbeat:
        env = Fields(_parse(data), "json heartbeat")
        return Heartbeat(env.text("from"), env.text("inc"), env.number("seq"))

    def _info(self) -> dict[str, Any]:
        loc = self.local
        return {"node_id": loc.node_id, "role": loc.role, "shard_version": loc.shard_version,
                "incarnation": loc.incarnation}


def _parse(data: bytes) -> dict[str, Any]:
    try:
        env = jsonbytes.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedFrame(f"json: not JSON: {exc}") from exc
    if not isinstance(env, dict):
        raise MalformedFrame("json: frame is not an object")
    return env
