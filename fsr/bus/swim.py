"""SWIM membership (``heartbeat.membership: swim``): failure detection that costs O(N) messages
per protocol period for the whole mesh, instead of the heartbeat channel's N x (N - 1) copies.

The protocol of Das, Gupta and Motivala (SWIM, DSN 2002) as HashiCorp memberlist runs it
(memberlist v0.5, ``state.go`` probe/suspect/dead, ``config.go`` DefaultLANConfig), over the
mesh's data links (`fsr.bus.mesh.Mesh.send_swim`) instead of UDP:

* **Probe.** Every protocol period (memberlist ProbeInterval; here ``heartbeat.interval``) a
  member pings the next member of a shuffled round-robin list and waits ProbeTimeout (half a
  period, as 500 ms of memberlist's 1 s) for its ``ack``; without one it asks IndirectChecks = 3
  other members to ping the target for it (``ping_req``), and their forwarded ``ack`` counts.
  No ack by the end of the period: the target is *suspect*.
* **Suspicion.** A suspect member is declared *dead* after SuspicionMult (4) x max(1, log10 N)
  periods unless it refutes: a member that hears itself suspected raises its incarnation number
  and gossips ``alive``. fsr reports *dead* as the membership's suspicion (``peer_suspected``,
  how ``swim_dead``), as memberlist's users (Serf's member-failed) see a failure; the suspect
  state is logged apart (``swim_suspect``).
* **Dissemination.** Membership updates (alive / suspect / dead with an incarnation) ride on
  every ping and ack and, while there are any, on a gossip message to GossipNodes = 3 members
  every GossipInterval (a fifth of a period, as memberlist's 200 ms); each update is sent
  RetransmitMult (4) x ceil(log10(N + 1)) times, the least-sent first (TransmitLimitedQueue).

Deviations, and why: membership is static — the members are the node's topology neighbours
from the run plan, all alive when the runner says every agent listens (memberlist's join and
push/pull sync have nothing to add to a fixed plan); the suspicion timeout is Lifeguard's
minimum, without its shrinking from 6x as confirmations arrive, and the probe interval is not
scaled by local health — unless ``heartbeat.detector: lifeguard`` (`fsr.bus.lifeguard`); each
message also carries the sender's process incarnation, so a restarted process (whose SWIM
incarnation starts again at 0) is recognised at once; any message from the member being probed
counts as its ack (links are ordered streams, not UDP: a late ack behind a busy loop turn is
still a live member). Helpers for an indirect probe are members that are also the target's
neighbours, so every ping travels over an existing link.

Pure logic over timestamps, like `fsr.bus.heartbeat`: the node feeds in messages and the clock
and sends what comes out.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fsr.bus.lifeguard import Awareness, Suspicion
from fsr.protocols.peers import Member, PeerTable

INDIRECT_CHECKS = 3
SUSPICION_MULT = 4
RETRANSMIT_MULT = 4
GOSSIP_NODES = 3
MAX_PIGGYBACK = 16  # updates per message (memberlist: as many as fit a UDP packet)

# (alive | suspect | dead, member, incarnation, process[, who suspects it: Lifeguard's suspect
# updates only, so its confirmations can be counted])
Update = tuple[Any, ...]
Out = tuple[str, dict[str, Any]]  # (destination, message body)
Change = tuple[str, str, float]  # (joined|restarted|resumed|suspect|dead|refuted, peer, s)


@dataclass
class Probe:
    target: str
    seq: int
    sent: float
    indirect: bool = False
    acked: bool = False


@dataclass
class Swim:
    me: str
    process: str
    members_of: list[str]
    interval: float
    reachable: Callable[[str], set[str]] = field(default=lambda _: set())
    seed: str = ""
    incarnation: int = 0
    lifeguard: bool = False  # local health and confirmation-based suspicion (`fsr.bus.lifeguard`)
    table: PeerTable = field(kw_only=True)  # the node's; SWIM keeps its members there

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}/{self.me}/swim")
        self.members = self.table.swim
        self.members.update({m: Member() for m in self.members_of if m != self.me})
        n = len(self.members) + 1
        self.suspicion = SUSPICION_MULT * max(1.0, math.log10(n)) * self.interval
        self.retransmits = RETRANSMIT_MULT * math.ceil(math.log10(n + 1))
        self.queue: dict[str, list[Any]] = {}  # member -> [update, times sent]
        self.order: list[str] = []
        self.probe: Probe | None = None
        self.next_probe: float | None = None  # None until `start`
        self.next_gossip = 0.0
        self.seq = 0
        self.relaying: dict[int, tuple[str, int]] = {}  # our ping seq -> (requester, its seq)
        self.awareness = Awareness()  # Lifeguard's local health (its score stays 0 without it)
        self.suspicions: dict[str, Suspicion] = {}  # Lifeguard: each suspect member's timer

    # -- life cycle -----------------------------------------------------------------------
    def start(self, now: float) -> list[Change]:
        """Every member is up (the runner said so): join them all and start probing."""
        self.next_probe = now + self.rng.uniform(0, self.interval)  # spread the probes
        self.next_gossip = now
        self._queue(("alive", self.me, self.incarnation, self.process))
        for m in self.members.values():
            m.last_heard = now
        return [("joined", p, 0.0) for p in sorted(self.members)]

    def alive(self, peer: str) -> bool:
        m = self.members.get(peer)
        return m is not None and m.state != "dead"

    def next_deadline(self) -> float | None:
        if self.next_probe is None:
            return None
        times = [self.next_probe]
        if self.queue:
            times.append(self.next_gossip)
        if self.probe is not None and not self.probe.acked and not self.probe.indirect:
            times.append(self.probe.sent + self.interval / 2)
        times += [m.suspect_until for m in self.members.values() if m.suspect_until]
        return min(times)

    # -- the clock ------------------------------------------------------------------------
    def tick(self, now: float) -> tuple[list[Out], list[Change]]:
        out: list[Out] = []
        changes: list[Change] = []
        if self.next_probe is None:
            return out, changes
        p = self.probe
        if p and not p.acked and not p.indirect and now >= p.sent + self.interval / 2:
            p.indirect = True
            helpers = [h for h in self.reachable(p.target) if self.alive(h) and h != p.target]
            for h in self.rng.sample(sorted(helpers), min(INDIRECT_CHECKS, len(helpers))):
                out.append((h, self._msg("ping_req", seq=p.seq, target=p.target)))
        if now >= self.next_probe:
            target_m = self.members[p.target] if p else None
            # a member never heard from is still starting (its link may not be up): only one
            # that has spoken can be suspected
            if p and target_m is not None and target_m.process is not None:
                if not p.acked:
                    changes += self._suspect(p.target, target_m.incarnation, now, self.me)
                changes += self._health(-1 if p.acked else 1)
            self.probe = None
            target = self._next_target()
            if target is not None:
                self.seq += 1
                self.probe = Probe(target, self.seq, now)
                out.append((target, self._msg("ping", seq=self.seq)))
            self.next_probe = now + self.awareness.scale(self.interval)
        for peer, m in self.members.items():
            if m.state == "suspect" and m.suspect_until is not None and now >= m.suspect_until:
                m.state, m.suspect_until = "dead", None
                self._queue(("dead", peer, m.incarnation, m.process or ""))
                changes.append(("dead", peer, now - m.last_heard))
        if self.queue and now >= self.next_gossip:
            self.next_gossip = now + self.interval / 5
            live = sorted(p for p in self.members if self.alive(p))
            for peer in self.rng.sample(live, min(GOSSIP_NODES, len(live))):
                out.append((peer, self._msg("gossip")))
        return out, changes

    def _next_target(self) -> str | None:
        if not self.order:
            self.order = sorted(p for p, m in self.members.items() if m.state != "dead")
            self.rng.shuffle(self.order)
        while self.order:
            peer = self.order.pop()
            if self.members[peer].state != "dead":
                return peer
        return None

    # -- messages -------------------------------------------------------------------------
    def _msg(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"t": kind, "p": self.process, "n": self.incarnation, "g": self._piggyback(),
                **fields}

    def receive(self, sender: str, body: dict[str, Any], now: float
                ) -> tuple[list[Out], list[Change]]:
        """One SWIM message from `sender` (its shape checked by `fsr.bus.schema`)."""
        out: list[Out] = []
        m = self.members.get(sender)
        if m is None:  # not one of our members: nothing it says is about our view
            return out, []
        changes = self._heard_from(sender, m, body["p"], body["n"], now)
        if self.probe is not None and self.probe.target == sender:
            self.probe.acked = True  # any word from the probed member proves it alive
        for update in body["g"]:
            changes += self._apply(tuple(update), sender, now)
        kind = body["t"]
        if kind == "ping":
            out.append((sender, self._msg("ack", seq=body["seq"])))
        elif kind == "ack":
            relay = self.relaying.pop(body["seq"], None)
            if relay is not None:  # an indirect probe's answer: pass it to who asked
                out.append((relay[0], self._msg("ack", seq=relay[1])))
            elif self.probe is not None and self.probe.seq == body["seq"]:
                self.probe.acked = True
        elif kind == "ping_req" and body.get("target") in self.members:
            self.seq += 1
            self.relaying[self.seq] = (sender, body["seq"])
            while len(self.relaying) > 256:  # pings whose target never answered
                self.relaying.pop(next(iter(self.relaying)))
            out.append((body["target"], self._msg("ping", seq=self.seq)))
        return out, changes

    def _heard_from(self, peer: str, m: Member, process: str, n: int, now: float
                    ) -> list[Change]:
        """A message from the member itself: a new process is a restart; a live process that
        was suspect or dead is back (it refutes with its own gossip too)."""
        m.last_heard = now
        if m.process != process:  # first word from it (joined at `start`), or a new process
            restarted = m.process is not None
            m.process, m.incarnation, m.state, m.suspect_until = process, n, "alive", None
            self._queue(("alive", peer, n, process))
            return [("restarted", peer, 0.0)] if restarted else []
        if m.state != "alive":
            m.state, m.suspect_until = "alive", None
            m.incarnation = max(m.incarnation, n)
            return [("resumed", peer, 0.0)]
        return []

    def _apply(self, update: Update, sender: str, now: float) -> list[Change]:
        kind, peer, n, process, *rest = update
        origin = rest[0] if rest else sender  # who suspects: Lifeguard's updates say so
        if peer == self.me:
            if kind != "alive" and process == self.process and n >= self.incarnation:
                self.incarnation = n + 1  # refute: I am alive, with a newer incarnation
                self._queue(("alive", self.me, self.incarnation, self.process))
                return [("refuted", self.me, 0.0), *self._health(1)]
            return []
        m = self.members.get(peer)
        if m is None or kind not in ("alive", "suspect", "dead"):
            return []
        if process != m.process:
            if kind != "alive" or not process:
                return []  # news about a process other than the one we know: stale
            restarted = m.process is not None
            m.process, m.incarnation, m.state, m.suspect_until = process, n, "alive", None
            m.last_heard = now
            self._queue(update)
            return [("restarted", peer, 0.0)] if restarted else []
        if kind == "alive":
            if n > m.incarnation:
                was = m.state
                m.incarnation, m.state, m.suspect_until = n, "alive", None
                self._queue(update)
                return [("resumed", peer, 0.0)] if was != "alive" else []
            return []
        if kind == "suspect":
            if (m.state == "alive" and n >= m.incarnation) or (m.state == "suspect"
                                                             and n > m.incarnation):
                return self._suspect(peer, n, now, origin)
            if m.state == "suspect" and n == m.incarnation:
                self._suspect(peer, n, now, origin)  # Lifeguard counts it as a confirmation
            return []
        if m.state != "dead" and n >= m.incarnation:  # dead
            m.state, m.incarnation, m.suspect_until = "dead", n, None
            self._queue(update)
            return [("dead", peer, now - m.last_heard)]
        return []

    def _suspect(self, peer: str, n: int, now: float, origin: str) -> list[Change]:
        m = self.members[peer]
        if self.lifeguard and m.state == "suspect" and n == m.incarnation:
            self._confirm(peer, m, origin)  # one more member (maybe this one) suspects it
            return []
        if m.state != "alive":
            return []
        m.state, m.incarnation = "suspect", n
        if self.lifeguard:
            s = Suspicion.begin(origin, now, self.suspicion, len(self.members) + 1,
                                SUSPICION_MULT)
            self.suspicions[peer] = s
            m.suspect_until = s.deadline
            self._queue(("suspect", peer, n, m.process or "", origin))
        else:
            m.suspect_until = now + self.suspicion
            self._queue(("suspect", peer, n, m.process or ""))
        return [("suspect", peer, now - m.last_heard)]

    def _confirm(self, peer: str, m: Member, origin: str) -> None:
        """Lifeguard: another member suspects `peer` too; a new confirmation shortens the
        timer and is passed on (memberlist re-broadcasts it)."""
        s = self.suspicions.get(peer)
        if s is not None and s.confirm(origin):
            m.suspect_until = s.deadline
            self._queue(("suspect", peer, m.incarnation, m.process or "", origin))

    def _health(self, delta: int) -> list[Change]:
        """Lifeguard: move the local health score; a change is logged by the node."""
        if self.lifeguard and self.awareness.apply(delta):
            return [("health", self.me, float(self.awareness.score))]
        return []

    # -- dissemination (memberlist's TransmitLimitedQueue) ---------------------------------
    def _queue(self, update: Update) -> None:
        self.queue[update[1]] = [list(update), 0]  # the newest news about a member wins

    def _piggyback(self) -> list[list[Any]]:
        picked = sorted(self.queue.items(), key=lambda kv: (kv[1][1], kv[0]))[:MAX_PIGGYBACK]
        for member, entry in picked:
            entry[1] += 1
            if entry[1] >= self.retransmits:
                del self.queue[member]
        return [entry[0] for _, entry in picked]
