"""The wire-byte formulas against the bytes a TCP relay really forwards."""

from __future__ import annotations

import time

import zmq

from fsr.bus.security import Curve
from fsr.bus.wire import frame_bytes, handshake_bytes, message_bytes, subscribe_bytes
from tests.bus.relay import CountingRelay


def settle(relay: CountingRelay, expected: int, timeout: float = 3.0) -> int:
    deadline = time.time() + timeout
    while relay.upstream + relay.downstream < expected and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # and nothing more arrives
    return relay.upstream + relay.downstream


def test_frame_formula_boundaries() -> None:
    assert frame_bytes(0) == 2
    assert frame_bytes(255) == 257
    assert frame_bytes(256) == 265
    assert message_bytes([b"", b"x" * 300]) == 2 + 309


def test_dealer_router_bytes_equal_formula(zmq_ctx: zmq.Context) -> None:
    ctx = zmq_ctx
    router = ctx.socket(zmq.ROUTER)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    relay = CountingRelay(port)
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.IDENTITY, b"agent_3")
    dealer.connect(f"tcp://127.0.0.1:{relay.port}")
    messages = [[b"x" * 10], [b"y" * 255], [b"z" * 256], [b"", b"w" * 5000]]
    for frames in messages:
        dealer.send_multipart(frames)
    for _ in messages:
        router.recv_multipart()
    expected = handshake_bytes("DEALER", "ROUTER", b"agent_3") + sum(
        message_bytes(m) for m in messages)
    assert settle(relay, expected) == expected
    for sock in (dealer, router):
        sock.close(linger=0)
    relay.close()


def test_pub_sub_bytes_equal_formula(zmq_ctx: zmq.Context) -> None:
    ctx = zmq_ctx
    pub = ctx.socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    relay = CountingRelay(port)
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(f"tcp://127.0.0.1:{relay.port}")
    connect = handshake_bytes("SUB", "PUB") + subscribe_bytes()
    settle(relay, connect)
    body = b"h" * 40
    pub.send(body)
    assert sub.recv() == body
    assert settle(relay, connect + frame_bytes(40)) == connect + frame_bytes(40)
    for sock in (sub, pub):
        sock.close(linger=0)
    relay.close()


# -- CURVE -------------------------------------------------------------------------------------
def curve_pair(ctx: zmq.Context) -> tuple[Curve, Curve]:
    """The run's set-up for two nodes, "server" (a context of its own, with its ZAP handler)
    and "agent_3" (on `ctx`)."""
    keys = {n: zmq.curve_keypair() for n in ("server", "agent_3")}
    return Curve(zmq.Context(), "server", keys), Curve(ctx, "agent_3", keys)


def test_curve_frame_formula_boundaries() -> None:
    # a MESSAGE command adds 33 bytes, so the long size field starts at 223 body bytes
    assert frame_bytes(0, curve=True) == 35
    assert frame_bytes(222, curve=True) == 257
    assert frame_bytes(223, curve=True) == 265
    assert handshake_bytes("DEALER", "ROUTER", b"a", curve=True) == 568 + 301


def test_curve_dealer_router_bytes_equal_formula(zmq_ctx: zmq.Context) -> None:
    server, client = curve_pair(zmq_ctx)
    router = server.auth.context.socket(zmq.ROUTER)
    server.serve(router)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    relay = CountingRelay(port)
    dealer = zmq_ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.IDENTITY, b"agent_3")
    client.connect(dealer, "server", f"tcp://127.0.0.1:{relay.port}")
    messages = [[b"x" * 10], [b"y" * 222], [b"z" * 223], [b"", b"w" * 5000]]
    for frames in messages:
        dealer.send_multipart(frames)
    for frames in messages:
        got = router.recv_multipart(copy=False)
        assert [f.bytes for f in got[1:]] == frames
        # the ZAP handler named the connection after the key it was admitted under
        assert got[-1].get("User-Id") == "agent_3"
    expected = handshake_bytes("DEALER", "ROUTER", b"agent_3", curve=True) + sum(
        message_bytes(m, curve=True) for m in messages)
    assert settle(relay, expected) == expected
    for sock in (dealer, router):
        sock.close(linger=0)
    relay.close()
    client.close()
    server.close()
    server.auth.context.term()


def test_curve_pub_sub_bytes_equal_formula(zmq_ctx: zmq.Context) -> None:
    server, client = curve_pair(zmq_ctx)
    pub = server.auth.context.socket(zmq.PUB)
    server.serve(pub)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    relay = CountingRelay(port)
    sub = zmq_ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    client.connect(sub, "server", f"tcp://127.0.0.1:{relay.port}")
    connect = handshake_bytes("SUB", "PUB", curve=True) + subscribe_bytes(curve=True)
    assert settle(relay, connect) == connect
    body = b"h" * 40
    pub.send(body)
    assert sub.recv() == body
    total = connect + frame_bytes(40, curve=True)
    assert settle(relay, total) == total
    for sock in (sub, pub):
        sock.close(linger=0)
    relay.close()
    client.close()
    server.close()
    server.auth.context.term()
