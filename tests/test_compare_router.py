"""The ProtocolRouter comparison (`fsr.compare.router`): the per-role scores, the leave-one-out
choice of the mix and of the best single protocol, and the paired comparison — on small
synthetic metrics dicts, and the scores once on a metrics file computed from a hand-written
log (the real shape of ``details.inflight.hops``)."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest

from fsr.compare.router import (
    MIX,
    OUTCOMES,
    best_single,
    choose_mix,
    markdown,
    outcomes,
    role_scores,
    router_table,
)
from fsr.metrics import compute_metrics
from fsr.workload.roles import ROLES
from tests.metrics.test_inflight import storm_log

Metrics = dict[str, Any]
INF = math.inf


def hop(role: str, ms: float | None, fate: str | None = None, stage: str | None = None,
        copy_: int = 0) -> dict[str, Any]:
    """A hop caught on the victim of `role` (agent_i, i = the role's index + 4 x `copy_`, in a
    mesh of 8): let go after `ms`, or never (None, fate lost)."""
    victim = f"agent_{ROLES.index(role) + 4 * copy_}"
    return {"sender": "agent_7", "victim": victim, "task": "t", "stage": stage or role,
            "let_go_ms": ms, "signal": None if ms is None else "stream_closed", "held": False,
            "fate": fate or ("lost" if ms is None else "republished_answered")}


def run(lets: dict[str, list[float | None]] | None = None, recovery: float | None = 1000.0,
        **top: float | None) -> Metrics:
    """A single run's metrics: its hops' let-go times per role, and its outcomes."""
    hops = [hop(role, ms) for role, times in (lets or {}).items() for ms in times]
    return {"agent_count": 8, "recovery_ms": recovery, "steady_state_ms": top.get("steady"),
            "failover_ms": top.get("failover"), "success_rate_drop": top.get("drop"),
            "bytes_reconnect": top.get("bytes"),
            "inflight": {"let_go_ms": {"p50_ms": top.get("let_go")}},
            "details": {"inflight": {"hops": hops}}}


# -- role_scores ------------------------------------------------------------------------------
def test_role_scores_are_medians_by_the_victims_role() -> None:
    m = run({"extract": [100.0, 300.0, 200.0], "reason": [50.0]})
    assert role_scores(m) == {"extract": 200.0, "reason": 50.0}  # search, triple: no hop


def test_a_hop_never_let_go_counts_as_infinite() -> None:
    assert role_scores(run({"search": [100.0, 200.0, None]}))["search"] == 200.0
    assert role_scores(run({"search": [100.0, None, None]}))["search"] == INF
    assert role_scores(run({"search": [100.0, None]}))["search"] == INF


def test_a_hop_the_victim_answered_is_left_out() -> None:
    m = run({"triple": [400.0]})
    m["details"]["inflight"]["hops"].append(hop("triple", None, fate="answered_by_victim"))
    assert role_scores(m) == {"triple": 400.0}


def test_a_lookup_counts_for_its_victims_role_not_search() -> None:
    m = run()
    m["details"]["inflight"]["hops"] = [hop("triple", 80.0, stage="lookup"),
                                        hop("triple", 120.0, stage="lookup", copy_=1)]
    assert role_scores(m) == {"triple": 100.0}


def test_an_agent_holding_several_roles_counts_for_its_first() -> None:
    """In a mesh of 3, agent_0 holds search and reason and speaks search's protocol."""
    m = run()
    m["agent_count"] = 3
    m["details"]["inflight"]["hops"] = [hop("search", 70.0), hop("extract", 90.0)]
    assert role_scores(m) == {"search": 70.0, "extract": 90.0}


def test_role_scores_from_a_real_metrics_file() -> None:
    """storm_log with its agents renamed: s1 agent_0, v agent_1 (extract in a mesh of 3), s2
    agent_2. On v at the kill: m1 let go after 12 ms, m2 after 3500 ms, m3 answered by the
    victim (left out), m4 never let go (+inf): the median of 12, 3500, inf."""
    text = json.dumps(storm_log())
    for old, new in (('"s1"', '"agent_0"'), ('"s2"', '"agent_2"'), ('"v"', '"agent_1"')):
        text = text.replace(old, new)
    m = compute_metrics(json.loads(text))
    assert m["agent_count"] == 3 and len(m["details"]["inflight"]["hops"]) == 4
    assert role_scores(m) == {"extract": 3500.0}
    assert outcomes(m)["let_go_ms_p50"] == m["inflight"]["let_go_ms"]["p50_ms"] == 12.0
    assert set(outcomes(m)) == set(OUTCOMES)


# -- the choice -------------------------------------------------------------------------------
def singles_fixture() -> dict[str, dict[int, Metrics]]:
    """search: json lets go in 100 ms on seeds 1 and 2, but never on seed 3; a2a in 300 ms on
    every seed. extract: a2a always the faster."""
    return {
        "json": {1: run({"search": [100.0], "extract": [900.0]}, recovery=500.0),
                 2: run({"search": [100.0], "extract": [900.0]}, recovery=700.0),
                 3: run({"search": [None], "extract": [900.0]}, recovery=600.0)},
        "a2a": {s: run({"search": [300.0], "extract": [200.0]}, recovery=800.0)
                for s in (1, 2, 3)},
    }


def test_a_roles_choice_changes_with_the_other_seeds_data() -> None:
    singles = singles_fixture()
    # judged on seed 3: seeds 1 and 2 say json lets go of search work soonest
    assert choose_mix(singles, 3) == {"search": "json", "extract": "a2a", "triple": "json",
                                      "reason": "json"}
    # judged on seed 1 (or 2): seed 3's lost hop makes json's mean +inf
    assert choose_mix(singles, 1)["search"] == "a2a"
    assert choose_mix(singles, 2)["search"] == "a2a"


def test_leave_one_out_never_uses_the_judged_seed() -> None:
    singles = singles_fixture()
    before = choose_mix(singles, 3)
    changed = copy.deepcopy(singles)
    changed["json"][3] = run({"search": [1.0], "extract": [1.0], "triple": [1.0]}, recovery=1.0)
    assert choose_mix(changed, 3) == before
    assert best_single(changed, 3, "recovery_ms") == best_single(singles, 3, "recovery_ms")
    # the same change on another seed does move it
    changed["json"][2] = changed["json"][3]
    assert choose_mix(changed, 1)["extract"] == "json"


def test_a_role_without_data_gets_the_best_single_and_ties_the_first_listed() -> None:
    singles = singles_fixture()
    # no hop to triple or reason anywhere: the best single by recovery on seeds 1, 2 is json
    assert choose_mix(singles, 3)["triple"] == "json"
    assert best_single(singles, 1, "recovery_ms") == "json"  # (700 + 600) / 2 < 800
    slow = copy.deepcopy(singles)
    slow["json"][2]["recovery_ms"] = 2000.0
    assert best_single(slow, 1, "recovery_ms") == "a2a"
    assert choose_mix(slow, 1)["reason"] == "a2a"
    tied = {"acp": {1: run({"reason": [50.0]}), 2: run({"reason": [50.0]})},
            "anp": {1: run({"reason": [50.0]}), 2: run({"reason": [50.0]})}}
    assert choose_mix(tied, 1, ["reason"]) == {"reason": "acp"}
    assert choose_mix(dict(reversed(tied.items())), 1, ["reason"]) == {"reason": "anp"}


def test_best_single_skips_nulls_and_knows_when_nothing_is_known() -> None:
    singles = {"json": {1: run(drop=0.2), 2: run(drop=None)},
               "a2a": {1: run(drop=0.1), 2: run(drop=0.9)}}
    assert best_single(singles, 2, "success_rate_drop") == "a2a"  # seed 1 only: 0.1 < 0.2
    assert best_single(singles, 1, "success_rate_drop") == "a2a"  # json has no other value
    assert best_single(singles, 1, "failover_ms") is None


# -- the comparison ---------------------------------------------------------------------------
def test_router_table_pairs_the_mix_with_the_best_single_by_seed() -> None:
    singles = singles_fixture()
    # against json, the best single on every seed: +28 % on seed 1, +10 % on 2, −20 % on 3
    mixes = {1: run(recovery=640.0), 2: run(recovery=770.0), 3: run(recovery=480.0)}
    table = router_table(singles, mixes, [1, 2, 3])
    rows = {r["seed"]: r for r in table["rows"]}
    assert rows[3]["mix"]["search"] == "json" and rows[1]["mix"]["search"] == "a2a"
    # best by recovery, from the other seeds: seed 1 json (650), 2 json (550), 3 json (600)
    assert [r["best"]["recovery_ms"] for r in table["rows"]] == ["json", "json", "json"]
    assert rows[2]["outcomes"][MIX]["recovery_ms"] == 770.0
    c = table["compared"]["recovery_ms"]
    assert c["vs_best"]["seeds"] == [1, 2, 3]
    assert c["vs_best"]["diffs"] == [140.0, 70.0, -120.0]  # mix − json on each seed
    assert c["relative"]["mean"] == pytest.approx((0.28 + 0.1 - 0.2) / 3)
    assert c["vs"]["a2a"]["diffs"] == [-160.0, -30.0, -320.0]
    assert c["vs"]["a2a"]["mean"] == -170.0 and not c["vs"]["a2a"]["excludes_zero"]  # 2 df
    assert table["compared"]["failover_ms"]["vs_best"]["n"] == 0  # no run has it
    text = markdown(table)
    assert "| 3 | json | a2a | json | json |" in text
    row = next(line for line in text.splitlines() if line.startswith("| recovery_ms "))
    assert "| 1: json, 2: json, 3: json | +30.0 ± " in row  # the mean of 140, 70, −120
    assert "| +6.0 % ± " in row and "(3 seeds)" in row
    assert "| -170.0 ± " in row


def test_a_best_single_of_zero_has_no_relative_difference() -> None:
    singles = {"json": {1: run(steady=0.0), 2: run(steady=0.0)},
               "a2a": {1: run(steady=10.0), 2: run(steady=10.0)}}
    table = router_table(singles, {1: run(steady=5.0), 2: run(steady=5.0)}, [1, 2])
    c = table["compared"]["steady_state_ms"]
    assert c["vs_best"]["diffs"] == [5.0, 5.0] and c["relative"]["n"] == 0
