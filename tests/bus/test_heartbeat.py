"""Paranoid Pirate liveness as pure logic over timestamps."""

from fsr.bus.heartbeat import HeartbeatMonitor
from fsr.protocols.base import Heartbeat
from fsr.protocols.peers import PeerTable


def test_suspect_after_liveness_intervals_and_return() -> None:
    mon = HeartbeatMonitor(interval=1.0, liveness=3, table=PeerTable("me"))
    assert mon.seen(Heartbeat("a", "inc1", 1), now=10.0) == "joined"
    assert mon.check(12.9) == []
    assert mon.seen(Heartbeat("a", "inc1", 2), now=12.9) is None
    assert mon.check(15.8) == []
    suspected = mon.check(15.95)
    assert [p for p, _ in suspected] == ["a"] and abs(suspected[0][1] - 3.05) < 1e-9
    assert not mon.alive("a")
    assert mon.check(20.0) == []  # one suspicion per silence
    assert mon.seen(Heartbeat("a", "inc1", 3), now=20.0) == "resumed"
    assert mon.alive("a")


def test_new_incarnation_is_a_restart() -> None:
    mon = HeartbeatMonitor(interval=0.5, liveness=2, table=PeerTable("me"))
    mon.seen(Heartbeat("a", "inc1", 1), now=0.0)
    assert mon.seen(Heartbeat("a", "inc2", 1), now=0.4) == "restarted"


def test_fast_path_disconnect() -> None:
    mon = HeartbeatMonitor(interval=1.0, liveness=3, table=PeerTable("me"))
    mon.seen(Heartbeat("a", "i", 1), now=0.0)
    assert mon.disconnected("a", now=0.2) == 0.2
    assert mon.disconnected("a", now=0.3) is None
    assert mon.next_deadline() is None


def test_the_monitor_keeps_its_view_in_the_nodes_peer_table() -> None:
    table = PeerTable("me")
    mon = HeartbeatMonitor(interval=1.0, liveness=3, table=table)
    mon.seen(Heartbeat("a", "inc1", 1), now=0.0)
    mon.check(3.5)
    seen = table.view("a")["liveness"]
    assert (seen.last_seen, seen.incarnation, seen.suspected) == (0.0, "inc1", True)
