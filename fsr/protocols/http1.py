"""HTTP/1.1 messages and chunked Server-Sent Events, as the acp and agora framings put them in
frames.

ACP is REST over HTTP/1.1 with SSE streams, Agora JSON over HTTP POST; this module writes and
reads exactly that text (RFC 9112 start lines, headers, Content-Length or chunked bodies; the
WHATWG SSE event format), so an HTTP parser such as h11 accepts what it writes (the conformance
tests check this).

One ZeroMQ frame holds one of: a request; a response with a Content-Length body; a response head
with ``Transfer-Encoding: chunked`` and its first chunk(s); or further chunks of a streamed
response. Many streams share one ZeroMQ connection, so every chunk names its stream in a chunk
extension (``<size-hex>;stream=<request id>``) — legal HTTP/1.1 that parsers ignore — and each
response head names its request in ``X-Request-ID``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fsr.protocols.base import Heartbeat, MalformedFrame, WireFrame

CRLF = b"\r\n"
_CHUNK_LINE = re.compile(rb"[0-9a-fA-F]+;")
JSON = ("Content-Type", "application/json")
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


def _head(start: str, headers: list[tuple[str, str]]) -> bytes:
    return (start + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode()


def request(method: str, target: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    if body:
        headers = [*headers, ("Content-Length", str(len(body)))]
    return _head(f"{method} {target} HTTP/1.1", headers) + body


def response(status: int, headers: list[tuple[str, str]], body: bytes = b"",
             chunked: bool = False) -> bytes:
    extra = ("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(len(body)))
    return _head(f"HTTP/1.1 {status} {REASONS[status]}", [*headers, extra]) + body


def chunk(data: bytes, stream: str) -> bytes:
    return f"{len(data):x};stream={stream}".encode() + CRLF + data + CRLF


def last_chunk(stream: str) -> bytes:
    return f"0;stream={stream}".encode() + CRLF + CRLF


def sse(data: bytes, event_id: str | None = None) -> bytes:
    """One SSE event: optional ``id:`` line, one ``data:`` line (data must hold no newline)."""
    return (f"id: {event_id}\n".encode() if event_id else b"") + b"data: " + data + b"\n\n"


@dataclass
class Http1:
    kind: str  # "request" | "response" | "chunks"
    method: str = ""
    target: str = ""
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased
    body: bytes = b""
    chunks: list[tuple[str, bytes]] = field(default_factory=list)  # (stream, data); b"" = end


def parse(data: bytes) -> Http1:
    """Read one frame; ValueError if it is not what `request`/`response`/`chunk` write."""
    if _CHUNK_LINE.match(data):
        return Http1("chunks", chunks=_chunks(data))
    head, sep, rest = data.partition(CRLF + CRLF)
    if not sep:
        raise ValueError("no end of header")
    start, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise ValueError(f"bad header line {line[:60]!r}")
        headers[name.lower()] = value.strip()
    parts = start.split(" ", 2)
    if len(parts) != 3:
        raise ValueError(f"bad start line {start[:60]!r}")
    if parts[0] == "HTTP/1.1":
        msg = Http1("response", status=int(parts[1]), headers=headers)
    elif parts[2] == "HTTP/1.1" and parts[0].isalpha() and parts[1].startswith("/"):
        msg = Http1("request", method=parts[0], target=parts[1], headers=headers)
    else:
        raise ValueError(f"bad start line {start[:60]!r}")
    if headers.get("transfer-encoding") == "chunked":
        msg.chunks = _chunks(rest) if rest else []
    elif len(rest) != int(headers.get("content-length", "0")):
        raise ValueError("body length differs from Content-Length")
    else:
        msg.body = rest
    return msg


def _chunks(data: bytes) -> list[tuple[str, bytes]]:
    out, pos = [], 0
    while pos < len(data):
        end = data.index(CRLF, pos)
        size_text, _, ext = data[pos:end].partition(b";")
        size = int(size_text, 16)
        params = dict(p.partition(b"=")[::2] for p in ext.split(b";") if p)
        stream = params.get(b"stream", b"").decode()
        body_end = end + 2 + size
        if data[body_end:body_end + 2] != CRLF or not stream:
            raise ValueError("bad chunk")
        out.append((stream, data[end + 2:body_end]))
        pos = body_end + 2
        if size == 0 and pos != len(data):  # last-chunk ends the stream (no trailers)
            raise ValueError("data after the last chunk")
    return out


def sse_events(data: bytes) -> list[tuple[str | None, bytes]]:
    """(id, data) of each SSE event in `data`."""
    out = []
    for block in data.split(b"\n\n"):
        if not block:
            continue
        event_id, payload = None, None
        for line in block.split(b"\n"):
            name, _, value = line.partition(b": ")
            if name == b"id":
                event_id = value.decode()
            elif name == b"data":
                payload = value
        if payload is None:
            raise ValueError("SSE event without data")
        out.append((event_id, payload))
    return out


# -- what the HTTP framings (acp, agora) share: reading a frame, its headers, the ping -------
def read(data: bytes, proto: str) -> Http1:
    """`parse`, with anything that is not HTTP/1.1 a `MalformedFrame`."""
    try:
        return parse(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedFrame(f"{proto}: not HTTP/1.1: {exc}") from exc


def header(msg: Http1, name: str, proto: str) -> str:
    """A header the framing requires (`name` lower-case)."""
    value = msg.headers.get(name)
    if value is None:
        raise MalformedFrame(f"{proto}: no {name} header")
    return value


def ping_frame(hb: Heartbeat, proto: str) -> WireFrame:
    """The heartbeat: ``GET /ping`` with ``Host: <node>``, ``X-Agent-Incarnation`` and
    ``X-Ping-Seq`` (neither ACP nor Agora has one: the membership channel is fsr's)."""
    data = request("GET", "/ping", [("Host", hb.node_id), ("X-Agent-Incarnation", hb.incarnation),
                                    ("X-Ping-Seq", str(hb.seq))])
    return WireFrame(data, 0, "heartbeat", f"{proto}.ping")


def read_ping(data: bytes, proto: str) -> Heartbeat:
    try:
        req = parse(data)
        if req.kind != "request" or req.target != "/ping":
            raise ValueError("not a ping")
        h = req.headers
        return Heartbeat(h["host"], h["x-agent-incarnation"], int(h["x-ping-seq"]))
    except (KeyError, ValueError, UnicodeDecodeError) as exc:
        raise MalformedFrame(f"{proto}: bad ping: {exc!r}") from exc
