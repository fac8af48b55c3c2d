"""Test helpers: start `fsr` as a real process, read what its run logged."""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from fsr.compare.run import sigint_default

FSR = [sys.executable, "-m", "fsr"]


def write_config(path: Path, **sections: dict[str, Any]) -> Path:
    """A config file of these sections. Offline stages take microseconds here (service time
    none) unless the test gives a service time: most tests check mechanisms on compressed
    timelines, where LLM-like seconds per stage would not fit."""
    workload = sections.setdefault("workload", {})
    workload.setdefault("service_time", {"dist": "none"})
    path.write_text(yaml.safe_dump(sections))
    return path


def fast_config(tmp: Path, **extra: dict[str, Any]) -> Path:
    """A compressed timeline: the whole storm in ~15 s, heartbeats every 0.25 s. Seed 1 makes
    the victims agent_2 (triple) and agent_4 (search): two roles, each with a survivor."""
    sections: dict[str, dict[str, Any]] = {
        "scenario": {"duration": 14, "kill_at": 6, "restart_delay": 3, "task_rate": 5,
                     "seed": 1},
        "heartbeat": {"interval": 0.25, "liveness": 4},
        "timeouts": {"hop": 1.0, "task": 6.0},
        # 4.5 s windows hold ~22 tasks at 5 a second: enough for the settling rule to decide
        # (19 at a band of 0.2, `fsr.metrics.steady.tasks_needed`)
        "metrics": {"reconnect_window": 5, "steady_window": 4.5, "steady_step": 0.5,
                    "steady_band": 0.2},
    }
    for name, values in extra.items():
        sections.setdefault(name, {}).update(values)
    return write_config(tmp / "fsr.yaml", **sections)


def clean_env() -> dict[str, str]:
    """The caller's environment minus OPENAI_* (which would override a test's endpoint)."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")},
            "COLUMNS": "120"}


def run_fsr(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FSR, *args], capture_output=True, text=True, timeout=timeout,
                          env=clean_env(), preexec_fn=sigint_default)


def start_fsr(*args: str) -> subprocess.Popen[str]:
    # SIGINT back to default: a suite started as a background job (SIGINT ignored) must still
    # be able to interrupt the runs it starts
    return subprocess.Popen([*FSR, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=clean_env(), preexec_fn=sigint_default)


def log_path(run_dir: Path) -> Path:
    logs = list((run_dir / "logs").glob("fail_storm_*.jsonl"))
    assert len(logs) == 1, logs
    return logs[0]


def events(run_dir: Path) -> list[dict[str, Any]]:
    out = []
    for line in log_path(run_dir).read_bytes().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return sorted(out, key=lambda e: e["ts"])


def metrics(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "failstorm_metrics.json").read_text())


def wait_for_event(run_dir: Path, pred: Any, timeout: float = 60) -> dict[str, Any]:
    """Poll the live log until an event matches `pred` (the log is the run's clock)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (run_dir / "logs").exists() and list((run_dir / "logs").glob("fail_storm_*.jsonl")):
            for e in events(run_dir):
                if pred(e):
                    return e
        time.sleep(0.05)
    raise AssertionError("event never logged")


@functools.cache
def network_faults_unavailable() -> str | None:
    """Why network faults cannot run here (root, iptables-legacy, a network namespace), or None;
    asked once per test session."""
    from fsr.injector.network import check_available

    return check_available()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is dead for our purposes. The state follows the
    # "(comm) " field, which may itself contain spaces.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


class HangingEndpoint:
    """A TCP server that accepts every connection and never answers (an LLM endpoint that
    hangs): stages calling it stay open for as long as the test needs."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.held: list[Any] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/v1"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                self.held.append(self.server.accept()[0])
            except TimeoutError:
                continue

    def __enter__(self) -> HangingEndpoint:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()
        for conn in self.held:
            conn.close()
        self.server.close()


class FakeServer:
    """A tiny OpenAI-compatible server: records requests, answers by the stage's last message."""

    def __init__(self, status: int = 200,
                 delay: float | Callable[[], float] = 0.0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = status
        self.delay = delay
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer._lock:
                    outer.requests.append(
                        {
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                            "t": time.monotonic(),  # when it arrived: retry gaps are measured
                        }
                    )
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                try:
                    delay = outer.delay() if callable(outer.delay) else outer.delay
                    if delay:
                        time.sleep(delay)
                    if outer.status != 200:
                        # Echo the Authorization header, as a careless server might.
                        payload = {"error": {"message": f"denied {self.headers['Authorization']}"}}
                    else:
                        payload = outer.completion(body)
                    data = json.dumps(payload).encode()
                    self.send_response(outer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    with outer._lock:
                        outer.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @staticmethod
    def completion(body: dict[str, Any]) -> dict[str, Any]:
        last = body["messages"][-1]["content"]
        if last.startswith("Sentence:"):
            content = "Ada Lovelace | wrote | the first program\nextra line"
        elif last.startswith("Text:"):
            content = "Sentence: Ada Lovelace wrote the first program."
        else:
            content = ' "Answer: Ada Lovelace."\nBecause the fact says so.'
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49},
        }

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


WIRE_EVENTS = ("send", "hb_tally", "zmtp_connect")


def wire_between(evs: list[dict[str, Any]], start: float, end: float) -> int:
    """Every wire byte the log holds in [start, end]: sends, heartbeat tallies, connections."""
    return sum(e["wire"] for e in evs if e["event"] in WIRE_EVENTS and start <= e["ts"] <= end)


def check_storm_figures(evs: list[dict[str, Any]], m: dict[str, Any], duration: float) -> None:
    """The headline figures of a one-storm kill run, against its log and the bounds its scenario
    (`duration` s of work) sets: each figure a value the log reproduces, inside the post-fault
    part of the run — not merely "not None"."""
    kills = {e["victim"]: e["kill_ts"] for e in evs if e["event"] == "kill"}
    assert kills and sorted(kills) == sorted(m["fault"]["victims"]), (kills, m["fault"])
    fault = min(kills.values())
    t0 = next(e["ts"] for e in evs if e["event"] == "phase" and e["name"] == "broadcast")
    after_ms = (t0 + duration - fault) * 1000  # the post-fault part of the run
    # recovery: a survivor's first recovery message, an event of the log, within the run
    rec = m["details"]["recovery"]
    assert 0 < m["recovery_ms"] <= after_ms, rec
    assert any(e["event"] == rec["event"] and e["node"] not in kills
               and round((e["ts"] - fault) * 1000, 3) == m["recovery_ms"] for e in evs), rec
    if m["steady_state_ms"] is not None:
        assert 0 <= m["steady_state_ms"] <= after_ms
    # bytes_reconnect: every wire byte of the window, as the log counts them
    window = m["details"]["bytes_reconnect"]["window_s"]
    assert m["bytes_reconnect"] == wire_between(evs, fault, fault + window) > 0
    # success rates: shares of the tasks the log has in each window, the drop their ratio
    ends: dict[str, float] = {}
    for e in evs:
        if e["event"] == "task_end":
            ends.setdefault(e["task"], e["ts"])
    submits = {e["task"]: e["ts"] for e in evs if e["event"] == "task_submit"}
    drop = m["details"]["success_rate_drop"]
    pre, post = drop["pre"], drop["post"]
    assert pre["n"] == sum(t0 <= ts < fault and ends.get(t, fault) < fault
                           for t, ts in submits.items())
    assert post["n"] == sum(t0 <= ts < t0 + duration and ends.get(t, fault) >= fault
                            for t, ts in submits.items()) > 0
    for side in (pre, post):
        if side["n"]:
            k = side[side["success"]]["k"]
            assert 0 <= k <= side["n"] and side["success_rate"] == round(k / side["n"], 3)
    if m["success_rate_drop"] is not None:
        rate_pre, rate_post = pre["success_rate"], post["success_rate"]
        assert m["success_rate_drop"] == round((rate_pre - rate_post) / rate_pre, 3) <= 1
    # duplicate work: (task, stage) executions run more than once, over all executions
    execs = [(e["task"], e["stage"]) for e in evs if e["event"] == "stage_exec"]
    assert execs and m["duplicate_work_ratio"] == round(
        (len(execs) - len(set(execs))) / len(execs), 3) < 1
    # detection: survivors of victims, each after the kill and within the run
    pairs = m["details"]["detection"]["pairs"]
    assert len(pairs) == m["detection_ms"]["n"] > 0
    assert all(p["victim"] in kills and p["observer"] not in kills and 0 < p["ms"] <= after_ms
               for p in pairs), pairs
    assert m["detection_ms"]["max_ms"] == max(p["ms"] for p in pairs)
