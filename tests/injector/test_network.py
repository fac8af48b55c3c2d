"""Network faults on real processes and real TCP sockets, in a network namespace of the run's own.

One scenario runs in a forked child that enters its own namespace (this test process stays in the
host's): it is the "runner" (no fault group, listens on RUNNER_PORT where the agents register and
take commands) and forks 4 agents that each join their fault group, listen on their port and keep
one established connection to every other agent. The scenario reports what it measured; the tests
assert on it.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import threading
import time
import traceback
from typing import Any

import pytest

from fsr.injector import network
from fsr.injector.network import (
    NetworkFaults,
    base_rules,
    enter_run_namespace,
    fault_rules,
    join_fault_group,
)
from tests.helpers import network_faults_unavailable

N = 4
RUNNER_PORT = 9790
PARTITION_TIMEOUT = 1.0
HEAL_TIMEOUT = 8.0
FORK = multiprocessing.get_context("fork")
UNAVAILABLE = network_faults_unavailable()


def _port(i: int) -> int:
    return 9700 + 2 * i  # data port; the heartbeat port p+1 is in the rules but unused here


def _ping(sock: socket.socket, timeout: float) -> str:
    """One round trip on an echo connection; echoes of earlier timed-out pings are skipped."""
    token = os.urandom(8).hex().encode()
    sock.settimeout(timeout)
    sock.sendall(token + b"\n")
    deadline, buf = time.monotonic() + timeout, b""
    while token not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            return "timeout"
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return "timeout"
        if not chunk:
            return "error: closed"
        buf += chunk
    return "ok"


def _fresh(port: int, timeout: float) -> str:
    """A new connection, one round trip on it, closed."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            return _ping(sock, timeout)
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        return f"error: {exc}"


def _parallel(jobs: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {}

    def run(key: str, job: Any) -> None:
        try:
            results[key] = job()
        except OSError as exc:
            results[key] = f"error: {exc}"

    threads = [threading.Thread(target=run, args=kv) for kv in jobs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _echo(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


def _burst(sock: socket.socket, seconds: float) -> dict[str, int]:
    counts = {"ok": 0, "lost": 0}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        counts["ok" if _ping(sock, 0.3) == "ok" else "lost"] += 1
        time.sleep(0.01)
    return counts


def _agent(index: int) -> None:
    join_fault_group(index)
    listener = socket.create_server(("127.0.0.1", _port(index)))

    def serve() -> None:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=_echo, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    ctrl = socket.create_connection(("127.0.0.1", RUNNER_PORT), timeout=10)
    ctrl.settimeout(None)
    stream = ctrl.makefile("rwb")
    stream.write(json.dumps({"hello": index}).encode() + b"\n")
    stream.flush()
    outs: dict[int, socket.socket] = {}
    for line in stream:
        cmd = json.loads(line)
        if cmd["op"] == "connect":
            peers = [j for j in range(N) if j != index]
            outs = {j: socket.create_connection(("127.0.0.1", _port(j)), timeout=5) for j in peers}
            reply: Any = sorted(outs)
        elif cmd["op"] == "check":
            t = cmd["timeout"]
            reply = _parallel({
                **{f"ping{j}": (lambda s=s, t=t: _ping(s, t)) for j, s in outs.items()},
                **{f"fresh{j}": (lambda j=j, t=t: _fresh(_port(j), t)) for j in outs}})
        elif cmd["op"] == "burst":
            reply = _parallel({f"{j}": (lambda s=outs[j], d=cmd["seconds"]: _burst(s, d))
                               for j in cmd["peers"]})
        else:
            break
        stream.write(json.dumps(reply).encode() + b"\n")
        stream.flush()


class _Runner:
    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", RUNNER_PORT))
        self.server.settimeout(10)
        self.procs = [FORK.Process(target=_agent, args=(i,), daemon=True) for i in range(N)]
        for p in self.procs:
            p.start()
        self.agents: dict[int, Any] = {}
        for _ in range(N):
            conn, _ = self.server.accept()
            conn.settimeout(30)
            stream = conn.makefile("rwb")
            self.agents[json.loads(stream.readline())["hello"]] = stream

    def ask(self, cmds: dict[int, dict[str, Any]]) -> dict[int, Any]:
        """Send each agent its command, then collect the replies (the agents work at once)."""
        for i, cmd in cmds.items():
            self.agents[i].write(json.dumps(cmd).encode() + b"\n")
            self.agents[i].flush()
        return {i: json.loads(self.agents[i].readline()) for i in cmds}

    def check(self, timeout: float) -> dict[str, Any]:
        """Every agent pings every other (established and new connection) while the runner
        opens its own connection to every agent; the agent commands are the runner <- agent
        direction (agents opened those connections)."""
        own = threading.Thread(target=lambda: result.update(runner=_parallel(
            {f"fresh{i}": (lambda i=i: _fresh(_port(i), timeout)) for i in range(N)})))
        result: dict[str, Any] = {}
        started = time.monotonic()
        own.start()
        result["agents"] = {i: r for i, r in self.ask(
            {i: {"op": "check", "timeout": timeout} for i in range(N)}).items()}
        own.join()
        result["seconds"] = time.monotonic() - started
        result["alive"] = [p.is_alive() for p in self.procs]
        return result

    def stop(self) -> None:
        for stream in self.agents.values():
            stream.write(b'{"op": "exit"}\n')
            stream.flush()
        for p in self.procs:
            p.join(5)
            if p.is_alive():
                p.kill()


def _scenario(pipe: Any) -> dict[str, Any]:
    enter_run_namespace()
    out: dict[str, Any] = {}
    with NetworkFaults({i: (_port(i), _port(i) + 1) for i in range(N)}) as faults:
        runner = _Runner()
        try:
            out["connected"] = runner.ask({i: {"op": "connect"} for i in range(N)})
            pipe.send(("ready", None))  # the host namespace probes our ports meanwhile
            pipe.recv()
            out["baseline"] = runner.check(PARTITION_TIMEOUT)
            handle = faults.partition([0, 1])
            out["partition_rules"] = faults.rules[handle]
            out["partitioned"] = runner.check(PARTITION_TIMEOUT)
            out["partition_stats"] = faults.stats(handle)
            faults.clear(handle)
            out["healed"] = runner.check(HEAL_TIMEOUT)
            handle = faults.loss([0], 30)
            burst = {"op": "burst", "seconds": 2.0}
            out["loss_bursts"] = runner.ask({0: burst | {"peers": [1, 2, 3]},
                                             **{i: burst | {"peers": [0]} for i in (1, 2, 3)}})
            out["loss_stats"] = faults.stats(handle)
            faults.clear(handle)
            out["alive_at_end"] = [p.is_alive() for p in runner.procs]
        finally:
            runner.stop()
    out["after_close"] = network.iptables("-S")
    return out


def _child(pipe: Any) -> None:
    try:
        pipe.send(("ok", _scenario(pipe)))
    except BaseException:
        pipe.send(("error", traceback.format_exc()))


def _host_rules() -> str:
    return subprocess.run(["iptables-legacy", "-S"], capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture(scope="module")
def run(network_faults: None) -> dict[str, Any]:
    before = _host_rules()
    ours, theirs = FORK.Pipe()
    child = FORK.Process(target=_child, args=(theirs,))
    started = time.monotonic()
    child.start()
    assert ours.poll(30), "scenario did not get ready within 30 s"
    status, result = ours.recv()
    probes = {}
    if status == "ready":  # the run's listeners must not exist in the host's namespace
        probes = {port: _fresh(port, 1.0) for port in (_port(0), RUNNER_PORT)}
        ours.send("go")
        assert ours.poll(60), "scenario did not report within 60 s"
        status, result = ours.recv()
    child.join(10)
    assert status == "ok", result
    result.update(host_probes=probes, host_before=before, host_after=_host_rules(),
                  exitcode=child.exitcode, runtime=time.monotonic() - started)
    print(f"scenario took {result['runtime']:.1f} s")
    return result


def _same_side(i: int, j: int) -> bool:
    return (i < 2) == (j < 2)


def test_check_available() -> None:
    have = os.geteuid() == 0 and subprocess.run(["which", "iptables-legacy"],
                                               capture_output=True).returncode == 0
    if have:
        assert UNAVAILABLE is None
    else:
        assert isinstance(UNAVAILABLE, str) and UNAVAILABLE and "\n" not in UNAVAILABLE


def test_baseline_everyone_talks(run: dict[str, Any]) -> None:
    base = run["baseline"]
    assert all(r == "ok" for a in base["agents"].values() for r in a.values()), base
    assert all(r == "ok" for r in base["runner"].values()), base


def test_partition_cuts_across_only(run: dict[str, Any]) -> None:
    part = run["partitioned"]
    print(f"partitioned: {part['agents']}, stats {run['partition_stats']}")
    for i, results in part["agents"].items():
        for key, res in results.items():
            j = int(key.removeprefix("ping").removeprefix("fresh"))
            if _same_side(int(i), j):
                assert res == "ok", (i, key, res)
            elif key.startswith("ping"):  # established connection: silent, not reset
                assert res == "timeout", (i, key, res)
            else:
                assert res != "ok", (i, key, res)
    assert all(r == "ok" for r in part["runner"].values()), part["runner"]
    assert part["seconds"] < PARTITION_TIMEOUT + 3
    assert all(part["alive"])
    assert run["partition_stats"]["dropped"] > 0
    assert len(run["partition_rules"]) <= 12  # O(len(targets)), not O(N^2)


def test_clear_heals_established_and_new_connections(run: dict[str, Any]) -> None:
    healed = run["healed"]
    print(f"healed in {healed['seconds']:.2f} s")
    assert all(r == "ok" for a in healed["agents"].values() for r in a.values()), healed
    assert healed["seconds"] < HEAL_TIMEOUT
    assert all(healed["alive"]) and all(run["alive_at_end"])


def test_loss_drops_a_plausible_share(run: dict[str, Any]) -> None:
    stats = run["loss_stats"]
    share = stats["dropped"] / stats["involved"]
    print(f"loss 30 %: {stats}, share {share:.2f}, bursts {run['loss_bursts']}")
    assert stats["involved"] >= 60, stats
    assert 0.10 <= share <= 0.60, stats
    # agent 0 with peers: some pings still get through
    assert sum(c["ok"] for c in run["loss_bursts"][0].values()) > 0


def test_host_untouched(run: dict[str, Any]) -> None:
    assert run["exitcode"] == 0
    assert "fsr-" not in run["after_close"]
    assert "fsr-" not in run["host_after"]
    assert run["host_after"] == run["host_before"]
    assert all(r.startswith("error") and "refused" in r for r in run["host_probes"].values()), \
        run["host_probes"]
    assert len(run["host_probes"]) == 2


def test_rules_scale_with_targets_not_agents(network_faults: None) -> None:
    ports = {i: (9000 + 2 * i, 9001 + 2 * i) for i in range(256)}
    one = fault_rules("fsr-f1", [5], ports, ["-j DROP"])
    half = fault_rules("fsr-f2", list(range(0, 256, 2)), ports, ["-j DROP"])
    assert len(one) < 10 and len(half) < 3 * 128 + 10
    lines = base_rules(ports) + one + half
    text = "*filter\n" + "\n".join(lines) + "\nCOMMIT\n"
    proc = subprocess.run(["unshare", "-n", "sh", "-c", "iptables-legacy-restore -n && "
                           "iptables-legacy -S | wc -l"], input=text, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) >= len(lines)
