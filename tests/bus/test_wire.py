"""The wire-byte formulas against the bytes a TCP relay really forwards."""

from __future__ import annotations

import time

import zmq

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
