"""Faults between hosts (partition, packet loss): netfilter rules inside each struck host.

A storm cuts a set of hosts A from the others B. Every host of A drops what arrives from B's
addresses, and every host of B what arrives from A's: dropping on the receiving side makes it a
real loss for the sender's TCP (it "sent" the segment; its RTO retransmits it), as the
single-machine faults do (`fsr.injector.network`). The rules match TCP with a source or
destination port in the agents' block only, so Ray's control path (its own ports, outside
9000–9999 on `fsr cluster up`'s hosts) and the runner (not on a struck host's list) keep
talking: Ray declares a silent node dead after about 15–20 s.

Each storm's rules are one chain per host, ``fsr-h<storm>``, jumped to from INPUT, put in and
taken out with one atomic ``iptables-legacy-restore --noflush`` each. On `fsr cluster up`'s
hosts they live in the host's network namespace and vanish with it; on a real cluster they are
the host's own (the controller needs CAP_NET_ADMIN) and `heal` removes them.
"""

from __future__ import annotations

from collections.abc import Iterable

from fsr.injector.network import iptables, restore_rules


def chain(storm: int) -> str:
    return f"fsr-h{storm}"


def cut_rules(storm: int, sources: Iterable[str], ports: tuple[int, int],
              percent: float | None = None) -> list[str]:
    """The rules that drop (all, or `percent` % at random of) the TCP packets from `sources`
    to or from a port in `ports` (the agents' block, inclusive)."""
    name = chain(storm)
    sample = "" if percent is None else \
        f" -m statistic --mode random --probability {percent / 100:.6f}"
    return [f":{name} - [0:0]",
            *(f"-A {name} -s {src}/32 -p tcp -m multiport --ports {ports[0]}:{ports[1]}"
              f"{sample} -j DROP" for src in sorted(sources)),
            f"-I INPUT 1 -j {name}"]


def cut(storm: int, sources: list[str], ports: tuple[int, int],
        percent: float | None = None) -> None:
    restore_rules(cut_rules(storm, sources, ports, percent))


def heal(storm: int) -> int:
    """Take the storm's rules out; returns the packets they dropped."""
    name = chain(storm)
    listing = iptables("-L", name, "-v", "-x", "-n")
    dropped = sum(int(line.split()[0]) for line in listing.splitlines()[2:] if line.strip())
    restore_rules([f"-D INPUT -j {name}", f"-F {name}", f"-X {name}"])
    return dropped
