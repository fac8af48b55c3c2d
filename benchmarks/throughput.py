"""Throughput of the mesh, per protocol, against raw pyzmq DEALER/ROUTER echo, in one run.

Both sides use two OS processes on loopback, the same payload, the same window of messages in
flight and the same security setting (CurveZMQ with the same key set-up, or none). Raw: a DEALER
sends bytes, a ROUTER echoes them. Mesh: two `MeshNode`s exchange `stage_request` /
`stage_reply` Messages through a protocol adapter — every frame counted, framed, logged (the event
log goes to a temp file) and decoded, exactly as in a run (the handshake of the protocol first).
Beside each rate: the client process's CPU time per round trip (its ZeroMQ I/O thread included),
which is what the mesh's own work costs and is less noisy than the rate on a shared machine.

    python benchmarks/throughput.py [--messages 20000] [--payload 200] [--window 64]
                                    [--protocols json,a2a,anp,acp] [--security both|curve|none]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import zmq

from fsr.agents.plan import allocate_ports
from fsr.bus.node import MeshNode
from fsr.bus.security import Curve
from fsr.eventlog import EventLog
from fsr.protocols import REGISTRY, Message

Keys = dict[str, tuple[bytes, bytes]] | None


def raw_server(port: int, count: int, keys: Keys) -> None:
    ctx = zmq.Context()
    curve = Curve(ctx, "b", keys) if keys else None
    router = ctx.socket(zmq.ROUTER)
    if curve:
        curve.serve(router)
    router.bind(f"tcp://127.0.0.1:{port}")
    for _ in range(count):
        router.send_multipart(router.recv_multipart())
    time.sleep(0.2)


class Rate(NamedTuple):
    round_trips_per_s: float
    cpu_us_per_round_trip: float  # the client process, all its threads


def timed(count: int, loop: Callable[[], None]) -> Rate:
    start, cpu = time.perf_counter(), time.process_time()
    loop()
    return Rate(count / (time.perf_counter() - start),
                (time.process_time() - cpu) / count * 1e6)


def raw_client(port: int, count: int, payload: bytes, window: int, keys: Keys) -> Rate:
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    where = f"tcp://127.0.0.1:{port}"
    if keys:
        Curve(ctx, "a", keys).connect(dealer, "b", where)
    else:
        dealer.connect(where)
    dealer.send(payload)  # warm-up: wait for the connection
    dealer.recv()

    def loop() -> None:
        sent = received = 0
        while received < count - 1:
            while sent < count - 1 and sent - received < window:
                dealer.send(payload)
                sent += 1
            dealer.recv()
            received += 1

    return timed(count - 1, loop)


class EchoNode(MeshNode):
    def on_message(self, msg: Message) -> None:
        if msg.kind == "stage_request":
            self.adapter.send_message(msg.sender, Message("stage_reply", msg.body,
                                                          reply_to=msg.msg_id))


class ClientNode(MeshNode):
    received = 0

    def on_message(self, msg: Message) -> None:
        self.received += 1


def node(name: str, ports: dict[str, int], log: Path, cls: type[MeshNode], protocol: str,
         keys: Keys) -> MeshNode:
    n = cls(node_id=name, protocol=protocol, log=EventLog(log, name), data_port=ports[name],
            hb_port=None, role=name, incarnation=name, hb_interval=1.0, hb_liveness=3, keys=keys)
    other = "b" if name == "a" else "a"
    n.add_peer(other, ports[other], None)
    return n


def mesh_server(ports: dict[str, int], log: Path, seconds: float, protocol: str,
                keys: Keys) -> None:
    server = node("b", ports, log, EchoNode, protocol, keys)
    deadline = time.time() + seconds
    while time.time() < deadline:
        server.step(0.01)
    server.close()


class HandshakingClient(ClientNode):
    ready = False

    def on_peer_ready(self, peer: str, info: dict) -> None:
        self.ready = True


def mesh_client(ports: dict[str, int], log: Path, count: int, body: dict, window: int,
                protocol: str, keys: Keys) -> Rate:
    client = node("a", ports, log, HandshakingClient, protocol, keys)
    # the protocol's handshake first (anp's DID-WBA, acp's manifest, a2a's card), as in a run
    while not client.ready:
        client.adapter.start_handshake("b")
        deadline = time.time() + 0.5
        while not client.ready and time.time() < deadline:
            client.step(0.01)
    client.adapter.send_message("b", Message("stage_request", body))
    while client.received < 1:
        client.step(0.01)
    client.received = 0

    def loop() -> None:
        sent = 0
        while client.received < count:
            while sent < count and sent - client.received < window:
                client.adapter.send_message("b", Message("stage_request", body))
                sent += 1
            client.step(0.001)

    rate = timed(count, loop)
    client.close()
    return rate


def measure(protocol: str, keys: Keys, args: argparse.Namespace) -> tuple[Rate, int]:
    """Round trips/s of two mesh nodes speaking `protocol`, and the log lines they wrote."""
    ctx = mp.get_context("fork")
    first = allocate_ports(9400, 2)
    ports = {"a": first, "b": first + 1}
    body = {"task_id": "t0", "stage": "extract", "attempt": 1,
            "input": {"question": "x" * args.payload}}
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "bench.jsonl"
        server = ctx.Process(target=mesh_server, args=(ports, log, 300.0, protocol, keys))
        server.start()
        rate = mesh_client(ports, log, args.messages, body, args.window, protocol, keys)
        server.kill()
        server.join()
        lines = sum(1 for _ in log.open())
    return rate, lines


def raw(keys: Keys, args: argparse.Namespace) -> Rate:
    ctx = mp.get_context("fork")
    port = allocate_ports(9400, 1)
    server = ctx.Process(target=raw_server, args=(port, args.messages + 1, keys))
    server.start()
    rate = raw_client(port, args.messages + 1, b"x" * args.payload, args.window, keys)
    server.join()
    return rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--payload", type=int, default=200, help="bytes of application payload")
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--protocols", default=",".join(REGISTRY))
    ap.add_argument("--security", default="both", choices=("both", "curve", "none"))
    args = ap.parse_args()
    settings = ["curve", "none"] if args.security == "both" else [args.security]
    print(f"payload {args.payload} B, window {args.window}, {args.messages} round trips")
    for security in settings:
        keys = {n: zmq.curve_keypair() for n in ("a", "b")} if security == "curve" else None
        base = raw(keys, args)
        print(f"security {security}: raw pyzmq DEALER/ROUTER echo {base[0]:10.0f} round trips/s"
              f"  {base[1]:6.1f} us CPU/rt")
        for protocol in args.protocols.split(","):
            rate, lines = measure(protocol, keys, args)
            print(f"  {protocol:5s} mesh (logged) {rate[0]:10.0f} round trips/s  "
                  f"{rate[1]:6.1f} us CPU/rt  ratio {rate[0] / base[0]:5.2f}  ({lines} log lines)")


if __name__ == "__main__":
    main()
