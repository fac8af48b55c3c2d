"""`fsr compare`: the CI math (mean and paired difference), aggregation and reports from synthetic
metrics files, flag validation, a failing run that does not stop the comparison, and one real
quick comparison."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest
import yaml

from fsr.compare.aggregate import (
    MANIFEST,
    METRICS,
    RunRecord,
    aggregate,
    baselines,
    by_seed,
    load_runs,
)
from fsr.compare.html import write_comparison_report
from fsr.compare.report import (
    MARK,
    csv_text,
    diff_cell,
    markdown,
    metric_table,
    notes,
    paired_table,
)
from fsr.compare.run import QUICK, execute, plan
from fsr.compare.stats import T975, mean_ci, paired_diff, t975
from fsr.config import Config, ConfigError
from fsr.runner.rundir import METRICS_FILE, write_metrics
from tests.helpers import run_fsr


# -- the CI math ------------------------------------------------------------------------------
def t_cdf(x: float, df: int, steps: int = 20000) -> float:
    """Student t CDF by Simpson's rule over its density: an independent check of the table."""
    c = math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2))

    def pdf(u: float) -> float:
        return c * (1 + u * u / df) ** (-(df + 1) / 2)

    h = x / steps
    s = pdf(0) + pdf(x) + sum((4 if i % 2 else 2) * pdf(i * h) for i in range(1, steps))
    return 0.5 + s * h / 3


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 9, 10, 19, 29, 30, 31, 45, 120])
def test_t_quantile_matches_the_t_distribution(df: int) -> None:
    # the 4-decimal table is within 5e-5 of the quantile: the CDF there is 0.975 to ~1e-5
    assert t_cdf(t975(df), df) == pytest.approx(0.975, abs=2e-5)


def test_t_table_is_decreasing_and_above_the_normal_quantile() -> None:
    assert len(T975) == 30
    assert all(a > b for a, b in zip(T975, T975[1:], strict=False))
    assert t975(1000) == pytest.approx(1.9623, abs=1e-4)
    with pytest.raises(ValueError):
        t975(0)


def test_mean_ci_on_known_numbers() -> None:
    s = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    # mean 3, s = sqrt(2.5), half-width = t(0.975, 4) * s / sqrt(5) = 2.7764 * sqrt(0.5)
    assert s["n"] == 5 and s["mean"] == 3.0
    assert s["sd"] == round(math.sqrt(2.5), 6)
    assert s["ci95"] == round(2.7764 * math.sqrt(0.5), 6) == 1.963211
    assert (s["low"], s["high"]) == (1.036789, 4.963211)
    two = mean_ci([10.0, 14.0])  # s = 2*sqrt(2), half = 12.7062 * 2 = 25.4124
    assert two["ci95"] == 25.4124 and two["mean"] == 12.0
    assert mean_ci([7.0]) == {"n": 1, "mean": 7.0, "sd": None, "ci95": None, "low": None,
                              "high": None}
    assert mean_ci([])["mean"] is None


# -- the paired difference --------------------------------------------------------------------
def test_paired_diff_by_hand_three_pairs() -> None:
    # seeds 42..44: d = 12-10, 15-11, 20-14 = 2, 4, 6; seed 45 is on one side only
    d = paired_diff({42: 12.0, 43: 15.0, 44: 20.0, 45: 99.0}, {42: 10.0, 43: 11.0, 44: 14.0})
    # mean 4, s_d = 2, half-width = t(0.975, 2) * 2 / sqrt(3) = 4.3027 * 1.1547005 = 4.96833
    assert (d["n"], d["mean"], d["sd"], d["ci95"]) == (3, 4.0, 2.0, 4.96833)
    assert (d["low"], d["high"]) == (-0.96833, 8.96833)
    assert d["excludes_zero"] is False  # the interval straddles 0
    assert (d["seeds"], d["diffs"]) == ([42, 43, 44], [2.0, 4.0, 6.0])


def test_paired_diff_excludes_zero_above_and_below() -> None:
    # d = 3, 4, 5: mean 4, s_d = 1, half-width = 4.3027 / sqrt(3) = 2.484165
    up = paired_diff({1: 13.0, 2: 14.0, 3: 15.0}, {1: 10.0, 2: 10.0, 3: 10.0})
    assert (up["mean"], up["ci95"], up["low"], up["high"]) == (4.0, 2.484165, 1.515835, 6.484165)
    assert up["excludes_zero"] is True
    down = paired_diff({1: 10.0, 2: 10.0, 3: 10.0}, {1: 13.0, 2: 14.0, 3: 15.0})
    assert (down["mean"], down["high"], down["excludes_zero"]) == (-4.0, -1.515835, True)
    # one pair: a difference but no interval, so never "excludes 0"; none: nothing at all
    one = paired_diff({1: 5.0, 2: 7.0}, {1: 1.0})
    assert (one["n"], one["mean"], one["ci95"], one["excludes_zero"]) == (1, 4.0, None, False)
    none = paired_diff({1: 5.0}, {2: 1.0})
    assert (none["n"], none["mean"], none["excludes_zero"], none["seeds"]) == (0, None, False, [])
    # the same difference on every seed: a zero-width interval away from 0
    same = paired_diff({1: 3.0, 2: 4.0}, {1: 1.0, 2: 2.0})
    assert (same["ci95"], same["excludes_zero"]) == (0.0, True)


def mini(protocol: str, seed: int, recovery: float | None, exit_code: int = 0,
         partial: bool = False, metrics: bool = True) -> RunRecord:
    m = {"protocol": protocol, "seed": seed, "partial": partial, "recovery_ms": recovery,
         "details": {"recovery": {"reason": "no recovery action"}}}
    return RunRecord(protocol, seed - 41, seed, f"{protocol.replace('/', '-')}-{seed}",
                     exit_code, "", 1.0, m if metrics else None)


def test_pairing_by_seed_skips_unusable_runs_and_nulls() -> None:
    rec = next(f for f in METRICS if f.name == "recovery_ms")
    runs = [mini("a2a", 42, 110.0), mini("a2a", 43, 130.0, exit_code=1),
            mini("a2a", 44, 150.0, partial=True), mini("a2a", 45, None),
            mini("a2a", 46, 170.0, metrics=False), mini("a2a", 47, 190.0),
            mini("a2a", 47, 191.0)]  # seed 47 twice: no unique pair
    assert by_seed(runs, rec, None) == {42: 110.0}
    base = [mini("json", s, 100.0 + s - 42) for s in range(42, 48)]
    cmp = aggregate({"protocols": ["json", "a2a"]}, base + runs)
    assert [(c["protocol"], c["baseline"]) for c in cmp["paired"]] == [("a2a", "json")]
    d = cmp["paired"][0]["metrics"]["recovery_ms"]
    assert (d["n"], d["seeds"], d["diffs"], d["mean"]) == (1, [42], [10.0], 10.0)
    assert set(cmp["paired"][0]["overhead"]) and cmp["paired_ci"].startswith("paired over seeds")
    # a null on the baseline's side drops the seed too
    base[0].metrics = {**(base[0].metrics or {}), "recovery_ms": None}
    cmp = aggregate({"protocols": ["json", "a2a"]}, base + runs)
    assert cmp["paired"][0]["metrics"]["recovery_ms"]["n"] == 0


def test_paired_per_failure_handling_mode() -> None:
    labels = ["json/native", "json/uniform", "a2a/native", "a2a/uniform", "anp/native"]
    assert baselines({"protocols": ["json", "a2a", "anp"]}, labels) == {
        "a2a/native": "json/native", "a2a/uniform": "json/uniform", "anp/native": "json/native"}
    # no manifest (settings {}): the first key is the first protocol
    assert baselines({}, ["acp", "json"]) == {"json": "acp"}
    assert baselines({"protocols": ["json"]}, ["json"]) == {}
    assert baselines({"protocols": ["json", "a2a"]}, ["a2a"]) == {}  # the baseline never ran
    runs = [mini(label, seed, value) for label, values in (
        ("json/native", (100.0, 110.0, 120.0)), ("json/uniform", (500.0, 510.0, 520.0)),
        ("a2a/native", (103.0, 114.0, 125.0)), ("a2a/uniform", (500.0, 511.0, 519.0)))
        for seed, value in zip((42, 43, 44), values, strict=True)]
    cmp = aggregate({"protocols": ["json", "a2a"], "failure_handling": "both"}, runs)
    by = {c["protocol"]: c for c in cmp["paired"]}
    assert {p: c["baseline"] for p, c in by.items()} == {"a2a/native": "json/native",
                                                         "a2a/uniform": "json/uniform"}
    native, uniform = (by[p]["metrics"]["recovery_ms"] for p in ("a2a/native", "a2a/uniform"))
    assert (native["diffs"], native["excludes_zero"]) == ([3.0, 4.0, 5.0], True)
    assert (uniform["diffs"], uniform["excludes_zero"]) == ([0.0, 1.0, -1.0], False)
    header, rows = paired_table(cmp)
    assert header[:3] == ["protocol", "vs", "recovery_ms"]
    assert rows[0][:3] == ["a2a/native", "json/native", f"+4.0 ± 2.5{MARK} (3 pairs)"]
    assert rows[1][:3] == ["a2a/uniform", "json/uniform", "+0.0 ± 2.5 (3 pairs)"]


def test_diff_cell_formats() -> None:
    assert diff_cell(paired_diff({1: 2.0}, {1: 1.0}), 1) == "+1.0 (1 pair)"
    assert diff_cell(paired_diff({}, {}), 1, "\n") == "—\n(0 pairs)"
    assert diff_cell(paired_diff({1: 1.0, 2: 2.0}, {1: 3.0, 2: 4.0}), 0) == "-2 ± 0* (2 pairs)"


def test_new_figures_null_in_old_metrics_files_with_reasons() -> None:
    old = mini("json", 42, 100.0)
    new = mini("json", 43, 100.0)
    assert new.metrics is not None
    new.metrics["inflight"] = {"n": 0, "let_go_ms": {"p50_ms": None, "p95_ms": None},
                               "reason": "no request was open on a victim at the fault"}
    new.metrics["details"]["detection"] = {"busy": {"p50_ms": 812.5}}
    m = aggregate({}, [old, new])["protocols"]["json"]["metrics"]
    assert (m["inflight_n"]["n"], m["inflight_n"]["mean"]) == (1, 0.0)
    assert m["inflight_n"]["nulls"] == {"no inflight report in the metrics file": 1}
    assert m["let_go_ms_p95"]["nulls"] == {"no inflight report in the metrics file": 1,
                                           "no request was open on a victim at the fault": 1}
    assert (m["detection_busy_ms_p50"]["mean"], m["detection_busy_ms_p50"]["nulls"]) == (
        812.5, {"no busy-peer detection figure in the metrics file": 1})


# -- aggregation and reports from synthetic metrics files -------------------------------------
def fake_metrics(protocol: str, seed: int, recovery: float, steady: float | None,
                 task_wire: float) -> dict[str, Any]:
    return {
        "protocol": protocol, "seed": seed, "partial": False,
        "recovery_ms": recovery, "steady_state_ms": steady, "bytes_reconnect": 1000 + seed,
        "success_rate_drop": 0.1, "duplicate_work_ratio": 0.0,
        "detection_ms": {"p50_ms": 1500.0, "max_ms": 1600.0},
        "details": {"steady_state": {"reason": "never stayed within band until the end"}
                    if steady is None else {}},
        "overhead": {"per_answered_task": {"wire": task_wire, "payload": task_wire - 100,
                                           "envelope": 90, "zmtp_framing": 10, "frames": 14},
                     "task": {"overhead_share": 100 / task_wire},
                     "heartbeat": {"bytes_per_heartbeat": 74.0, "total": 5000},
                     "handshake": {"protocol": {"wire": 300}, "zmtp": {"wire": 200},
                                   "completed": 2, "frames_per_completed": 2.0,
                                   "bytes_per_completed": 150.0,
                                   "bytes_per_completed_with_zmtp": 250.0},
                     "control": {"wire": 40}, "broadcast": {"wire": 900}, "total": 99999},
    }


def synthetic_folder(root: Path) -> Path:
    """json: 3 good runs (one with steady_state null); acp: 2 good runs and one that failed."""
    runs = []
    table = {"json": [(1000.0, 500.0, 800.0), (1200.0, None, 820.0), (1400.0, 700.0, 840.0)],
             "acp": [(2000.0, 100.0, 900.0), (2200.0, 300.0, 1000.0), None]}
    for protocol, rows in table.items():
        for i, row in enumerate(rows, start=1):
            rec = RunRecord(protocol, i, 41 + i, f"{protocol}-r{i}", exit_code=0, wall_s=20.0)
            (root / rec.dir).mkdir(parents=True)
            if row is None:
                rec.exit_code, rec.error = 1, "run failed: agents ready timed out"
            else:
                write_metrics(root / rec.dir, fake_metrics(protocol, rec.seed, *row))
            runs.append(rec.manifest_entry())
    settings = {"protocols": ["json", "acp"], "repeats": 3, "seeds": [42, 43, 44],
                "quick": True, "config": None, "overrides": QUICK}
    (root / MANIFEST).write_text(json.dumps({"settings": settings, "runs": runs}))
    return root


def test_aggregate_counts_values_nulls_and_failed_runs(tmp_path: Path) -> None:
    settings, runs = load_runs(synthetic_folder(tmp_path))
    cmp = aggregate(settings, runs)
    js, acp = cmp["protocols"]["json"], cmp["protocols"]["acp"]
    rec = js["metrics"]["recovery_ms"]
    assert (rec["n"], rec["runs"], rec["mean"]) == (3, 3, 1200.0)
    assert rec["ci95"] == round(4.3027 * 200 / math.sqrt(3), 6)  # s = 200
    steady = js["metrics"]["steady_state_ms"]
    assert (steady["n"], steady["mean"]) == (2, 600.0)
    assert steady["nulls"] == {"never stayed within band until the end": 1}
    assert (acp["runs"], acp["usable"]) == (3, 2)
    assert acp["failed"] == [{"dir": "acp-r3",
                              "reason": "exit code 1: run failed: agents ready timed out"}]
    assert acp["metrics"]["recovery_ms"]["mean"] == 2100.0
    # the failed run counts in the protocol's runs (n = 2 of 3) but is not a null
    assert acp["metrics"]["recovery_ms"]["runs"] == 3
    assert acp["metrics"]["recovery_ms"]["nulls"] == {}
    assert js["overhead"]["task_wire_per_answer"]["mean"] == 820.0
    assert acp["overhead"]["task_wire_per_answer"]["ci95"] == round(12.7062 * 50, 6)
    assert js["seeds"] == acp["seeds"] == [42, 43, 44]


def test_reports_render_the_aggregate(tmp_path: Path) -> None:
    settings, runs = load_runs(synthetic_folder(tmp_path))
    cmp = aggregate(settings, runs)
    lines = csv_text(cmp).splitlines()
    assert lines[0] == "section,protocol,figure,runs,n,mean,ci95,low,high,sd,nulls"
    steady = next(line for line in lines if line.startswith("metrics,json,steady_state_ms,"))
    assert steady.split(",")[3:6] == ["3", "2", "600.0"]
    assert steady.endswith("1x never stayed within band until the end")
    md = markdown(cmp, {r.dir: r.metrics for r in runs if r.metrics})
    assert "| json | 1200.0 ± 496.8 (n=3/3) | 1043 ± 2 (n=3/3) | 600.0 ± 1270.6 (n=2/3) |" in md
    assert "| acp | 2100.0 ± 1270.6 (n=2/3) |" in md
    assert "| task bytes / answered task | 820.0 ± 49.7 (n=3/3) | 950.0 ± 635.3 (n=2/3) |" in md
    assert "| acp | 3 | 44 | acp-r3 | 1 | 20.0 | — |" in md  # the failed run, listed
    assert "acp: run acp-r3 not counted: exit code 1: run failed" in "\n".join(notes(cmp))
    assert "json: steady_state_ms null in 1 of 3 run(s)" in "\n".join(notes(cmp))
    # acp − json on seeds 42, 43 (acp-r3 failed): recovery +1000 both times, bytes_reconnect
    # equal, steady_state only on seed 42 (json's 43 is null)
    assert "## Metrics: paired difference vs json (mean ± 95 % CI)" in md
    assert f"| acp | json | +1000.0 ± 0.0{MARK} (2 pairs) | +0 ± 0 (2 pairs) | " \
           "-400.0 (1 pair) |" in md
    assert f"\\{MARK}: the 95 % CI of the difference excludes 0. Paired over seeds" in md


def test_from_recomputes_the_files_and_runs_nothing(tmp_path: Path) -> None:
    folder = synthetic_folder(tmp_path / "cmp")
    before = sorted(p.name for p in folder.iterdir())
    r = run_fsr("compare", "--from", str(folder), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "recovery_ms" in r.stdout and "task bytes / answered task" in r.stdout
    assert "paired difference vs json" in r.stdout and "Paired over seeds" in r.stdout
    written = {n: (folder / n).read_text() for n in ("comparison.json", "comparison.csv",
                                                      "comparison.md", "comparison.html")}
    assert sorted(p.name for p in folder.iterdir()) == sorted([*before, *written])
    assert json.loads(written["comparison.json"])["protocols"]["json"]["metrics"][
        "recovery_ms"]["mean"] == 1200.0
    assert run_fsr("compare", "--from", str(folder), timeout=120).returncode == 0
    assert {n: (folder / n).read_text() for n in written} == written  # same bytes again
    assert "paired difference vs json" in written["comparison.html"]


def test_page_renders_a_comparison_json_from_before_the_new_figures(tmp_path: Path) -> None:
    settings, runs = load_runs(synthetic_folder(tmp_path))
    old = aggregate(settings, runs)
    del old["paired"], old["paired_ci"]
    for p in old["protocols"].values():
        for name in ("inflight_n", "let_go_ms_p50", "let_go_ms_p95", "detection_busy_ms_p50"):
            del p["metrics"][name]
    (tmp_path / "comparison.json").write_text(json.dumps(old))
    page = write_comparison_report(tmp_path).read_text()
    assert "inflight_n" in page and "paired difference" not in page


def test_folder_without_manifest_is_discovered(tmp_path: Path) -> None:
    folder = synthetic_folder(tmp_path)
    (folder / MANIFEST).unlink()
    settings, runs = load_runs(folder)
    assert settings == {} and len(runs) == 5  # the failed run has no metrics file
    assert [(r.protocol, r.repeat, r.seed) for r in runs if r.protocol == "acp"] == [
        ("acp", 1, 42), ("acp", 2, 43)]
    assert aggregate(settings, runs)["protocols"]["json"]["usable"] == 3


# -- planning, validation, a failing run ------------------------------------------------------
def test_variants_are_columns_each_compared_with_the_first_value(tmp_path: Path) -> None:
    cmp = plan("json,a2a", "2", None, False, {}, str(tmp_path / "c"), None,
               "detector=fixed,phi")
    assert [(p.record.protocol, p.record.dir, p.cfg.heartbeat.detector) for p in cmp.runs] == [
        ("json/fixed", "json-fixed-r1", "fixed"), ("json/fixed", "json-fixed-r2", "fixed"),
        ("json/phi", "json-phi-r1", "phi"), ("json/phi", "json-phi-r2", "phi"),
        ("a2a/fixed", "a2a-fixed-r1", "fixed"), ("a2a/fixed", "a2a-fixed-r2", "fixed"),
        ("a2a/phi", "a2a-phi-r1", "phi"), ("a2a/phi", "a2a-phi-r2", "phi")]
    assert cmp.runs[0].cfg.scenario.seed == cmp.runs[2].cfg.scenario.seed  # paired
    assert baselines(cmp.settings, ["json/fixed", "json/phi", "a2a/fixed", "a2a/phi"]) == {
        "json/phi": "json/fixed", "a2a/phi": "a2a/fixed"}
    runs = [mini(label, seed, value) for label, values in (
        ("json/fixed", (100.0, 110.0, 120.0)), ("json/phi", (150.0, 161.0, 169.0)))
        for seed, value in zip((42, 43, 44), values, strict=True)]
    (only,) = aggregate(cmp.settings, runs)["paired"]
    assert (only["protocol"], only["baseline"]) == ("json/phi", "json/fixed")
    assert only["metrics"]["recovery_ms"]["diffs"] == [50.0, 51.0, 49.0]


@pytest.mark.parametrize("variants, message", [
    ("detector", "--variants: must be KEY=VALUE"), ("detector=", "--variants: must be KEY"),
    ("detector=phi,phi", "--variants: a value is listed twice"),
    ("detector=fixed,psychic", "--variants: heartbeat.detector: must be one of"),
    ("colour=red,blue", "--variants: colour: unknown key"),
])
def test_plan_rejects_bad_variants(variants: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message):
        plan("json", "1", None, False, {}, None, None, variants)


def test_plan_pairs_seeds_and_applies_quick(tmp_path: Path) -> None:
    cmp = plan("json", "3", None, True, {"scenario.seed": "7"}, str(tmp_path / "c"))
    assert [(p.record.dir, p.cfg.scenario.seed) for p in cmp.runs] == [
        ("json-r1", 7), ("json-r2", 8), ("json-r3", 9)]
    cfg = cmp.runs[0].cfg
    for key, value in QUICK.items():  # every scalar of the quick timeline reached the config
        section, name = key.split(".")
        if not isinstance(value, dict):
            assert getattr(getattr(cfg, section), name) == value, key
    assert not (tmp_path / "c").exists()  # planning starts nothing


@pytest.mark.parametrize("protocols, repeats, flag", [
    ("json,nope", "2", "--protocols"), ("", "2", "--protocols"), ("json,json", "2", "--protocols"),
    ("json", "0", "--repeats"), ("json", "-1", "--repeats"), ("json", "two", "--repeats"),
    ("json", "1.5", "--repeats"),
])
def test_plan_rejects_bad_flags(protocols: str, repeats: str, flag: str) -> None:
    with pytest.raises(ConfigError, match=f"^{flag}:"):
        plan(protocols, repeats, None, False, {}, None)


@pytest.mark.parametrize("args, flag", [
    (["--protocols", "json,xml"], "--protocols"), (["--repeats", "0"], "--repeats"),
    (["--repeats", "x"], "--repeats"), (["--seed", "abc"], "--seed"),
    (["--agent-count", "0"], "--agent-count"), (["--from", "/nonexistent/dir"], "--from"),
    (["--variants", "detector=fixed,psychic"], "--variants"),
])
def test_cli_validation_is_one_line_exit_2_and_starts_nothing(
        tmp_path: Path, args: list[str], flag: str) -> None:
    out = tmp_path / "cmp"
    extra = [] if args[0] == "--from" else ["--out", str(out)]
    r = run_fsr("compare", *args, *extra, timeout=120)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and flag in r.stderr
    assert not out.exists()


def test_cli_refuses_from_with_run_flags_and_a_non_empty_out(tmp_path: Path) -> None:
    r = run_fsr("compare", "--from", str(tmp_path), "--repeats", "2", timeout=120)
    assert r.returncode == 2 and "--repeats" in r.stderr
    r = run_fsr("compare", "--from", str(tmp_path), timeout=120)  # an empty folder
    assert r.returncode == 2 and "no runs found" in r.stderr and not list(tmp_path.iterdir())
    (tmp_path / "x").write_text("")
    r = run_fsr("compare", "--protocols", "json", "--out", str(tmp_path), timeout=120)
    assert r.returncode == 2 and "--out" in r.stderr


def test_a_failing_run_is_recorded_and_the_comparison_goes_on(tmp_path: Path) -> None:
    cmp = plan("json", "3", None, True, {}, str(tmp_path / "c"))

    def launch(cfg: Config, out: str, debug: bool) -> int:
        if cfg.scenario.seed == 43:
            raise RuntimeError("boom")
        (Path(out) / "logs").mkdir(parents=True)
        if cfg.scenario.seed == 44:  # failed at start-up: the runner logged why
            (Path(out) / "logs" / "fail_storm_x.jsonl").write_text(json.dumps(
                {"ts": 1.0, "node": "runner", "event": "run_end",
                 "reason": "failed: timed out waiting for agents ready"}) + "\n")
            return 1
        write_metrics(Path(out), fake_metrics("json", cfg.scenario.seed, 1000.0, 10.0, 800.0))
        return 0

    said: list[str] = []
    assert execute(cmp, launch, said.append) == 0
    settings, runs = load_runs(cmp.folder)
    assert [r.exit_code for r in runs] == [0, 1, 1]
    assert runs[1].error == "RuntimeError: boom" and all(r.wall_s is not None for r in runs)
    assert runs[2].error == "failed: timed out waiting for agents ready"
    assert settings["seeds"] == [42, 43, 44]
    assert aggregate(settings, runs)["protocols"]["json"]["usable"] == 1
    assert any("json-r2 ended with exit code 1 RuntimeError: boom" in line for line in said)


# -- one real comparison (about 40 s: two 16 s storms) ----------------------------------------
def test_real_quick_comparison(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    r = run_fsr("compare", "--protocols", "json", "--repeats", "2", "--quick", "--out", str(out),
                timeout=280)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "recovery_ms" in r.stdout and "comparison wall time" in r.stdout
    manifest = json.loads((out / MANIFEST).read_text())
    assert [(e["dir"], e["seed"], e["exit_code"]) for e in manifest["runs"]] == [
        ("json-r1", 42, 0), ("json-r2", 43, 0)]
    cmp = json.loads((out / "comparison.json").read_text())
    per_run = [json.loads((out / d / "failstorm_metrics.json").read_text())
               for d in ("json-r1", "json-r2")]
    assert [m["seed"] for m in per_run] == [42, 43]
    for name, path in (("bytes_reconnect", ("bytes_reconnect",)),
                       ("recovery_ms", ("recovery_ms",))):
        values = [m[path[0]] for m in per_run if m[path[0]] is not None]
        s = cmp["protocols"]["json"]["metrics"][name]
        assert s["values"] == values
        if values:
            assert s["mean"] == round(statistics.fmean(values), 6)
    # each run was its own `fsr run` process, given exactly the config it logged
    for d, m in zip(("json-r1", "json-r2"), per_run, strict=True):
        given = yaml.safe_load((out / "configs" / f"{d}.yaml").read_text())
        assert given["scenario"]["seed"] == m["seed"]
        assert (given["scenario"]["duration"], given["heartbeat"]["interval"]) == (
            QUICK["scenario.duration"], QUICK["heartbeat.interval"])
    wire = [m["overhead"]["per_answered_task"]["wire"] for m in per_run]
    assert cmp["protocols"]["json"]["overhead"]["task_wire_per_answer"]["values"] == wire
    assert (out / "comparison.csv").is_file() and (out / "comparison.md").is_file()


def test_steady_state_averages_the_settled_runs_and_counts_the_rest(tmp_path: Path) -> None:
    """A run the storm did not disturb (0 ms, `not_disturbed`) is counted, not averaged in."""
    root = synthetic_folder(tmp_path)
    path = root / "json-r1" / METRICS_FILE
    m = json.loads(path.read_text())
    m["steady_state_ms"], m["details"]["steady_state"] = 0.0, {"reason": "not_disturbed"}
    path.write_text(json.dumps(m))
    cmp = aggregate(*load_runs(root))
    js = cmp["protocols"]["json"]
    steady = js["metrics"]["steady_state_ms"]
    assert (steady["n"], steady["mean"]) == (1, 700.0)
    assert steady["nulls"] == {"not_disturbed": 1, "never stayed within band until the end": 1}
    assert js["settling"]["settled"] == 1 and js["settling"]["not_disturbed"] == 1
    header, rows = metric_table(cmp)
    assert header[-1] == "steady state: runs" and "not disturbed 1" in rows[0][-1]
