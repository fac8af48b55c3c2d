"""An in-memory bus for protocol adapters (test helper): frames go from one adapter's `send_frame`
straight into another's inbox, with hooks to cut a link or tamper with frames in transit."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from fsr.protocols import REGISTRY, LocalInfo, Message, ProtocolAdapter, adapter_class
from fsr.protocols.base import WireFrame

TASK_PROTOCOLS = ["a2a", "acp"]
ALL_PROTOCOLS = list(REGISTRY)  # a newly registered protocol is held to the contract at once
NEW_PROTOCOLS = [p for p in ALL_PROTOCOLS if p != "json"]


class FakeTransport:
    def __init__(self, bus: FakeBus, node_id: str) -> None:
        self.bus, self.node_id = bus, node_id
        self.inbox: deque[tuple[str, bytes]] = deque()
        self.sent: list[tuple[str, WireFrame]] = []
        self.events: list[tuple[str, dict[str, Any]]] = []

    def send_frame(self, dest: str, frame: WireFrame) -> bool:
        if (self.node_id, dest) in self.bus.cut or dest not in self.bus.nodes:
            self.record("send_failed", dst=dest, kind=frame.kind)
            return False
        self.sent.append((dest, frame))
        data = self.bus.tamper(self.node_id, dest, frame)
        if data is not None:
            self.bus.nodes[dest].transport.inbox.append((self.node_id, data))
        return True

    def record(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        self.bus.timers.append((self.bus.clock + delay, fn))

    def hop_lost(self, msg_id: str, reason: str) -> None:
        self.record("hop_lost", mid=msg_id, reason=reason)

    def logged(self, event: str) -> list[dict[str, Any]]:
        return [f for e, f in self.events if e == event]


class Node:
    def __init__(self, bus: FakeBus, node_id: str, protocol: str, role: str, port: int,
                 incarnation: str) -> None:
        self.transport = FakeTransport(bus, node_id)
        self.local = LocalInfo(node_id, role, incarnation, port, shard_version=1)
        self.adapter: ProtocolAdapter = adapter_class(protocol)(self.transport, self.local)
        self.got: list[Message] = []

    def frames_to(self, dest: str) -> list[WireFrame]:
        return [f for d, f in self.transport.sent if d == dest]

    def kinds(self, kind: str) -> list[Message]:
        return [m for m in self.got if m.kind == kind]


class FakeBus:
    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.nodes: dict[str, Node] = {}
        self.cut: set[tuple[str, str]] = set()  # (src, dst) links whose sends fail
        # (src, dst, frame) -> bytes to deliver, or None to lose the frame
        self.tamper: Callable[[str, str, WireFrame], bytes | None] = lambda s, d, f: f.data
        self.clock = 0.0  # the adapters' timers (`call_later`) run on this clock, by `advance`
        self.timers: list[tuple[float, Callable[[], None]]] = []

    def add(self, node_id: str, role: str = "search", incarnation: str | None = None) -> Node:
        node = Node(self, node_id, self.protocol, role, 9100 + len(self.nodes),
                    incarnation or f"{node_id}-inc{len(self.nodes)}")
        self.nodes[node_id] = node
        return node

    def restart(self, node_id: str) -> Node:
        """A new process under the same id: fresh adapter state, new incarnation."""
        old = self.nodes.pop(node_id)
        node = Node(self, node_id, self.protocol, old.local.role, old.local.port,
                    old.local.incarnation + "-restarted")
        self.nodes[node_id] = node
        return node

    def advance(self, seconds: float) -> None:
        """Move the clock on, running each timer that falls due, in time order, then pumping."""
        end = self.clock + seconds
        while due := sorted((t for t in self.timers if t[0] <= end), key=lambda t: t[0]):
            self.timers.remove(due[0])
            self.clock = due[0][0]
            due[0][1]()
            self.pump()
        self.clock = end

    def pump(self, rounds: int = 50, now: float | None = None) -> None:
        """Deliver until every inbox is empty (each adapter may answer while decoding)."""
        for _ in range(rounds):
            busy = False
            for node in list(self.nodes.values()):
                while node.transport.inbox:
                    busy = True
                    node.got.extend(node.adapter.receive_message(*node.transport.inbox.popleft()))
                if now is not None:
                    node.adapter.tick(now)
            if not busy:
                return
        raise AssertionError("bus never settled")


def request_body(size: int = 0) -> dict[str, Any]:
    return {"task_id": "t00042", "stage": "extract", "attempt": 1,
            "input": {"question": "Who wrote the Gaia document? \"quoted\" \\ back",
                      "hits": [{"fid": "f1", "text": "x" * size, "score": 1.5}]}}
