"""The overhead report: exact figures on a hand-written log, and sums re-derived from a real run."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fsr.config import load_config, to_dict
from fsr.eventlog import read_events
from fsr.metrics import compute_metrics
from fsr.metrics.history import build_history
from fsr.metrics.overhead import overhead

CONFIG = to_dict(load_config(None, {"scenario.agent_count": 2, "scenario.duration": 10,
                                    "scenario.kill_at": 5, "scenario.restart_delay": "never"}))


def ev(ts: float, event: str, **fields: Any) -> dict[str, Any]:
    return {"ts": ts, "node": fields.pop("node", "a"), "event": event, **fields}


def send(ts: float, cat: str, wire: int, pay: int, env: int) -> dict[str, Any]:
    return ev(ts, "send", dst="b", cat=cat, kind=cat, mid="m", wire=wire, pay=pay, env=env)


def hand_log() -> list[dict[str, Any]]:
    return [
        ev(0.0, "run_start", run_id="r", config=CONFIG, agents=[{"id": "a"}, {"id": "b"}]),
        ev(0.5, "zmtp_connect", peer="b", sock="sub", cat="handshake", wire=194),
        ev(0.6, "zmtp_connect", peer="b", sock="dealer", cat="handshake", wire=200),
        send(0.7, "handshake", 182, 84, 96),
        send(0.8, "handshake", 186, 84, 100),
        ev(0.9, "handshake_done", peer="b"),
        send(0.95, "handshake", 182, 84, 96),  # a second hello that never completed
        ev(1.0, "phase", name="broadcast"),
        send(1.0, "broadcast", 1009, 900, 100),
        # two heartbeat copies from b, of 74 and 76 bytes, tallied at the end of the interval
        ev(1.2, "hb_tally", cat="heartbeat", copies=2, wire=150, by_src={"b": [2, 150]}),
        ev(2.0, "task_submit", task="t1", gold="x", entry="a"),
        ev(2.0, "task_submit", task="t2", gold="y", entry="a"),
        ev(2.0, "task_submit", task="t3", gold="z", entry="a"),
        send(2.0, "control", 50, 46, 0),
        send(2.1, "task", 229, 123, 104),
        send(2.2, "task", 432, 306, 117),
        send(2.3, "task", 1300, 1100, 191),
        ev(3.0, "task_end", task="t1", status="answered", answer="x"),
        ev(3.0, "task_end", task="t2", status="answered", answer="wrong"),
        ev(3.0, "task_end", task="t3", status="failed"),
        ev(4.0, "run_end", reason="completed"),
    ]


def test_hand_written_log_gives_exact_figures() -> None:
    o = overhead(build_history(hand_log()))
    # task: wire 229+432+1300 = 1961, payload 1529, envelope 412, framing 1961-1529-412 = 20;
    # answered tasks: t1 and t2 (a wrong answer is still an answer), not the failed t3
    assert o["task"] == {"frames": 3, "wire": 1961, "payload": 1529, "envelope": 412,
                         "security": 0, "zmtp_framing": 20,
                         "overhead_share": round(432 / 1961, 3)}
    assert o["per_answered_task"] == {"answered": 2, "frames": 1.5, "wire": 980.5,
                                      "payload": 764.5, "envelope": 206.0, "security": 0.0,
                                      "zmtp_framing": 10.0}
    assert o["heartbeat"] == {"copies": 2, "bytes_per_heartbeat": 75.0, "total": 150,
                              "security": 0,  # no SWIM in this log (membership pubsub)
                              "swim": {"frames": 0, "wire": 0, "payload": 0, "envelope": 0,
                                       "security": 0, "zmtp_framing": 0}}
    hs = o["handshake"]
    assert hs["protocol"] == {"frames": 3, "wire": 550, "payload": 252, "envelope": 292,
                              "security": 0, "zmtp_framing": 6}
    assert hs["zmtp"] == {"connections": 2, "wire": 394, "security": 0,
                          "by_socket": {"dealer": {"connections": 1, "wire": 200},
                                        "sub": {"connections": 1, "wire": 194}}}
    assert hs["completed"] == 1
    assert hs["frames_per_completed"] == 3.0
    assert hs["bytes_per_completed"] == 550.0
    assert hs["bytes_per_completed_with_zmtp"] == 944.0
    assert hs["total"] == 944
    assert o["control"] == {"frames": 1, "wire": 50, "payload": 46, "envelope": 0,
                            "security": 0, "zmtp_framing": 4}
    assert o["broadcast"] == {"frames": 1, "wire": 1009, "payload": 900, "envelope": 100,
                              "security": 0, "zmtp_framing": 9}
    assert o["total"] == 1961 + 150 + 944 + 50 + 1009


def test_curve_bytes_are_split_out_of_the_framing() -> None:
    # the same log as if under CURVE: each wire-carrying event costs `sec` more, and says so
    extra = {"send": 33, "hb_tally": 2 * 33, "zmtp_connect": 654}  # the tally: two copies
    log = [{**e, "wire": e["wire"] + extra[e["event"]], "sec": extra[e["event"]]}
           if e["event"] in extra else e for e in hand_log()]
    o = overhead(build_history(log))
    assert o["task"] == {"frames": 3, "wire": 1961 + 99, "payload": 1529, "envelope": 412,
                         "security": 99, "zmtp_framing": 20,
                         "overhead_share": round(432 / 2060, 3)}  # CURVE is not the protocol's
    assert o["per_answered_task"]["security"] == 49.5
    assert o["heartbeat"]["security"] == 66
    assert o["handshake"]["zmtp"]["security"] == 2 * 654
    m = compute_metrics(log)
    assert m["bytes"]["security"] == 8 * 33 + 2 * 33 + 2 * 654  # 8 sends, 2 copies, 2 connects
    assert m["bytes"]["sends"] == {"payload": 1529 + 252 + 900 + 46,
                                   "envelope": 412 + 292 + 100, "security": 8 * 33,
                                   "zmtp_framing": 20 + 6 + 9 + 4}


def test_nothing_to_divide_by_gives_none() -> None:
    log = [e for e in hand_log() if e["event"] not in ("task_end", "hb_tally", "handshake_done")]
    o = overhead(build_history(log))
    assert o["per_answered_task"]["answered"] == 0
    assert o["per_answered_task"]["wire"] is None
    assert o["heartbeat"]["bytes_per_heartbeat"] is None
    assert o["handshake"]["frames_per_completed"] is None
    assert o["handshake"]["bytes_per_completed"] is None


def test_compute_metrics_carries_the_overhead_report() -> None:
    m = compute_metrics(hand_log())
    assert m["overhead"] == overhead(build_history(hand_log()))
    assert m["overhead"]["total"] == m["bytes"]["total"]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[dict]]:
    from fsr.runner.launch import launch

    out = tmp_path_factory.mktemp("overhead") / "run"
    cfg = load_config(None, {"scenario.agent_count": 4, "scenario.duration": 4,
                             "scenario.kill_at": 2, "scenario.restart_delay": 1,
                             "heartbeat.interval": 0.5})
    assert launch(cfg, str(out), False) == 0
    metrics = json.loads((out / "failstorm_metrics.json").read_text())
    events, bad = read_events(next((out / "logs").glob("fail_storm_*.jsonl")))
    assert bad == 0
    return metrics, events


def test_real_run_figures_are_sums_of_the_log(real_run: tuple[dict[str, Any], list[dict]]) -> None:
    metrics, events = real_run
    o = metrics["overhead"]
    sends = [e for e in events if e["event"] == "send"]

    def cat_sum(cat: str, key: str) -> int:
        return sum(e[key] for e in sends if e["cat"] == cat)

    first_end: dict[str, str] = {}
    for e in events:
        if e["event"] == "task_end":
            first_end.setdefault(e["task"], e["status"])
    answered = sum(s == "answered" for s in first_end.values())
    assert answered > 0 and o["per_answered_task"]["answered"] == answered
    assert o["per_answered_task"]["wire"] == round(cat_sum("task", "wire") / answered, 3)
    assert o["per_answered_task"]["payload"] == round(cat_sum("task", "pay") / answered, 3)
    assert o["per_answered_task"]["envelope"] == round(cat_sum("task", "env") / answered, 3)
    # the run is under CURVE (the default): `sec` is its own figure, apart from the framing
    assert cat_sum("task", "sec") > 0
    assert o["per_answered_task"]["security"] == round(cat_sum("task", "sec") / answered, 3)
    framing = (cat_sum("task", "wire") - cat_sum("task", "pay") - cat_sum("task", "env")
               - cat_sum("task", "sec"))
    assert o["per_answered_task"]["zmtp_framing"] == round(framing / answered, 3)

    tallies = [e for e in events if e["event"] == "hb_tally"]
    copies = sum(c for e in tallies for c, *_ in e["by_src"].values())
    beats = sum(wire for e in tallies for _, wire, *_ in e["by_src"].values())
    assert copies > 0 and o["heartbeat"]["copies"] == copies
    assert o["heartbeat"]["total"] == beats
    assert o["heartbeat"]["bytes_per_heartbeat"] == round(beats / copies, 3)
    assert o["heartbeat"]["security"] == sum(sec for e in tallies
                                             for *_, sec in e["by_src"].values()) > 0

    hs = o["handshake"]
    zmtp = sum(e["wire"] for e in events if e["event"] == "zmtp_connect")
    done = sum(e["event"] == "handshake_done" for e in events)
    frames = sum(e["cat"] == "handshake" for e in sends)
    assert done > 0 and hs["completed"] == done
    assert hs["protocol"]["wire"] == cat_sum("handshake", "wire")
    assert hs["zmtp"]["wire"] == zmtp
    assert hs["frames_per_completed"] == round(frames / done, 3)
    assert hs["bytes_per_completed"] == round(cat_sum("handshake", "wire") / done, 3)
    assert o["control"]["wire"] == cat_sum("control", "wire")
    assert o["broadcast"]["wire"] == cat_sum("broadcast", "wire")
    # every wire byte of the run is in exactly one figure
    assert o["total"] == metrics["bytes"]["total"]
    assert compute_metrics(events)["overhead"] == o
