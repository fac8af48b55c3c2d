"""Throughput of the mesh, per protocol, against raw pyzmq DEALER/ROUTER echo, in one run.

Both sides use two OS processes on loopback, the same payload, the same window of messages in
flight and the same security setting (CurveZMQ with the same key set-up, or none). Raw: a DEALER
sends bytes, a ROUTER echoes them. Mesh: two `MeshNode`s exchange `stage_request` /
`stage_reply` Messages through a protocol adapter — every frame counted, framed, logged (the event
log goes to a temp file) and decoded, exactly as in a run (the handshake of the protocol first).
The echo answers at once: no service time (`workload.service_time` is the agents' load; this
measures the data path alone).
A third row, "flat": the same work per frame as the json mesh (the json envelope, a `send` and a
`deliver` event logged as orjson lines and written once a turn, the decode, the routing id and its
CURVE key checked) written as one flat loop over the same sockets, with no fsr code: how far
plain Python gets, so the mesh's own overhead is the gap between the two.
Beside each rate: each process's CPU time per round trip (client / server, their ZeroMQ I/O
threads included; in brackets the client's own thread alone), which is what the mesh's own work
costs and is less noisy than the rate on a shared machine.

On a shared 2-core machine one measurement of raw pyzmq swings by ±30 % from one second to the
next, so the measurements are taken in `--rounds` interleaved rounds (raw, then every protocol,
then raw again, ...) and each figure is the median over the rounds; the ratio is the median
mesh rate over the median raw rate of the same security setting, with the lowest and highest
per-round ratio beside it.

    python benchmarks/throughput.py [--messages 20000] [--payload 200] [--window 64] [--rounds 3]
                                    [--protocols json,a2a,anp,acp] [--security both|curve|none]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import select
import statistics
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import NamedTuple

import orjson
import zmq

from fsr.bus.node import MeshNode
from fsr.bus.security import Curve
from fsr.eventlog import EventLog
from fsr.plan import allocate_ports
from fsr.protocols import REGISTRY, Message
from fsr.protocols.base import new_msg_id

Keys = dict[str, tuple[bytes, bytes]] | None


def raw_server(port: int, count: int, keys: Keys, report: Connection) -> None:
    ctx = zmq.Context()
    curve = Curve(ctx, "b", keys) if keys else None
    router = ctx.socket(zmq.ROUTER)
    if curve:
        curve.serve(router)
    router.bind(f"tcp://127.0.0.1:{port}")
    router.send_multipart(router.recv_multipart())  # the warm-up
    cpu = time.process_time()
    for _ in range(count - 1):
        router.send_multipart(router.recv_multipart())
    report.send((time.process_time() - cpu) / (count - 1) * 1e6)
    time.sleep(0.2)


class Rate(NamedTuple):
    round_trips_per_s: float
    cpu_us_per_round_trip: float  # the client process, all its threads
    python_us: float  # the client's own thread alone (the rest is ZeroMQ's I/O thread)
    server_cpu_us: float = 0.0  # the server process, all its threads


def timed(count: int, loop: Callable[[], None]) -> Rate:
    start, cpu, own = time.perf_counter(), time.process_time(), time.thread_time()
    loop()
    return Rate(count / (time.perf_counter() - start),
                (time.process_time() - cpu) / count * 1e6,
                (time.thread_time() - own) / count * 1e6)


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
    echoed = 0

    def on_message(self, msg: Message) -> None:
        if msg.kind == "stage_request":
            self.echoed += 1
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


def mesh_server(ports: dict[str, int], log: Path, count: int, protocol: str, keys: Keys,
                report: Connection) -> None:
    server = node("b", ports, log, EchoNode, protocol, keys)
    assert isinstance(server, EchoNode)
    while server.echoed < 1:  # the handshake and the warm-up request
        server.step(0.01)
    cpu = time.process_time()
    while server.echoed < count + 1:
        server.step(0.01)
    report.send((time.process_time() - cpu) / count * 1e6)
    while True:  # answers retransmits until the client is done and kills it
        server.step(0.01)


class HandshakingClient(ClientNode):
    ready = False

    def on_peer_ready(self, peer: str, info: dict) -> None:
        self.ready = True


def mesh_client(ports: dict[str, int], log: Path, count: int, body: dict, window: int,
                protocol: str, keys: Keys, server: mp.process.BaseProcess) -> Rate:
    client = node("a", ports, log, HandshakingClient, protocol, keys)

    def step(turn: int) -> None:
        client.step(0.001)
        if turn % 4096 == 0 and not server.is_alive():
            raise SystemExit(f"{protocol}: the echo server died (exit code {server.exitcode})")

    # the protocol's handshake first (anp's DID-WBA, acp's manifest, a2a's card), as in a run
    turn = 0
    while not client.ready:
        client.adapter.start_handshake("b")
        deadline = time.time() + 0.5
        while not client.ready and time.time() < deadline:
            turn += 1
            step(turn)
    client.adapter.send_message("b", Message("stage_request", body))
    while client.received < 1:
        turn += 1
        step(turn)
    client.received = 0

    def loop() -> None:
        sent = turn = 0
        while client.received < count:
            while sent < count and sent - client.received < window:
                client.adapter.send_message("b", Message("stage_request", body))
                sent += 1
            turn += 1
            step(turn)

    rate = timed(count, loop)
    client.close()
    return rate


def flat_side(me: str, ports: dict[str, int], log: Path, count: int, body: dict | None,
              window: int, keys: Keys, report: Connection | None) -> Rate:
    """One side of the "flat" row: the client if `body` is given, else the echo server."""
    other = "b" if me == "a" else "a"
    ctx = zmq.Context()
    curve = Curve(ctx, me, keys) if keys else None
    router, dealer = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    if curve:
        curve.serve(router)
    router.bind(f"tcp://127.0.0.1:{ports[me]}")
    dealer.setsockopt(zmq.IDENTITY, me.encode())
    dealer.setsockopt(zmq.IMMEDIATE, 1)
    if curve:
        curve.connect(dealer, other, f"tcp://127.0.0.1:{ports[other]}")
    else:
        dealer.connect(f"tcp://127.0.0.1:{ports[other]}")
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    lines: list[bytes] = []
    poller = select.epoll()
    poller.register(router.get(zmq.FD), select.EPOLLIN)
    got = 0
    recv, send, noblock = zmq.backend.Socket.recv, zmq.backend.Socket.send, int(zmq.NOBLOCK)

    def send_one(kind: str, payload_of: dict, re: str | None) -> None:
        mid = new_msg_id()
        payload = orjson.dumps(payload_of, option=orjson.OPT_SORT_KEYS)
        data = orjson.dumps({"v": 1, "type": kind, "id": mid, "re": re, "from": me,
                             "to": other})[:-1] + b',"body":' + payload + b"}"
        while True:
            try:
                send(dealer, data, noblock)
                break
            except zmq.Again:  # the link is not up yet
                time.sleep(0.01)
        lines.append(orjson.dumps({"node": me, "dst": other, "cat": "task", "kind": kind,
                                   "mid": mid, "pay": len(payload), "env": len(data) - len(payload),
                                   "wire": len(data) + 2, "event": "send",
                                   "ts": time.time_ns() // 1000 / 1e6}))

    def turn(wait: float) -> None:
        nonlocal got
        poller.poll(wait)
        while True:
            try:
                rid, frame = recv(router, noblock), recv(router, noblock, copy=False)
            except zmq.Again:
                break
            sender = rid.decode()
            if keys and frame.get("User-Id") != sender:
                continue
            env = orjson.loads(frame.bytes)
            lines.append(orjson.dumps({"node": me, "src": sender, "kind": env["type"],
                                       "mid": env["id"], "event": "deliver",
                                       "ts": time.time_ns() // 1000 / 1e6}))
            got += 1
            if body is None:
                send_one("stage_reply", env["body"], env["id"])
        if lines:
            os.write(fd, b"\n".join(lines) + b"\n")
            lines.clear()

    if body is None:
        cpu = None
        while True:
            turn(0.01)
            if cpu is None and got:
                cpu = time.process_time()
            if report is not None and got == count + 1:
                report.send((time.process_time() - cpu) / count * 1e6)
                report = None
    send_one("stage_request", body, None)  # the warm-up
    while got < 1:
        turn(0.01)
    got = 0

    def loop() -> None:
        sent = 0
        while got < count:
            while sent < count and sent - got < window:
                send_one("stage_request", body, None)
                sent += 1
            turn(0.001)

    return timed(count, loop)


def two_sides(server: Callable[[dict[str, int], Path, Connection], None],
              client: Callable[[dict[str, int], Path, mp.process.BaseProcess], Rate]
              ) -> tuple[Rate, int]:
    """Run `server` in a forked process and `client` here, on two fresh ports and one temp log;
    the client's rate with the server's CPU per round trip, and the lines they logged."""
    ctx = mp.get_context("fork")
    first = allocate_ports(9400, 2)
    ports = {"a": first, "b": first + 1}
    report, reporter = ctx.Pipe(duplex=False)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "bench.jsonl"
        proc = ctx.Process(target=server, args=(ports, log, reporter))
        proc.start()
        try:
            rate = client(ports, log, proc)
            server_cpu = report.recv() if report.poll(10) else float("nan")
        finally:
            proc.kill()
            proc.join()
        lines = sum(1 for _ in log.open("rb"))
    return rate._replace(server_cpu_us=server_cpu), lines


def body_of(args: argparse.Namespace) -> dict:
    return {"task_id": "t0", "stage": "extract", "attempt": 1,
            "input": {"question": "x" * args.payload}}


def measure_flat(keys: Keys, args: argparse.Namespace) -> tuple[Rate, int]:
    """The "flat" row: the json mesh's per-frame work in one flat loop (`flat_side`)."""
    return two_sides(
        lambda ports, log, report: flat_side("b", ports, log, args.messages, None, args.window,
                                             keys, report),
        lambda ports, log, _: flat_side("a", ports, log, args.messages, body_of(args),
                                        args.window, keys, None))


def measure(protocol: str, keys: Keys, args: argparse.Namespace) -> tuple[Rate, int]:
    """Round trips/s of two mesh nodes speaking `protocol`, their CPU time per round trip, and
    the lines they logged."""
    return two_sides(
        lambda ports, log, report: mesh_server(ports, log, args.messages, protocol, keys,
                                               report),
        lambda ports, log, server: mesh_client(ports, log, args.messages, body_of(args),
                                               args.window, protocol, keys, server))


def raw(keys: Keys, args: argparse.Namespace) -> Rate:
    ctx = mp.get_context("fork")
    port = allocate_ports(9400, 1)
    report, reporter = ctx.Pipe(duplex=False)
    server = ctx.Process(target=raw_server, args=(port, args.messages + 1, keys, reporter))
    server.start()
    rate = raw_client(port, args.messages + 1, b"x" * args.payload, args.window, keys)
    server_cpu = report.recv()
    server.join()
    return rate._replace(server_cpu_us=server_cpu)


def median(rates: list[Rate]) -> Rate:
    return Rate(*(statistics.median(column) for column in zip(*rates, strict=True)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--payload", type=int, default=200, help="bytes of application payload")
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians shown")
    ap.add_argument("--protocols", default=",".join(REGISTRY))
    ap.add_argument("--security", default="both", choices=("both", "curve", "none"))
    args = ap.parse_args()
    settings = ["curve", "none"] if args.security == "both" else [args.security]
    protocols = args.protocols.split(",")
    print(f"payload {args.payload} B, window {args.window}, {args.messages} round trips, "
          f"median of {args.rounds} interleaved rounds; CPU: us per round trip, client (its Python "
          "thread) / server")
    for security in settings:
        keys = {n: zmq.curve_keypair() for n in ("a", "b")} if security == "curve" else None
        runs: dict[str, list[Rate]] = {name: [] for name in ["raw", "flat", *protocols]}
        lines: dict[str, int] = {}
        for _ in range(args.rounds):
            runs["raw"].append(raw(keys, args))
            rate, lines["flat"] = measure_flat(keys, args)
            runs["flat"].append(rate)
            for protocol in protocols:
                rate, lines[protocol] = measure(protocol, keys, args)
                runs[protocol].append(rate)
        base = median(runs["raw"])
        print(f"security {security}: raw pyzmq DEALER/ROUTER echo {base[0]:9.0f} round trips/s"
              f"  CPU {base[1]:5.1f} ({base[2]:4.1f}) / {base[3]:5.1f}")
        for protocol in ["flat", *protocols]:
            rate = median(runs[protocol])
            per_round = [m[0] / r[0] for m, r in zip(runs[protocol], runs["raw"], strict=True)]
            what = "flat Python, json" if protocol == "flat" else f"{protocol:5s} mesh, logged"
            print(f"  {what:17s} {rate[0]:9.0f} round trips/s  CPU {rate[1]:5.1f}"
                  f" ({rate[2]:4.1f}) / {rate[3]:5.1f}  ratio {rate[0] / base[0]:4.2f}"
                  f" (rounds {min(per_round):4.2f}-{max(per_round):4.2f};"
                  f" {lines[protocol]} log lines)")


if __name__ == "__main__":
    main()
