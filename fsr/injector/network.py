"""Network faults (partition, packet loss) on real kernel networking, isolated from the host.

This module owns the run's network namespace and every netfilter rule in it.

Mechanism:
* Namespace. The runner calls `enter_run_namespace()` before it creates any socket, thread or
  child: unshare(CLONE_NEWNET) gives it a network stack of its own holding only `lo`, which it
  brings up; every agent process started afterwards inherits it. The namespace and all of its
  rules vanish with its last process. Nothing on the host changes: its interfaces, routes,
  iptables tables and sysctls are never touched (`NetworkFaults` refuses to run outside a
  namespace made by `enter_run_namespace`); the only shared trace is iptables' usual lock file
  /run/xtables.lock.
* Sender. Each agent process calls `join_fault_group(i)` before it creates sockets; its sockets
  then carry gid GID_BASE + i, which `-m owner --gid-owner` matches in OUTPUT (on loopback every
  packet passes OUTPUT once, with the sender's socket). The runner keeps its own gid, so faults
  never touch the harness's control plane (runner <-> agent traffic always passes).
* Receiver. The SYN of every connection stamps the initiator's index + 1 into the conntrack
  mark (0: not an agent, e.g. the runner). A packet in the ORIGINAL direction goes to the
  acceptor, known by its listening port (the packet's dport, which is ctorigdstport); one in the
  REPLY direction goes to the initiator, known by the connmark.
* Rules (iptables-legacy, filter table, chains `fsr-*`). `fsr-out`, jumped to from OUTPUT,
  clears packet-mark bits 0x1f, sets 0x4 if the sender is an agent and 0x8 if the receiver is,
  stamps new connections (`fsr-stamp`, one rule per agent, seen by SYNs only), returns unless
  both bits are set and then runs every fault's chain `fsr-f<k>` (listed in `fsr-faults`).
  A fault chain sets 0x1 (sender in targets) and 0x2 (receiver in targets) with
  O(len(targets)) rules, counts the packets that involve a target, and condemns (sets 0x10):
  a partition when exactly one bit is set, a loss with `-m statistic --mode random` when
  either is. `fsr-in`, jumped to from INPUT, drops condemned packets (the mark survives the
  loopback). Dropping on the receiving side, not in OUTPUT, makes it a real loss for the
  sender's TCP (it "sent" the segment; the RTO retransmits it with backoff) rather than a local
  send error it would retry at once.

Why not tc netem: this kernel has no sch_netem ("Specified qdisc kind is unknown") and no
modprobe, so faults are drops only (no delay, reordering or duplication).

Costs: a dropped TCP segment is retransmitted by the kernel with its own backoff; those
retransmissions are not counted by fsr's byte counters (they count application bytes), and
after a partition of d seconds an established connection may need up to about d more to carry
data again (RTO backoff, capped at 120 s by the kernel; a fresh connection is immediate).
Connections must be opened after `NetworkFaults` exists (conntrack would pick older ones up
without an initiator mark); so that a long partition cannot make conntrack forget a connection,
its retransmission timeouts are raised to an hour inside the namespace. Needs root
(CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_SETGID) and iptables-legacy; `check_available()` says why not.
"""

from __future__ import annotations

import ctypes
import fcntl
import itertools
import os
import re
import shutil
import socket
import struct
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence

CLONE_NEWNET = 0x40000000
GID_BASE = 61000
IPTABLES = "iptables-legacy"
SET = "-j MARK --set-xmark"
CONDEMN = f"{SET} 0x10/0x10"  # condemn: fsr-in (INPUT) drops it on the receiving side
_CAPS = {"CAP_NET_ADMIN": 12, "CAP_SYS_ADMIN": 21, "CAP_SETGID": 6}
_run_netns: int | None = None  # inode of the namespace enter_run_namespace() made
_CT_TIMEOUTS = ("nf_conntrack_tcp_timeout_max_retrans", "nf_conntrack_tcp_timeout_unacknowledged")
_PROBE = [  # every match and target the rules use, tried in a throwaway namespace
    ":fsr-probe - [0:0]", "-A OUTPUT -j fsr-probe",
    "-A fsr-probe -m owner --gid-owner 61000-61001 -m conntrack --ctstate NEW --ctdir ORIGINAL"
    " -j CONNMARK --set-xmark 0x1/0xffff",
    "-A fsr-probe -p tcp -m multiport --dports 1:2,3 -m connmark --mark 0x1/0xffff"
    " -m mark --mark 0x1/0x3 -m statistic --mode random --probability 0.5 -j DROP",
    f"-A fsr-probe {SET} 0x0/0x1f", "-A INPUT -m mark --mark 0x10/0x10 -j DROP"]


class NetworkFaultError(RuntimeError):
    """An iptables command failed, or the run's namespace could not be set up."""


def _unshare_net() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        raise NetworkFaultError(f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")


def restore_rules(lines: Sequence[str], preexec: Callable[[], None] | None = None) -> None:
    """Apply `lines` to the filter table in one atomic `iptables-legacy-restore --noflush`."""
    text = "*filter\n" + "\n".join(lines) + "\nCOMMIT\n"
    cmd = [f"{IPTABLES}-restore", "--noflush", "--wait", "5"]
    proc = subprocess.run(cmd, input=text, capture_output=True, text=True, preexec_fn=preexec)
    if proc.returncode != 0:
        raise NetworkFaultError(f"{' '.join(cmd)} failed ({proc.returncode}): "
                                f"{proc.stderr.strip()}\n--- input ---\n{text}")


def iptables(*args: str) -> str:
    cmd = [IPTABLES, "--wait", "5", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise NetworkFaultError(f"{' '.join(cmd)} failed ({proc.returncode}): "
                                f"{proc.stderr.strip()}")
    return proc.stdout


def check_available() -> str | None:
    """None if network faults can work here, else a one-line reason. Changes nothing."""
    with open("/proc/self/status") as f:
        cap = next(int(ln.split()[1], 16) for ln in f if ln.startswith("CapEff:"))
    missing = [name for name, bit in _CAPS.items() if not cap >> bit & 1]
    if missing:
        return f"network faults need root: missing {', '.join(missing)}"
    if not shutil.which(IPTABLES) or not shutil.which(f"{IPTABLES}-restore"):
        return f"{IPTABLES} not found: install the iptables package (apt-get install -y iptables)"
    try:
        restore_rules(_PROBE, preexec=_unshare_net)
    except subprocess.SubprocessError:
        return "cannot create a network namespace: unshare(CLONE_NEWNET) failed"
    except NetworkFaultError as exc:
        detail = str(exc).split(": ", 1)[-1].splitlines()[0]
        return f"netfilter lacks owner/conntrack/connmark/statistic/multiport/MARK: {detail}"
    return None


def enter_run_namespace() -> None:
    """Move the calling process into a new network namespace and bring `lo` up. Call it before
    creating any thread (the namespace is the calling thread's), socket or child process."""
    global _run_netns
    _unshare_net()
    _run_netns = os.stat("/proc/self/ns/net").st_ino
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        req = fcntl.ioctl(sock, siocgifflags, struct.pack("16sH22x", b"lo", 0))
        flags = struct.unpack("16sH22x", req)[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH22x", b"lo", flags | iff_up))


def join_fault_group(index: int) -> None:
    """Called by agent `index` before it creates sockets: they then carry gid GID_BASE+index."""
    os.setgid(GID_BASE + index)


def _runs(values: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted runs of consecutive integers: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    runs: list[tuple[int, int]] = []
    for v in sorted(set(values)):
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


def _sender_rules(chain: str, agents: Iterable[int], action: str) -> list[str]:
    return [f"-A {chain} -m owner --gid-owner {GID_BASE + lo}-{GID_BASE + hi} {action}"
            for lo, hi in _runs(agents)]


def _acceptor_rules(chain: str, ports: Iterable[int], action: str) -> list[str]:
    items = [f"{lo}:{hi}" if hi > lo else str(lo) for lo, hi in _runs(ports)]
    return [f"-A {chain} -p tcp -m conntrack --ctdir ORIGINAL -m multiport"
            f" --dports {','.join(items[k:k + 7])} {action}" for k in range(0, len(items), 7)]


def base_rules(agent_ports: Mapping[int, Sequence[int]]) -> list[str]:
    """The iptables-restore lines of the chains every fault hangs off."""
    ports = [p for ps in agent_ports.values() for p in ps]
    return [":fsr-in - [0:0]", ":fsr-out - [0:0]", ":fsr-stamp - [0:0]", ":fsr-faults - [0:0]",
            "-A INPUT -j fsr-in", "-A fsr-in -m mark --mark 0x10/0x10 -j DROP",
            "-A OUTPUT -j fsr-out", f"-A fsr-out {SET} 0x0/0x1f",
            *_sender_rules("fsr-out", agent_ports, f"{SET} 0x4/0x4"),
            *_acceptor_rules("fsr-out", ports, f"{SET} 0x8/0x8"),
            f"-A fsr-out -m conntrack --ctdir REPLY -m connmark ! --mark 0x0/0xffff {SET} 0x8/0x8",
            "-A fsr-out -m conntrack --ctstate NEW --ctdir ORIGINAL -m mark --mark 0x4/0x4"
            " -j fsr-stamp",
            "-A fsr-out -m mark ! --mark 0xc/0xc -j RETURN", "-A fsr-out -j fsr-faults",
            *(f"-A fsr-stamp -m owner --gid-owner {GID_BASE + i}"
              f" -j CONNMARK --set-xmark {i + 1:#x}/0xffff" for i in sorted(agent_ports))]


def fault_rules(chain: str, targets: Sequence[int], agent_ports: Mapping[int, Sequence[int]],
                verdict: Sequence[str]) -> list[str]:
    """A fault's chain: bit 0x1 = sender in `targets`, 0x2 = receiver in `targets`, a counting
    rule for packets that involve a target, then `verdict` (rules without the `-A chain`)."""
    ports = [p for t in targets for p in agent_ports[t]]
    return [f":{chain} - [0:0]", f"-A {chain} {SET} 0x0/0x3",
            *_sender_rules(chain, targets, f"{SET} 0x1/0x1"),
            *_acceptor_rules(chain, ports, f"{SET} 0x2/0x2"),
            *(f"-A {chain} -m conntrack --ctdir REPLY -m connmark --mark {t + 1:#x}/0xffff"
              f" {SET} 0x2/0x2" for t in sorted(set(targets))),
            f"-A {chain} -m mark ! --mark 0x0/0x3",
            *(f"-A {chain} {rule}" for rule in verdict), f"-A fsr-faults -j {chain}"]


def redirect_agent_links(first_port: int, last_port: int,
                         relay_ports: Mapping[int, int]) -> list[str]:
    """NAT every TCP connection agent i opens to an agent's listening port (the block
    `first_port`..`last_port`) into ``relay_ports[i]`` (`fsr.injector.relay`), so the relay knows
    both ends of every link. Call it before the agents start."""
    applied = []
    for index, port in sorted(relay_ports.items()):
        rule = ["-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-m", "owner", "--gid-owner",
                str(GID_BASE + index), "--dport", f"{first_port}:{last_port}", "-j", "REDIRECT",
                "--to-ports", str(port)]
        iptables(*rule)
        applied.append(" ".join(rule))
    return applied


def tcp_totals() -> dict[str, int]:
    """What the kernel says the run's TCP sockets carried (``ss -tin`` in the run's namespace):
    bytes received by every socket — the streams as delivered, whatever was lost and resent on
    the way — and bytes retransmitted, which fsr's counters never see."""
    proc = subprocess.run(["ss", "-tinH"], capture_output=True, text=True, check=False)
    text = proc.stdout
    return {"sockets": text.count("ESTAB"),
            "received": sum(int(n) for n in re.findall(r"bytes_received:(\d+)", text)),
            "retransmitted": sum(int(n) for n in re.findall(r"bytes_retrans:(\d+)", text))}


class NetworkFaults:
    """The faults of one run, as iptables rules in the current (the run's) namespace.
    `agent_ports`: agent index -> its listening ports. Create it before any agent connects."""

    def __init__(self, agent_ports: Mapping[int, Sequence[int]]) -> None:
        if _run_netns is None or os.stat("/proc/self/ns/net").st_ino != _run_netns:
            raise NetworkFaultError("refusing to add rules to the host's network namespace: "
                                    "call enter_run_namespace() first")
        self.agent_ports = {i: tuple(ps) for i, ps in agent_ports.items()}
        self.rules: dict[str, list[str]] = {}  # handle -> the iptables-restore lines applied
        self._ids = itertools.count(1)
        for name in _CT_TIMEOUTS:  # per-namespace sysctls
            with open(f"/proc/sys/net/netfilter/{name}", "w") as f:
                f.write("3600")
        self.base = base_rules(self.agent_ports)
        restore_rules(self.base)

    def _add(self, targets: Sequence[int], verdict: Sequence[str]) -> str:
        unknown = set(targets) - set(self.agent_ports)
        if unknown or not targets:
            raise ValueError(f"targets must be known agents, got {sorted(targets)}")
        chain = f"fsr-f{next(self._ids)}"
        lines = fault_rules(chain, targets, self.agent_ports, verdict)
        restore_rules(lines)
        self.rules[chain] = lines
        return chain

    def partition(self, targets: Sequence[int]) -> str:
        """Cut every packet between `targets` and the other agents, both ways. -> handle."""
        return self._add(targets, [f"-m mark --mark 0x1/0x3 {CONDEMN}",
                                   f"-m mark --mark 0x2/0x3 {CONDEMN}"])

    def loss(self, targets: Sequence[int], percent: float) -> str:
        """Drop `percent` % of agent <-> agent packets sent by or to `targets`. -> handle."""
        if not 0 < percent <= 100:
            raise ValueError(f"percent must be in (0, 100], got {percent}")
        return self._add(targets, ["-m mark ! --mark 0x0/0x3 -m statistic --mode random"
                                   f" --probability {percent / 100:.6f} {CONDEMN}"])

    def stats(self, handle: str) -> dict[str, int]:
        """Packet counters: `seen` agent <-> agent, `involved` (to/from a target), `dropped`
        (condemned by this fault; a packet two faults condemn counts in both)."""
        counts = [(int(w[w.index("-c") + 1]), "0x10/0x10" in w) for w in
                  (ln.split() for ln in iptables("-S", handle, "-v").splitlines())
                  if w[0] == "-A"]
        return {"seen": counts[0][0], "involved": next(c for c, d in reversed(counts) if not d),
                "dropped": sum(c for c, d in counts if d)}

    def clear(self, handle: str) -> list[str]:
        """Remove one fault's rules; returns the lines applied."""
        self.rules.pop(handle)
        lines = [f"-D fsr-faults -j {handle}", f"-F {handle}", f"-X {handle}"]
        restore_rules(lines)
        return lines

    def close(self) -> None:
        """Remove every fsr chain (idempotent)."""
        listing = iptables("-S").splitlines()
        chains = [ln.split()[1] for ln in listing if ln.startswith("-N fsr-")]
        hooks = (("OUTPUT", "fsr-out"), ("INPUT", "fsr-in"))
        jump = [f"-D {h} -j {c}" for h, c in hooks if f"-A {h} -j {c}" in listing]
        if chains or jump:
            restore_rules(jump + [f"-F {c}" for c in chains] + [f"-X {c}" for c in chains])
        self.rules.clear()

    def __enter__(self) -> NetworkFaults:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
