"""SWIM membership as pure logic (`fsr.bus.swim`): a simulated network of members, a clock
stepped by hand, messages delivered in order — what the protocol promises, checked."""

from __future__ import annotations

from fsr.bus.swim import Swim
from fsr.protocols.peers import PeerTable

INTERVAL = 1.0


class Net:
    """N members, every one linked to every other; `down` members neither send nor receive."""

    def __init__(self, n: int, lifeguard: bool = False) -> None:
        self.lifeguard = lifeguard
        self.ids = [f"m{i}" for i in range(n)]
        self.nodes = {m: self._node(m, "p0") for m in self.ids}
        self.down: set[str] = set()
        self.changes: list[tuple[str, str, str]] = []  # (observer, change, peer)
        self.sent = 0
        for m, node in self.nodes.items():
            self.changes += [(m, c, p) for c, p, _ in node.start(0.0)]

    def _node(self, me: str, process: str) -> Swim:
        return Swim(me, process, self.ids, INTERVAL,
                    lambda t, me=me: set(self.ids) - {t, me}, seed="7", lifeguard=self.lifeguard,
                    table=PeerTable(me))

    def run(self, until: float, step: float = 0.05, start: float = 0.0) -> None:
        now = start
        while now < until:
            now += step
            queue = []
            for m, node in self.nodes.items():
                if m not in self.down:
                    out, changes = node.tick(now)
                    queue += [(m, d, b) for d, b in out]
                    self.changes += [(m, c, p) for c, p, _ in changes]
            while queue:
                src, dst, body = queue.pop(0)
                self.sent += 1
                if dst in self.down or src in self.down:
                    continue
                out, changes = self.nodes[dst].receive(src, body, now)
                queue += [(dst, d, b) for d, b in out]
                self.changes += [(dst, c, p) for c, p, _ in changes]


def test_healthy_cluster_no_suspicion_and_o_n_messages() -> None:
    net = Net(32)
    net.run(30.0)
    assert not [c for c in net.changes if c[1] in ("suspect", "dead")]
    # per period: a ping and an ack per member, plus gossip while updates spread
    per_period = net.sent / 30
    assert 2 * 32 <= per_period < 4 * 32, per_period


def test_a_dead_member_is_declared_dead_by_everyone() -> None:
    net = Net(16)
    net.run(5.0)
    net.down.add("m3")
    net.run(25.0, start=5.0)
    dead = {o for o, c, p in net.changes if c == "dead" and p == "m3"}
    assert dead == set(net.ids) - {"m3"}
    assert not [c for c in net.changes if c[1] == "dead" and c[2] != "m3"]


def test_a_suspected_member_that_is_alive_refutes() -> None:
    net = Net(8)
    net.run(3.0)
    m = net.nodes["m1"]
    m.members["m2"].state = "alive"
    m._suspect("m2", m.members["m2"].incarnation, 3.0, "m1")  # as if a probe went unanswered
    net.run(20.0, start=3.0)
    assert ("m2", "refuted", "m2") in net.changes
    assert net.nodes["m2"].incarnation >= 1
    assert all(n.alive("m2") for k, n in net.nodes.items() if k != "m2")
    assert not [c for c in net.changes if c[1] == "dead"]


def test_a_restarted_process_is_recognised_at_once() -> None:
    net = Net(8)
    net.run(3.0)
    net.nodes["m5"] = net._node("m5", "p1")  # a new process, its SWIM incarnation at 0
    net.nodes["m5"].start(3.0)
    net.run(8.0, start=3.0)
    restarted = {o for o, c, p in net.changes if c == "restarted" and p == "m5"}
    assert restarted == set(net.ids) - {"m5"}
