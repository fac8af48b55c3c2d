"""Throughput of the json-framed mesh against raw pyzmq DEALER/ROUTER echo, in one run.

Both sides use two OS processes on loopback, the same payload and the same window of messages in
flight. Raw: a DEALER sends bytes, a ROUTER echoes them. Mesh: two `MeshNode`s exchange
`stage_request` / `stage_reply` Messages through the json adapter — every frame counted, framed,
logged (the event log goes to a temp file) and decoded, exactly as in a run.

    python benchmarks/throughput.py [--messages 20000] [--payload 200] [--window 64]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

import zmq

from fsr.agents.plan import allocate_ports
from fsr.bus.node import MeshNode
from fsr.eventlog import EventLog
from fsr.protocols import Message


def raw_server(port: int, count: int) -> None:
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.bind(f"tcp://127.0.0.1:{port}")
    for _ in range(count):
        router.send_multipart(router.recv_multipart())
    time.sleep(0.2)


def raw_client(port: int, count: int, payload: bytes, window: int) -> float:
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.connect(f"tcp://127.0.0.1:{port}")
    dealer.send(payload)  # warm-up: wait for the connection
    dealer.recv()
    start = time.perf_counter()
    sent = received = 0
    while received < count - 1:
        while sent < count - 1 and sent - received < window:
            dealer.send(payload)
            sent += 1
        dealer.recv()
        received += 1
    return (count - 1) / (time.perf_counter() - start)


class EchoNode(MeshNode):
    def on_message(self, msg: Message) -> None:
        if msg.kind == "stage_request":
            self.adapter.send_message(msg.sender, Message("stage_reply", msg.body,
                                                          reply_to=msg.msg_id))


class ClientNode(MeshNode):
    received = 0

    def on_message(self, msg: Message) -> None:
        self.received += 1


def node(name: str, ports: dict[str, int], log: Path, cls: type[MeshNode]) -> MeshNode:
    n = cls(node_id=name, protocol="json", log=EventLog(log, name), data_port=ports[name],
            hb_port=None, role=name, incarnation=name, hb_interval=1.0, hb_liveness=3)
    other = "b" if name == "a" else "a"
    n.add_peer(other, ports[other], None)
    return n


def mesh_server(ports: dict[str, int], log: Path, seconds: float) -> None:
    server = node("b", ports, log, EchoNode)
    deadline = time.time() + seconds
    while time.time() < deadline:
        server.step(0.01)
    server.close()


def mesh_client(ports: dict[str, int], log: Path, count: int, body: dict, window: int) -> float:
    client = node("a", ports, log, ClientNode)
    while not client.adapter.send_message("b", Message("stage_request", body)):
        client.step(0.01)  # not connected yet
    while client.received < 1:
        client.step(0.01)
    client.received = 0
    start = time.perf_counter()
    sent = 0
    while client.received < count:
        while sent < count and sent - client.received < window:
            client.adapter.send_message("b", Message("stage_request", body))
            sent += 1
        client.step(0.001)
    rate = count / (time.perf_counter() - start)
    client.close()
    return rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--payload", type=int, default=200, help="bytes of application payload")
    ap.add_argument("--window", type=int, default=64)
    args = ap.parse_args()
    ctx = mp.get_context("fork")

    port = allocate_ports(9400, 1)
    server = ctx.Process(target=raw_server, args=(port, args.messages + 1))
    server.start()
    raw = raw_client(port, args.messages + 1, b"x" * args.payload, args.window)
    server.join()

    first = allocate_ports(9400, 2)
    ports = {"a": first, "b": first + 1}
    body = {"task_id": "t0", "stage": "extract", "input": {"text": "x" * args.payload}}
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "bench.jsonl"
        server = ctx.Process(target=mesh_server, args=(ports, log, 120.0))
        server.start()
        mesh = mesh_client(ports, log, args.messages, body, args.window)
        server.kill()
        server.join()
        lines = sum(1 for _ in log.open())
    print(f"payload {args.payload} B, window {args.window}, {args.messages} round trips")
    print(f"raw pyzmq DEALER/ROUTER echo : {raw:10.0f} round trips/s")
    print(f"fsr json mesh (logged)       : {mesh:10.0f} round trips/s  ({lines} log lines)")
    print(f"ratio mesh / raw             : {mesh / raw:10.2f}")


if __name__ == "__main__":
    main()
