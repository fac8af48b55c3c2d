"""Where an agent sends a hop: the reachable executors of a stage's role, the neighbours that
lead towards agents it cannot reach directly (`fsr.bus.topology`), and the set cover of a
search's fragments by their holders.

Reachable means routable in the agent's peer table (`fsr.protocols.peers.PeerTable`): a
completed handshake, not lost since.
"""

from __future__ import annotations

import zlib

from fsr.bus.topology import Routes
from fsr.protocols.peers import PeerTable


class Router:
    def __init__(self, peers: PeerTable, routes: Routes,
                 peer_roles: dict[str, list[str]]) -> None:
        self.peers = peers
        self.routes = routes
        self.peer_roles = peer_roles
        self.role_holders = {r: frozenset(a for a, rs in peer_roles.items() if r in rs)
                             for r in {r for rs in peer_roles.values() for r in rs}}
        self.holders: dict[str, list[str]] = {}  # fid -> agents holding it (the broadcast's)

    def executors(self, role: str) -> list[str]:
        """Reachable agents holding `role`, other agents first choice, self next; with none,
        the live neighbours that lead towards one (a relay)."""
        able = [p for p in sorted(self.peers.ready) if role in self.peer_roles.get(p, ())]
        others = [p for p in able if p != self.peers.node_id]
        return others or able or self.toward(self.role_holders.get(role, frozenset()))

    def toward(self, targets: frozenset[str]) -> list[str]:
        return self.routes.toward(targets, self.peers.ready - {self.peers.node_id})

    def cover(self, fids: list[str], exclude: set[str], salt: str
              ) -> tuple[dict[str, list[str]], list[str]]:
        """Greedy set cover of `fids` by reachable holders — or, for a fragment no live
        neighbour holds, by the neighbours that lead towards one; returns (agent -> fids,
        lost)."""
        live = self.peers.ready - exclude - {self.peers.node_id}
        todo = {f: [h for h in self.holders.get(f, []) if h in live] for f in fids}
        for f in [f for f, hs in todo.items() if not hs]:
            todo[f] = [r for r in self.toward(frozenset(self.holders.get(f, [])))
                       if r not in exclude]
        lost = [f for f, hs in todo.items() if not hs]
        left = {f for f, hs in todo.items() if hs}
        plan: dict[str, list[str]] = {}
        while left:
            counts: dict[str, int] = {}
            for f in left:
                for h in todo[f]:
                    counts[h] = counts.get(h, 0) + 1
            best = max(counts, key=lambda h: (counts[h], zlib.crc32((salt + h).encode())))
            plan[best] = sorted(f for f in left if best in todo[f])
            left -= set(plan[best])
        return plan, lost
