"""Conformance: the frames fsr puts on the wire parse with the protocols' official SDKs.

A scripted exchange (handshakes, request/reply of every kind, a multi-part reply, the document
broadcast, a bare reply, re-attaching to known and unknown work, heartbeats) runs on the
in-memory bus; then every frame it produced is read back with the SDK's own models:
* a2a — `a2a-sdk` (its A2A v0.3 pydantic types: `a2a.compat.v0_3.types` in a2a-sdk 1.x,
  `a2a.types` in 0.3.x) and the `json-rpc` package for the heartbeat notification;
* acp — `h11` parses the HTTP/1.1 text, `httpx-sse` the event stream, `acp-sdk` models the
  bodies (RunCreateRequest, Run, Event, AgentManifest, Error);
* anp — the `anp` SDK (AgentConnect) verifies the DID-WBA proofs exchanged in the handshake
  against the DID documents sent with them, and fsr verifies proofs the SDK makes;
* agora — `h11` parses the HTTP/1.1 text; the bodies are read as agora-protocol 0.2.0's server
  and client read them (the SDK itself cannot be imported cheaply: its package imports langchain),
  and checked against the Agora standard's fields.

Skipped, with the reason, when an SDK is missing: ``pip install -e '.[conformance]'``.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import defaultdict
from types import ModuleType
from typing import Any

import pytest

from fsr.protocols import Message
from fsr.protocols.base import Heartbeat, WireFrame
from fsr.protocols.common import Pending
from fsr.protocols.did_wba import DidIdentity, authority_of, did_for, verify
from tests.protocols.fakebus import FakeBus, Node, request_body

pytestmark = pytest.mark.conformance
SKIP = "the official SDKs are not installed (pip install -e '.[conformance]')"


def need(module: str) -> ModuleType:
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as exc:
        pytest.skip(f"{SKIP}: {exc}")


def traffic(protocol: str) -> list[tuple[str, str, WireFrame]]:
    """Every frame of a scripted exchange, as (src, dst, frame) in send order."""
    bus = FakeBus(protocol)
    runner = bus.add("runner", "runner")
    a, b = bus.add("agent_0", "search"), bus.add("agent_1", "extract+triple")
    c = bus.add("agent_2", "reason")
    nodes: list[Node] = [runner, a, b, c]
    for peer in ("agent_1", "agent_2"):
        a.adapter.start_handshake(peer)
    b.adapter.start_handshake("agent_0")
    bus.pump()
    runner.adapter.send_message("agent_0", Message("document", {"document": {"x": "y" * 900}}))
    for kind, reply, size in (("lookup", "lookup_reply", 0), ("stage_request", "stage_reply",
                                                              1500)):
        req = Message(kind, request_body(size))
        a.adapter.send_message("agent_1", req)
        bus.pump()
        b.adapter.send_message("agent_0", Message(reply, {"output": {"t": "z" * size}},
                                                  reply_to=req.msg_id))
        bus.pump()
    b.adapter.send_message("agent_0", Message("stage_reply", {"output": {}}, reply_to="gone"))
    lost, kept = Message("lookup", {"question": "q1"}), Message("lookup", {"question": "q2"})
    a.adapter.send_message("agent_1", lost)
    a.adapter.send_message("agent_2", kept)
    bus.pump()
    nodes.append(bus.restart("agent_1"))
    a.adapter.start_handshake("agent_1")  # resubscribe/resume -> not found
    a.adapter.start_handshake("agent_2")  # resubscribe/resume -> continues
    bus.pump()
    c.adapter.send_message("agent_0", Message("lookup_reply", {"hits": []}, reply_to=kept.msg_id))
    bus.pump()
    assert [m.kind for m in a.got].count("hop_lost") == (protocol != "anp")
    hb = a.adapter.encode_heartbeat(Heartbeat("agent_0", "inc", 1))
    # each node's frames in its send order (a stream is always one node's)
    return [*((n.local.node_id, d, f) for n in nodes for d, f in n.transport.sent),
            ("agent_0", "*", hb)]


# -- a2a ----------------------------------------------------------------------------------------
def a2a_types() -> ModuleType:
    for name in ("a2a.compat.v0_3.types", "a2a.types"):
        try:
            types = __import__(name, fromlist=["_"])
        except ImportError:
            continue
        if hasattr(types, "TaskResubscriptionRequest"):  # the v0.3 JSON-RPC models
            return types
    pytest.skip(f"{SKIP}: no a2a-sdk with the A2A v0.3 types")


def test_a2a_frames_parse_with_a2a_sdk() -> None:
    t = a2a_types()
    jsonrpc2 = need("jsonrpc.jsonrpc2")
    requests = {"a2a.message/stream": t.SendStreamingMessageRequest,
                "a2a.message/send": t.SendMessageRequest,
                "a2a.agent/getAuthenticatedExtendedCard": t.GetAuthenticatedExtendedCardRequest,
                "a2a.tasks/resubscribe": t.TaskResubscriptionRequest}
    streamed = {"a2a.status-update": t.TaskStatusUpdateEvent,
                "a2a.artifact-update": t.TaskArtifactUpdateEvent, "a2a.message": t.Message}
    seen = set()
    for _, _, frame in traffic("a2a"):
        kind = frame.kind.split(".status-update")[0] + (
            ".status-update" if ".status-update" in frame.kind else "")
        seen.add(kind)
        if kind in requests:
            model = requests[kind].model_validate_json(frame.data)
            assert isinstance(t.A2ARequest.model_validate_json(frame.data).root, requests[kind])
            if kind in ("a2a.message/stream", "a2a.message/send"):
                part = model.params.message.parts[0].root
                assert isinstance(part, t.DataPart)
        elif kind in streamed:
            resp = t.SendStreamingMessageResponse.model_validate_json(frame.data).root
            assert isinstance(resp.result, streamed[kind])
        elif kind == "a2a.task.completed":
            resp = t.SendMessageResponse.model_validate_json(frame.data).root
            assert isinstance(resp.result, t.Task)
        elif kind == "a2a.agent-card":
            card = t.GetAuthenticatedExtendedCardResponse.model_validate_json(frame.data).root
            assert isinstance(card.result, t.AgentCard)
            assert card.result.capabilities.streaming and card.result.skills
        elif kind == "a2a.error":
            err = t.JSONRPCErrorResponse.model_validate_json(frame.data)
            assert err.error.code in (-32001, -32602)
        elif kind == "a2a.heartbeat":
            assert jsonrpc2.JSONRPC20Request.from_json(frame.data.decode()).is_notification
        else:
            raise AssertionError(f"frame kind {kind} not checked")
    assert seen >= {*requests, *streamed, "a2a.task.completed", "a2a.agent-card", "a2a.error",
                    "a2a.heartbeat"}


# -- acp ----------------------------------------------------------------------------------------
_STREAM = re.compile(rb"^[0-9a-f]+;stream=([^\r;]+)\r\n")


def h11_events(conn: Any, data: bytes) -> list[Any]:
    h11 = need("h11")
    conn.receive_data(data)
    out = []
    while (ev := conn.next_event()) not in (h11.NEED_DATA, h11.PAUSED):
        out.append(ev)
    return out


def h11_response(data: bytes, method: str = "POST") -> tuple[Any, bytes, bool]:
    """(h11.Response, body, whether the message ended) of response bytes."""
    h11 = need("h11")
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method=method, target="/", headers=[("Host", "x"),
                                                             ("Content-Length", "0")]))
    conn.send(h11.EndOfMessage())
    events = h11_events(conn, data)
    body = b"".join(bytes(e.data) for e in events if isinstance(e, h11.Data))
    return events[0], body, isinstance(events[-1], h11.EndOfMessage)


def test_acp_frames_parse_with_acp_sdk_h11_and_httpx_sse() -> None:
    h11 = need("h11")
    models = need("acp_sdk.models")
    schemas = need("acp_sdk.models.schemas")
    sse_decoder = need("httpx_sse._decoders").SSEDecoder
    pydantic = need("pydantic")
    event_adapter = pydantic.TypeAdapter(models.Event)
    streams: dict[str, bytearray] = defaultdict(bytearray)
    heads, seen = set(), set()
    for _, _, frame in traffic("acp"):
        seen.add(frame.kind)
        if frame.kind in ("acp.run.created", "acp.run.in-progress"):
            rid = re.search(rb"X-Request-ID: ([^\r]+)", frame.data).group(1).decode()
            streams[rid] += frame.data
            heads.add(rid)
        elif frame.kind in ("acp.message.part", "acp.run.completed"):
            streams[_STREAM.match(frame.data).group(1).decode()] += frame.data
        elif frame.kind.startswith("acp.200") or frame.kind.startswith("acp.404"):
            resp, body, ended = h11_response(frame.data)
            assert ended and resp.status_code in (200, 404)
            model = {"acp.200 manifest": schemas.AgentReadResponse, "acp.200 run": models.Run,
                     "acp.404 error": models.Error}[frame.kind]
            model.model_validate_json(body)
        else:  # requests
            conn = h11.Connection(h11.SERVER)
            events = h11_events(conn, frame.data)
            req, body = events[0], b"".join(bytes(e.data) for e in events[1:-1])
            assert isinstance(req, h11.Request) and isinstance(events[-1], h11.EndOfMessage)
            if frame.kind == "acp.POST /runs":
                run = schemas.RunCreateRequest.model_validate_json(body)
                assert run.input[0].parts[0].content_type == "application/json"
                json.loads(run.input[0].parts[0].content)
            else:
                assert frame.kind in ("acp.GET /agents", "acp.GET /runs/{id}", "acp.ping")
                assert body == b""
    assert len(heads) >= 4 and "gone" in streams  # (a bare reply has no stream head)
    for rid in heads:  # each stream: one chunked HTTP response of SSE events
        resp, body, ended = h11_response(bytes(streams[rid]))
        assert resp.status_code == 200
        assert dict(resp.headers)[b"content-type"] == b"text/event-stream"
        decoder, events = sse_decoder(), []
        for line in body.decode().splitlines():  # as httpx-sse's line decoder does
            if (sse := decoder.decode(line)) is not None:
                events.append(event_adapter.validate_json(sse.data))
        types = [e.type for e in events]
        assert types[0] in ("run.created", "run.in-progress")
        if ended:
            assert types[-1] == "run.completed" and "message.part" in types
    assert seen >= {"acp.POST /runs", "acp.GET /runs/{id}", "acp.GET /agents", "acp.ping",
                    "acp.200 manifest", "acp.200 run", "acp.404 error", "acp.message.part"}


# -- agora --------------------------------------------------------------------------------------
def sdk_document(hash_: str, sources: list[str]) -> str | None:
    """agora-protocol 0.2.0 utils.py:93-113 (download_and_verify_protocol) on each source, as
    receiver/core.py:157-162 loops over them: a data: URI is decoded and its hash compared. The
    SDK compares its compute_hash (utils.py:41-46: base64 of the SHA1 digest); the standard's
    hash (§8.2) is the hex of the same digest, so that is what is compared here."""
    import base64
    import hashlib
    import urllib.parse

    for source in sources:
        if source.startswith("data:text/plain;charset=utf-8;base64,"):
            text = base64.b64decode(source.split(",", 1)[1]).decode("utf-8")
        elif source.startswith("data:text/plain;charset=utf-8,"):
            text = urllib.parse.unquote(source[len("data:text/plain;charset=utf-8,"):])
        else:
            continue
        digest = hashlib.sha1(text.encode()).digest()
        assert base64.b64encode(digest).decode("ascii") == base64.b64encode(
            bytes.fromhex(hash_)).decode("ascii")  # the SDK's form of the same hash
        if digest.hex() == hash_:
            return text
    return None


def test_agora_frames_parse_with_h11_and_read_as_the_sdk_reads_them() -> None:
    h11 = need("h11")
    yaml = need("yaml")
    from fsr.protocols.agora import DOCUMENT, PROTOCOL_HASH

    # standard §8.1: YAML metadata (name, description, multiround) between --- lines, as the
    # SDK's extract_metadata reads it (utils.py:48-69); §8.2: the hex SHA1 of the whole text
    meta = yaml.safe_load(DOCUMENT.split("---")[1])
    assert set(meta) == {"name", "description", "multiround"} and meta["multiround"] is False
    assert re.fullmatch(r"[0-9a-f]{40}", PROTOCOL_HASH)
    requests: dict[str, str] = {}  # X-Request-ID -> the request's kind
    seen: set[str] = set()
    documents = 0
    for _, _, frame in traffic("agora"):
        seen.add(frame.kind)
        if frame.kind in ("agora.POST", "agora.hello", "agora.ping"):
            conn = h11.Connection(h11.SERVER)
            events = h11_events(conn, frame.data)
            req, body = events[0], b"".join(bytes(e.data) for e in events[1:-1])
            assert isinstance(req, h11.Request) and isinstance(events[-1], h11.EndOfMessage)
            if frame.kind == "agora.ping":
                assert req.method == b"GET" and body == b""
                continue
            headers = dict(req.headers)
            # standard §5.1: POST to the base URL, Content-Type application/json
            assert (req.method, req.target) == (b"POST", b"/")
            assert headers[b"content-type"] == b"application/json"
            data = json.loads(body)
            # the fields the SDK's server reads (server.py:30, :41) and nothing it would refuse
            assert data["protocolHash"] == PROTOCOL_HASH
            assert isinstance(data["protocolSources"], list)
            assert "multiround" not in data  # single-round (transporter.py:71-72 sets it)
            assert isinstance(data["body"], dict) and isinstance(data["body"]["data"], dict)
            if data["protocolSources"]:
                assert sdk_document(data["protocolHash"], data["protocolSources"]) == DOCUMENT
                documents += 1
            requests[headers[b"x-request-id"].decode()] = data["body"]["kind"]
        else:
            resp, body, ended = h11_response(frame.data)
            assert ended and resp.status_code == 200
            assert dict(resp.headers)[b"content-type"] == b"application/json"
            answer = json.loads(body)
            # §6.2: status success with a body, or failure with an error; the SDK's client reads
            # status and body (transporter.py:86-89); no conversationId (single-round)
            assert answer["status"] in ("success", "failure")
            assert ("body" in answer) == (answer["status"] == "success") != ("error" in answer)
            assert "conversationId" not in answer
            rid = dict(resp.headers)[b"x-request-id"].decode()
            if rid in requests and requests[rid] == "document":
                assert answer["body"] == {}
            elif answer["status"] == "success":
                assert set(answer["body"]) == {"kind", "id", "data"}
    # the document travelled with each first contact (the handshakes, the runner's broadcast, the
    # hello to the restarted agent), never with a request to a peer that had answered under it
    assert documents == sum(1 for k in requests.values() if k in ("hello", "document"))
    assert seen >= {"agora.POST", "agora.hello", "agora.success", "agora.ping"}


# -- anp ----------------------------------------------------------------------------------------
def anp_body(frame: WireFrame) -> dict[str, Any]:
    return json.loads(frame.data[9:-4])


def test_anp_did_wba_proofs_verify_with_the_anp_sdk() -> None:
    did_wba = need("anp.authentication.did_wba")
    resolver = need("anp.authentication.did_resolver")
    methods = need("anp.authentication.verification_methods")

    docs: dict[str, dict[str, Any]] = {}
    checked = 0
    for src, _, frame in traffic("anp"):
        if frame.kind not in ("anp.didHello", "anp.didChallenge", "anp.didAuth"):
            continue
        body = anp_body(frame)
        if "didDocument" in body:
            doc = docs[src] = body["didDocument"]
            vm = methods.create_verification_method(doc["verificationMethod"][0])
            assert isinstance(vm, methods.EcdsaSecp256k1VerificationKey2019)
            url = resolver.build_did_resolution_url(doc["id"])
            assert url == f"https://127.0.0.1:{doc['id'].split('%3A')[1].split(':')[0]}" \
                          f"/agents/{src}/did.json"
        if "proof" in body:  # addressed to the verifier's authority (host:port)
            aud = authority_of(body["destinationDid"])
            ok, why = did_wba.verify_auth_json_signature(body["proof"], docs[src], aud)
            assert ok, why
            checked += 1
    assert checked >= 4


def test_anp_sdk_proofs_verify_with_fsr() -> None:
    did_wba = need("anp.authentication.did_wba")
    ec = need("cryptography.hazmat.primitives.asymmetric.ec")
    hashes = need("cryptography.hazmat.primitives.hashes")

    me = DidIdentity(did_for("agent_9", 9109))

    def sign(content: bytes, fragment: str) -> bytes:
        assert fragment == "key-1"
        return me._key.sign(content, ec.ECDSA(hashes.SHA256()))

    auth = json.loads(did_wba.generate_auth_json(me.document, "127.0.0.1:9001", sign))
    assert verify(auth, me.document, auth["nonce"], "127.0.0.1:9001") is None
    assert verify(auth, me.document, auth["nonce"], "127.0.0.1:9002") == "bad signature"


def test_acp_sdk_server_answers_fsr_run_requests_and_reattach() -> None:
    """A real acp-sdk 1.0.3 server, over real TCP, takes fsr's own request bytes: a sync
    ``POST /runs``, then the re-attach ``GET /runs/{id}`` (200 with the `Run`) and the same for
    a run it never held (404 `Error`)."""
    uvicorn = need("uvicorn")
    h11 = need("h11")
    if not hasattr(uvicorn.config, "LoopSetupType"):
        # acp-sdk 1.0.3's server.py annotates with a type newer uvicorn releases dropped
        uvicorn.config.LoopSetupType = str
    app_mod = need("acp_sdk.server.app")
    agent_mod = need("acp_sdk.server.agent")
    models = need("acp_sdk.models")

    @agent_mod.agent(name="agent_1")
    def echo(input: list[Any], context: Any) -> Any:  # noqa: A002 - the SDK's parameter name
        return input[-1]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app_mod.create_app(echo), host="127.0.0.1",
                                           port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 20
        while not server.started:
            assert time.time() < deadline, "acp-sdk server did not start"
            time.sleep(0.05)

        def exchange(data: bytes) -> tuple[Any, bytes]:
            conn = h11.Connection(h11.CLIENT)
            conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
            conn.send(h11.EndOfMessage())
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(data)
                events: list[Any] = []
                while not events or not isinstance(events[-1], h11.EndOfMessage):
                    chunk = sock.recv(65536)
                    assert chunk, "connection closed before the response ended"
                    events += h11_events(conn, chunk)
            return events[0], b"".join(bytes(e.data) for e in events if isinstance(e, h11.Data))

        client = FakeBus("acp").add("agent_0", "search")
        # a one-way message is a sync POST /runs: the SDK runs the agent and returns the Run
        [post] = client.adapter.encode("agent_1", Message("document", {"document": {"x": 1}}))
        resp, body = exchange(post.data)
        assert resp.status_code == 200, body
        run = models.Run.model_validate_json(body)
        assert run.status == "completed"
        for run_id, status, model in ((str(run.run_id), 200, models.Run),
                                      ("7b3d0000-0000-4000-8000-000000000000", 404,
                                       models.Error)):
            pending = Pending("m1", "agent_1", None, remote_id=run_id)
            frame = client.adapter.reattach_frame("agent_1", pending, "rid-1")
            assert frame.kind == "acp.GET /runs/{id}"
            resp, body = exchange(frame.data)
            assert resp.status_code == status, body
            model.model_validate_json(body)
    finally:
        server.should_exit = True
        thread.join(10)
