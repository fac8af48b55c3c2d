"""The local test cluster (`fsr cluster up` / `down`): a Ray cluster on this one machine whose
worker hosts are Linux network namespaces, each with its own address on a bridge.

Owns the namespaces `<prefix>-hK`, the veth pairs `<prefix>vK`/`<prefix>pK`, the bridge
`<prefix>br0` (`<subnet>.1`, root namespace: the Ray head and the fsr runner live there), the
`ray start --block` processes and the state file `/run/<prefix>-cluster.json`. Everything is named
from the prefix, so `down()` also works, best effort, when the state file is gone. Never runs
`ray stop`: it stops every Ray on the machine. Needs root.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LABEL_KEY = "fsr-host"  # each worker node's Ray label: node["Labels"]["fsr-host"] == "h1"
JOIN_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
MAX_HOSTS = 50
AGENT_PORTS = range(9000, 10000)  # fsr's agents bind 9xxx: no Ray port may land there
WORKER_PORTS = ("--min-worker-port", "10002", "--max-worker-port", "19999")
# Memory: no log monitor (~130 MiB less per 3 nodes) and a small object store (fsr's controller
# actors pass small messages; the default is 30 % of RAM per node).
FRUGAL = ("--include-log-monitor=false", "--object-store-memory", str(100 * 2**20))


class ClusterError(RuntimeError):
    """The cluster could not be brought up or refused to be; str() is one line."""


@dataclass(frozen=True)
class LocalCluster:
    prefix: str
    address: str  # the Ray address (`--ray-address`): "<subnet>.1:<ray_port>"
    hosts: dict[str, str]  # host name -> its address: {"h1": "<subnet>.11", ...}


class _Names:
    """Every name a prefix owns (Linux interface names are at most 15 characters)."""

    def __init__(self, prefix: str) -> None:
        self.bridge, self.temp_dir = f"{prefix}br0", Path(f"/tmp/{prefix}-ray")
        self.state_file = Path(f"/run/{prefix}-cluster.json")
        self.links = re.compile(rf"{re.escape(prefix)}(br0|[vp]\d+)")  # bridge, veths
        self.namespaces = re.compile(rf"{re.escape(prefix)}-h\d+")
        self.prefix = prefix

    def ns(self, k: int) -> str:
        return f"{self.prefix}-h{k}"

    def veth(self, k: int) -> tuple[str, str]:
        return f"{self.prefix}v{k}", f"{self.prefix}p{k}"  # bridge side, namespace side

    def owned(self) -> list[str]:
        """Its namespaces and links that exist now."""
        return [n for n in _namespaces() if self.namespaces.fullmatch(n)] + \
            [n for n in _links() if self.links.fullmatch(n)]


def _ray_bin() -> str:
    """The `ray` CLI of the Python running fsr (the venv's bin/ need not be on PATH)."""
    beside = Path(sys.executable).with_name("ray")
    return str(beside) if beside.is_file() else (shutil.which("ray") or "")


def _preflight(prefix: str, ray: bool) -> None:
    """Refuses, in one line and before touching anything: not root, no `ip`, no Ray (`up`)."""
    if os.geteuid() != 0:
        raise ClusterError("fsr cluster needs root (network namespaces, veths, a bridge): "
                           "run it with sudo")
    if shutil.which("ip") is None:
        raise ClusterError("`ip` not found: install iproute2 (apt-get install -y iproute2)")
    if ray and (not _ray_bin() or importlib.util.find_spec("ray") is None):
        raise ClusterError("Ray not found: pip install 'fsr[ray]'")
    if re.fullmatch(r"[a-z][a-z0-9]{0,9}", prefix) is None:
        raise ClusterError(f"--prefix: {prefix!r} must be 1-10 lowercase letters or digits, "
                           "starting with a letter (it names network interfaces)")


def _run(*args: str, check: bool = True) -> str:
    proc = subprocess.run(args, capture_output=True, text=True)
    if check and proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise ClusterError(f"{' '.join(args)}: {why}")
    return proc.stdout


def _links() -> list[str]:
    return [line.split(":")[1].strip().split("@")[0]
            for line in _run("ip", "-o", "link", "show").splitlines()]


def _namespaces() -> list[str]:
    return [line.split()[0] for line in _run("ip", "netns", "list").splitlines() if line]


def _forward_rule(bridge: str) -> tuple[str, ...]:
    return ("FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT")


def _open_bridge(bridge: str) -> None:
    """With br_netfilter on, bridged frames between two namespaces cross iptables' FORWARD
    chain (the nft and the legacy tables both): where it could drop them, put an ACCEPT for the
    bridge first (`down` takes it out)."""
    sysctl = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
    if not sysctl.is_file() or sysctl.read_text().strip() != "1":
        return
    for cmd in filter(shutil.which, ("iptables", "iptables-legacy")):
        chain = _run(cmd, "-w", "-S", "FORWARD", check=False).split()
        if chain != ["-P", "FORWARD", "ACCEPT"]:
            _run(cmd, "-w", "-I", *_forward_rule(bridge))


def _make_network(names: _Names, hosts: dict[str, str], subnet: str) -> None:
    _run("ip", "link", "add", names.bridge, "type", "bridge")
    _run("ip", "addr", "add", f"{subnet}.1/24", "dev", names.bridge)
    _run("ip", "link", "set", names.bridge, "up")
    for k, address in enumerate(hosts.values(), start=1):
        ns, (outer, inner) = names.ns(k), names.veth(k)
        _run("ip", "netns", "add", ns)
        _run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
        _run("ip", "link", "set", outer, "master", names.bridge, "up")
        _run("ip", "link", "set", inner, "netns", ns)
        for args in (("addr", "add", f"{address}/24", "dev", inner), ("link", "set", inner, "up"),
                     ("link", "set", "lo", "up"),
                     ("route", "add", "default", "via", f"{subnet}.1")):
            _run("ip", "-n", ns, *args)


def _free_ports(count: int) -> list[str]:
    """Ports the kernel picks (its ephemeral range, far above 9xxx): the head shares the root
    namespace with other clusters' heads, so Ray's fixed defaults (52365...) would collide."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in socks:
            s.bind(("", 0))
        return [str(s.getsockname()[1]) for s in socks]


def _node_ports(ray_port: int, head: bool) -> list[str]:
    flags = ["--node-manager-port", "--object-manager-port", "--metrics-export-port",
             "--dashboard-agent-grpc-port", "--dashboard-agent-listen-port",
             "--runtime-env-agent-port"]
    # A worker has its namespace to itself: fixed ports next to the head's, the same on every host.
    ports = _free_ports(len(flags)) if head else [str(ray_port + i) for i in range(1, 7)]
    return [x for pair in zip(flags, ports, strict=True) for x in pair] + list(WORKER_PORTS)


def _ray_env() -> dict[str, str]:
    """The environment of the cluster's Ray processes and checks. Token auth off: Ray 2.60 turns
    it on whenever ~/.ray/auth_token exists (any local `ray.init()` writes one), and a client
    given an explicit address (the runner's --ray-address) never sends the token; so the GCS
    answers whoever reaches its port, as a test cluster's may. No drain on SIGTERM: an idle node
    would wait up to 30 s for it once its GCS is gone."""
    return {**os.environ, "RAY_AUTH_MODE": "disabled",
            "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}


def _start(names: _Names, log_name: str, argv: list[str]) -> subprocess.Popen[bytes]:
    """A `ray start --block` in its own session (its process group is the cluster's handle)."""
    env = _ray_env()
    with open(names.temp_dir / log_name, "wb") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _last_line(path: Path) -> str:
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "no output"


def _wait_join(proc: subprocess.Popen[bytes], name: str, address: str, gcs: str,
               log: Path) -> None:
    """Until node `name` (`address`) is alive in Ray's node table: one node at a time, as two
    starting at once time out on 2 cores. The check starts alongside the node."""
    check = subprocess.Popen([sys.executable, str(Path(__file__).with_name("nodewait.py")), gcs,
                              str(time.time() + JOIN_TIMEOUT_S), address],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=_ray_env())
    try:
        while check.poll() is None:
            if proc.poll() is not None:
                raise ClusterError(f"{name} ({address}): its Ray node exited "
                                   f"({_last_line(log)}; see {log})")
            time.sleep(0.05)
    finally:
        if check.poll() is None:
            check.kill()
            check.wait()
    if check.returncode != 0:
        raise ClusterError(f"{name} ({address}) did not come up in {JOIN_TIMEOUT_S:.0f} s "
                           f"(see {log})")


def _write_state(names: _Names, state: dict[str, Any]) -> None:
    tmp = names.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(names.state_file)


def _read_state(names: _Names) -> dict[str, Any]:
    try:
        return dict(json.loads(names.state_file.read_text()))
    except (OSError, ValueError, TypeError):
        return {}


def _check_args(hosts: int, subnet: str, ray_port: int) -> None:
    if not 1 <= hosts <= MAX_HOSTS:
        raise ClusterError(f"--hosts: {hosts} must be between 1 and {MAX_HOSTS}")
    if re.fullmatch(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})", subnet) is None or \
            any(int(octet) > 255 for octet in subnet.split(".")):
        raise ClusterError(f"--subnet: {subnet!r} is not the first three octets of an IPv4 address")
    ports = range(ray_port, ray_port + 7)  # the GCS and the workers' pinned ports
    if ray_port < 1024 or ports[-1] > 65535 or set(ports) & set(AGENT_PORTS):
        raise ClusterError(f"--ray-port: {ray_port}..{ports[-1]} must lie within 1024-65535 and "
                           f"outside {AGENT_PORTS.start}-{AGENT_PORTS.stop - 1} (fsr's agents)")


def _down_hint(prefix: str) -> str:
    return "fsr cluster down" + ("" if prefix == "fsr" else f" --prefix {prefix}")


def current(prefix: str = "fsr") -> LocalCluster | None:
    """The running cluster of that prefix, from its state file: None when there is no state
    file or its Ray head is gone."""
    state = _read_state(_Names(prefix))
    if not _alive(int(state.get("pids", {}).get("head", 0))):
        return None
    return LocalCluster(prefix, state["address"], dict(state["hosts"]))


def up(hosts: int = 3, prefix: str = "fsr", subnet: str = "10.77.0",
       ray_port: int = 6390) -> LocalCluster:
    """Bring up the bridge, `hosts` namespaces and a Ray node in each, one after another (two
    nodes joining at once time out on 2 cores). Tears down what it made if anything fails."""
    _preflight(prefix, ray=True)
    _check_args(hosts, subnet, ray_port)
    names = _Names(prefix)
    running = current(prefix)
    if running is not None:
        raise ClusterError(f"already up: {prefix} at {running.address} with "
                           f"{len(running.hosts)} hosts ({_down_hint(prefix)})")
    leftover = ([str(names.state_file)] if names.state_file.exists() else []) + names.owned()
    if leftover:
        raise ClusterError(f"already up, or left over: {', '.join(leftover)} "
                           f"({_down_hint(prefix)})")
    host_ips = {f"h{k}": f"{subnet}.{10 + k}" for k in range(1, hosts + 1)}
    head_ip, address = f"{subnet}.1", f"{subnet}.1:{ray_port}"
    state: dict[str, Any] = {"prefix": prefix, "address": address, "hosts": host_ips, "pids": {},
                             "namespaces": [names.ns(k) for k in range(1, hosts + 1)],
                             "bridge": names.bridge}
    try:
        _write_state(names, state)  # first: a crash from here on leaves `down` its handles
        _make_network(names, host_ips, subnet)
        _open_bridge(names.bridge)
        shutil.rmtree(names.temp_dir, ignore_errors=True)  # the last cluster's logs
        names.temp_dir.mkdir(parents=True)
        ray = _ray_bin()
        common = ["--block", "--temp-dir", str(names.temp_dir), "--disable-usage-stats", *FRUGAL]
        head = _start(names, "head.log", [
            ray, "start", "--head", "--node-ip-address", head_ip, "--port", str(ray_port),
            "--num-cpus", "0", "--include-dashboard=false", *common,
            *_node_ports(ray_port, head=True)])
        state["pids"]["head"] = head.pid
        _write_state(names, state)
        _wait_join(head, "the Ray head", head_ip, address, names.temp_dir / "head.log")
        for k, (name, host_ip) in enumerate(host_ips.items(), start=1):
            proc = _start(names, f"{name}.log", [
                "ip", "netns", "exec", names.ns(k), ray, "start", "--address", address,
                "--node-ip-address", host_ip, "--num-cpus", "2", "--labels",
                f"{LABEL_KEY}={name}", *common, *_node_ports(ray_port, head=False)])
            state["pids"][name] = proc.pid
            _write_state(names, state)
            _wait_join(proc, f"host {name}", host_ip, address, names.temp_dir / f"{name}.log")
    except BaseException:
        down(prefix)
        raise
    return LocalCluster(prefix, address, host_ips)


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name (state first), None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaps it if it is our child (up and down in one process)
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _ancestors() -> set[int]:
    """This process and its parents: a shell whose command line names the temp dir is no
    leftover of the cluster."""
    found, pid = set(), os.getpid()
    while pid > 0 and pid not in found:
        found.add(pid)
        fields = _stat(pid)
        pid = int(fields[1]) if fields else 0
    return found


def _leftovers(names: _Names, sessions: set[int]) -> set[int]:
    """Processes of this cluster still running: in one of its `ray start` sessions, mentioning
    its temp dir, or inside one of its namespaces."""
    found: set[int] = set()
    for ns in (n for n in _namespaces() if names.namespaces.fullmatch(n)):
        found |= {int(p) for p in _run("ip", "netns", "pids", ns, check=False).split()}
    marker, spared = str(names.temp_dir).encode(), _ancestors()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in spared:
            continue
        fields = _stat(int(entry.name))
        with contextlib.suppress(OSError):
            if fields is not None and (int(fields[3]) in sessions
                                       or marker in (entry / "cmdline").read_bytes()):
                found.add(int(entry.name))
    return {pid for pid in found if _alive(pid)}


def down(prefix: str = "fsr") -> bool:
    """Stop the cluster's Ray processes (SIGTERM to each `ray start --block` group, SIGKILL
    after 10 s and for anything left), delete its namespaces, veths and bridge, and the bridge's
    iptables rules. True if there was something to remove."""
    _preflight(prefix, ray=False)
    names = _Names(prefix)
    state = _read_state(names)
    pids = {int(pid) for pid in state.get("pids", {}).values()}
    found = bool(state) or names.state_file.exists()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)  # `ray start --block` stops its node's processes
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = _leftovers(names, pids)
    found |= bool(left)
    for pid in left | {pid for pid in pids if _alive(pid)}:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while any(_alive(pid) for pid in left) and time.monotonic() < deadline:
        time.sleep(0.05)
    # deleting a namespace deletes the veth end inside it, and so its pair; the rest by name
    for name in names.owned():
        found = True
        _run("ip", "netns" if names.namespaces.fullmatch(name) else "link", "del", name,
             check=False)
    for cmd in ("iptables", "iptables-legacy"):
        while shutil.which(cmd) and subprocess.run(
                (cmd, "-w", "-D", *_forward_rule(names.bridge)), capture_output=True
        ).returncode == 0:
            found = True
    names.state_file.unlink(missing_ok=True)
    return found
