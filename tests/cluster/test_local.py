"""The local test cluster (`fsr cluster up` / `down`, `fsr.cluster.local`) for real: two hosts in
network namespaces on a bridge reach each other over TCP, Ray sees their labelled nodes alive,
a second `up` is refused, `down` leaves no process, namespace or link; without root both
commands refuse in one line before touching anything."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fsr.cluster import local
from tests.helpers import clean_env, pid_alive

pytestmark = pytest.mark.timeout(240)
needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="a local cluster needs root (namespaces, veths, a bridge)")

# apart from `fsr cluster up`'s defaults (fsr, 10.77.0, 6390) and the cluster runs' (fsrc)
PREFIX, SUBNET, RAY_PORT = "fsrt", "10.78.0", 6391
REPO = Path(__file__).resolve().parents[2]
# the test's own `fsr` in subprocesses, whatever fsr the interpreter has installed
ENV = {**clean_env(), "PYTHONPATH": str(REPO)}

# ray.nodes() from a driver of its own: this test process never joins the cluster
NODES = """
import json, logging, sys, ray
ray.init(address=sys.argv[1], logging_level=logging.ERROR, log_to_driver=False)
print(json.dumps([{"ip": n["NodeManagerAddress"], "alive": n["Alive"], "labels": n["Labels"],
                   "cpus": n["Resources"].get("CPU", 0)} for n in ray.nodes()]))
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[local.LocalCluster]:
    local.down(PREFIX)  # a previous session's, if it was cut short
    started = time.monotonic()
    made = local.up(hosts=2, prefix=PREFIX, subnet=SUBNET, ray_port=RAY_PORT)
    print(f"up in {time.monotonic() - started:.1f} s")
    try:
        yield made
    finally:
        local.down(PREFIX)


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


def ours() -> list[str]:
    """The namespaces and links named like PREFIX's."""
    names = [line.split()[0] for line in ip("netns", "list").splitlines() if line]
    links = [line.split(":")[1].strip().split("@")[0] for line in ip("-o", "link").splitlines()]
    return [n for n in names if re.fullmatch(rf"{PREFIX}-h\d+", n)] + \
        [n for n in links if re.fullmatch(rf"{PREFIX}(br0|[vp]\d+)", n)]


def cluster_pids(state: dict[str, Any]) -> set[int]:
    """Every live process of the cluster: in a `ray start` session or one of its namespaces."""
    sessions = set(state["pids"].values())
    found = {int(p) for ns in state["namespaces"] if ns in ours()
             for p in ip("netns", "pids", ns).split()}
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) in sessions:
            found.add(int(entry.name))
    return {pid for pid in found if pid_alive(pid)}


@needs_root
def test_up_makes_a_namespace_and_an_address_per_host(cluster: local.LocalCluster) -> None:
    assert cluster == local.LocalCluster(PREFIX, f"{SUBNET}.1:{RAY_PORT}",
                                         {"h1": f"{SUBNET}.11", "h2": f"{SUBNET}.12"})
    assert local.current(PREFIX) == cluster
    assert {f"{PREFIX}-h1", f"{PREFIX}-h2", f"{PREFIX}br0"} <= set(ours())
    assert f"inet {SUBNET}.12/24" in ip("-n", f"{PREFIX}-h2", "addr", "show")
    assert f"default via {SUBNET}.1" in ip("-n", f"{PREFIX}-h1", "route")


@needs_root
def test_a_host_reaches_another_over_tcp(cluster: local.LocalCluster) -> None:
    """A server in h2 on its own address (an agent's port) takes a connection from h1."""
    server = subprocess.Popen(
        ["ip", "netns", "exec", f"{PREFIX}-h2", sys.executable, "-c",
         "import socket, sys\n"
         "s = socket.create_server((sys.argv[1], 9411)); print('ready', flush=True)\n"
         "c, peer = s.accept(); print(peer[0], c.recv(16).decode(), flush=True)",
         cluster.hosts["h2"]], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline() == "ready\n"
        subprocess.run(["ip", "netns", "exec", f"{PREFIX}-h1", sys.executable, "-c",
                        "import socket, sys\n"
                        "socket.create_connection((sys.argv[1], 9411), timeout=5).sendall(b'hi')",
                        cluster.hosts["h2"]], check=True, timeout=30)
        out, _ = server.communicate(timeout=30)
    finally:
        server.kill()
    assert out.split() == [cluster.hosts["h1"], "hi"]


@needs_root
def test_ray_sees_each_host_as_a_labelled_node_alive(cluster: local.LocalCluster) -> None:
    proc = subprocess.run([sys.executable, "-c", NODES, cluster.address], capture_output=True,
                          text=True, timeout=120, env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    nodes = json.loads(proc.stdout.splitlines()[-1])
    hosts = {n["labels"][local.LABEL_KEY]: n["ip"] for n in nodes
             if n["alive"] and local.LABEL_KEY in n["labels"]}
    assert hosts == cluster.hosts
    assert all(n["cpus"] == 2 for n in nodes if local.LABEL_KEY in n["labels"])
    (head,) = [n for n in nodes if local.LABEL_KEY not in n["labels"]]
    assert (head["ip"], head["alive"], head["cpus"]) == (f"{SUBNET}.1", True, 0)


@needs_root
def test_no_ray_port_in_the_agents_block(cluster: local.LocalCluster) -> None:
    """Inside a host every listener is Ray's: none may take a port fsr's agents use (9xxx)."""
    for k in (1, 2):
        listening = subprocess.run(["ip", "netns", "exec", f"{PREFIX}-h{k}", "ss", "-Hltn"],
                                   capture_output=True, text=True, check=True).stdout
        ports = {int(line.split()[3].rsplit(":", 1)[1]) for line in listening.splitlines()}
        assert ports and not ports & set(range(9000, 10000)), ports


@needs_root
def test_a_second_up_is_refused(cluster: local.LocalCluster) -> None:
    with pytest.raises(local.ClusterError, match=r"already up: .*fsr cluster down --prefix fsrt"):
        local.up(hosts=2, prefix=PREFIX, subnet=SUBNET, ray_port=RAY_PORT)
    assert local.current(PREFIX) == cluster


@needs_root
def test_down_leaves_no_process_namespace_or_link(cluster: local.LocalCluster) -> None:
    """Last of the cluster's tests: it takes the cluster down."""
    state = json.loads(Path(f"/run/{PREFIX}-cluster.json").read_text())
    before = cluster_pids(state)
    assert len(before) >= 3 * 4, "the head's and each host's Ray processes"
    started = time.monotonic()
    assert local.down(PREFIX) is True
    print(f"down in {time.monotonic() - started:.1f} s")
    assert [pid for pid in before if pid_alive(pid)] == []
    assert cluster_pids(state) == set()
    assert ours() == []
    assert not Path(f"/run/{PREFIX}-cluster.json").exists()
    assert local.current(PREFIX) is None
    mentions = subprocess.run(["pgrep", "-f", f"/tmp/{PREFIX}-ray"], capture_output=True,
                              text=True).stdout.split()
    assert [pid for pid in mentions if pid_alive(int(pid))] == []
    assert local.down(PREFIX) is False  # nothing left to remove


@needs_root
def test_a_host_that_does_not_come_up_is_named_and_all_is_torn_down(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """h1's `ray start` is given a flag it refuses: `up` names h1 and leaves nothing behind."""
    node_ports = local._node_ports
    monkeypatch.setattr(local, "_node_ports", lambda port, head: node_ports(port, head) if head
                        else ["--node-manager-port", "not-a-port"])
    try:
        with pytest.raises(local.ClusterError, match=r"^host h1 \(10\.78\.0\.11\): its Ray "
                                                     r"node exited .*see /tmp/fsrt-ray/h1\.log\)$"):
            local.up(hosts=2, prefix=PREFIX, subnet=SUBNET, ray_port=RAY_PORT)
    finally:
        assert local.down(PREFIX) is False, "up() tore it all down itself"
    assert ours() == []
    assert not Path(f"/run/{PREFIX}-cluster.json").exists()
    mentions = subprocess.run(["pgrep", "-f", f"/tmp/{PREFIX}-ray"], capture_output=True,
                              text=True).stdout.split()
    assert [pid for pid in mentions if pid_alive(int(pid))] == []


@pytest.mark.parametrize("command", ["up", "down"])
def test_without_root_both_commands_refuse_in_one_line(command: str) -> None:
    """As `nobody` (root drops to it with setpriv): exit code 2, one line, nothing made."""
    drop = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] \
        if os.geteuid() == 0 else []
    proc = subprocess.run([*drop, sys.executable, "-m", "fsr", "cluster", command,
                           "--prefix", "fsrtx"], capture_output=True, text=True, timeout=60,
                          env=ENV, cwd="/")
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "needs root" in proc.stderr, proc.stderr
    assert not Path("/run/fsrtx-cluster.json").exists()
    assert "fsrtx" not in ip("-o", "link") + ip("netns", "list")


def test_the_root_check_comes_before_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(local, "_run", lambda *a, **k: pytest.fail(f"ran {a}"))
    for call in (lambda: local.up(prefix="fsrtx"), lambda: local.down("fsrtx")):
        with pytest.raises(local.ClusterError, match="needs root") as err:
            call()
        assert "\n" not in str(err.value)
