"""A healthy run on real processes: `fsr run --protocol json --kill-fraction 0 --duration 20`."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest

from fsr.workload.grading import exact_match
from tests.helpers import events, metrics, run_fsr

TERMINAL = {"answered", "failed", "timed_out"}


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("healthy") / "run"
    proc = run_fsr("run", "--protocol", "json", "--kill-fraction", "0", "--duration", "20",
                   "--service-time", "none",
                   "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_writes_metrics_and_log(healthy: Path) -> None:
    assert (healthy / "failstorm_metrics.json").is_file()
    assert list((healthy / "logs").glob("fail_storm_*.jsonl"))
    for i in range(8):
        assert (healthy / "workspaces" / f"agent_{i}" / "shard.json").is_file()


def test_answers_graded_against_gold(healthy: Path) -> None:
    evs = events(healthy)
    gold = {e["task"]: e["gold"] for e in evs if e["event"] == "task_submit"}
    ends = [e for e in evs if e["event"] == "task_end"]
    correct = sum(exact_match(e["answer"], gold[e["task"]]) for e in ends
                  if e["status"] == "answered")
    assert len(gold) >= 60
    assert correct / len(gold) >= 0.95
    assert metrics(healthy)["tasks"]["correct"] == correct


def test_every_task_ends_exactly_once(healthy: Path) -> None:
    evs = events(healthy)
    ends = Counter(e["task"] for e in evs if e["event"] == "task_end")
    submitted = {e["task"] for e in evs if e["event"] == "task_submit"}
    assert set(ends) == submitted
    assert set(ends.values()) == {1}
    assert {e["status"] for e in evs if e["event"] == "task_end"} <= TERMINAL


def test_every_hop_crosses_between_processes(healthy: Path) -> None:
    evs = events(healthy)
    pid = {e["node"]: e["pid"] for e in evs if e["event"] == "agent_started"}
    assert len(set(pid.values())) == 8
    hops = [e for e in evs if e["event"] == "hop_sent"]
    assert hops
    for hop in hops:
        assert hop["node"] != hop["dst"] and pid[hop["node"]] != pid[hop["dst"]]
    # and each hop was really framed and sent on the wire, then delivered at the other end
    sent = {e["mid"] for e in evs if e["event"] == "send" and e["cat"] == "task"}
    delivered = {e["mid"] for e in evs if e["event"] == "deliver"}
    assert {h["mid"] for h in hops} <= sent & delivered


def test_each_agent_used_exactly_one_tool(healthy: Path) -> None:
    tools = defaultdict(set)
    for e in events(healthy):
        if e["event"] == "stage_exec":
            tools[e["node"]].add(e["stage"])
        elif e["event"] == "lookup_exec":
            tools[e["node"]].add("lookup_fragment")  # the holder side of search
    for node, used in tools.items():
        stages = used - {"lookup_fragment"}
        assert len(stages) <= 1, (node, used)
    assert {next(iter(u - {"lookup_fragment"})) for u in tools.values()
            if u - {"lookup_fragment"}} == {"search", "extract", "triple", "reason"}


def test_byte_totals_equal_logged_sends(healthy: Path) -> None:
    evs = events(healthy)
    m = metrics(healthy)
    wire = [e for e in evs if e["event"] in ("send", "hb_tally", "zmtp_connect")]
    assert m["bytes"]["total"] == sum(e["wire"] for e in wire)
    # a heartbeat tally's totals are the sum of its per-source counts, from the run's nodes
    nodes = {e["node"] for e in evs}
    for e in (e for e in wire if e["event"] == "hb_tally"):
        by_src = e["by_src"].values()
        assert [e["copies"], e["wire"], e["sec"]] == [sum(c) for c in zip(*by_src, strict=True)]
        assert set(e["by_src"]) <= nodes - {e["node"]}
    for cat, total in m["bytes"]["by_category"].items():
        assert total == sum(e["wire"] for e in wire if e["cat"] == cat)
    assert all(v > 0 for v in m["bytes"]["by_category"].values())


def test_no_false_suspicion_and_no_drop(healthy: Path) -> None:
    evs = events(healthy)
    assert not [e for e in evs if e["event"] == "peer_suspected"]
    m = metrics(healthy)
    assert m["fault"]["injected"] is False
    assert abs(m["success_rate_drop"]) <= 0.05
    assert m["recovery_ms"] is None and m["details"]["detection"]["reason"] == "no fault injected"


def test_nothing_dropped_or_stale_without_a_fault(healthy: Path) -> None:
    # No fault was injected, so no frame may be rejected and no reply may arrive late.
    evs = events(healthy)
    assert [e for e in evs if e["event"] in ("frame_dropped", "stale_reply")] == []
