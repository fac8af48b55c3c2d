"""`fsr report` on a real compressed storm: the plots show what the log holds (read back from the
figures' artists: kill marks at the logged kill times, the checker's per-second rows, each cell of
the detection matrix the observer's first peer_lost), the page holds every metric and its images,
numbers come from the log (not from failstorm_metrics.json), odd logs still render, and the
comparison page's bars are `fsr compare`'s own aggregation. The page's order (the answer first)
is checked on hand-made metrics, no run needed."""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from fsr.compare.aggregate import RunRecord, aggregate
from fsr.compare.html import write_comparison_report
from fsr.compare.report import metric_table, overhead_table, write_reports
from fsr.eventlog import read_events
from fsr.metrics import compute_metrics
from fsr.report import REPORT_DIR, write_run_report
from fsr.report import html as report_html
from fsr.report.definitions import HEADLINE, definition
from fsr.report.html import NOT_RECORDED, SEED_FIVE, run_page
from fsr.report.marks import Detection, StormMarks
from fsr.report.plots import DPI, detection_png
from tests.helpers import log_path, metrics, run_fsr

IMAGES = ("timeline.png", "detection.png")
DATA_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real storm, compressed: 12 s of work, SIGKILL at 5 s, victims back 2 s later."""
    out = tmp_path_factory.mktemp("report") / "run"
    r = run_fsr("run", "--duration", "12", "--kill-at", "5", "--restart-delay", "2",
                "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "report:" in r.stderr  # fsr run wrote the report itself
    return out


def copy_run(src: Path, dst: Path) -> Path:
    """The run folder without its report, so a test renders its own."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(REPORT_DIR))
    return dst


class Cells(HTMLParser):
    """The text of every table cell and list item, innermost element only."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[list[str]] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("td", "li"):
            self.open.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "li"):
            self.texts.append("".join(self.open.pop()).strip())

    def handle_data(self, data: str) -> None:
        if self.open:
            self.open[-1].append(data)


def cells(html: str) -> list[str]:
    parser = Cells()
    parser.feed(html)
    return parser.texts


def text_of(value: Any) -> str:
    """How the page prints a scalar: as JSON does, strings as they are."""
    return value if isinstance(value, str) else json.dumps(value)


def leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in leaves(v)]
    return [value]


def run_config(run: Path) -> dict[str, Any]:
    """The run's config, as its run_start event recorded it."""
    return next(e["config"] for e in read_events(log_path(run))[0] if e["event"] == "run_start")


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """Every matplotlib Figure the plots hand to PNG, in order: what the images show, read back
    from their artists (the PNG bytes still come from the same figures)."""
    from fsr.compare import html as compare_html
    from fsr.report import plots

    figures: list[Figure] = []
    real = plots.png

    def keep(fig: Figure) -> bytes:
        figures.append(fig)
        return real(fig)

    monkeypatch.setattr(plots, "png", keep)
    monkeypatch.setattr(compare_html, "png", keep)
    return figures


def kill_times(run: Path) -> dict[str, float]:
    """victim -> its kill() call in seconds since t = 0 (the broadcast), from the log."""
    evs = read_events(log_path(run))[0]
    t0 = next(e["ts"] for e in evs if e["event"] == "phase" and e.get("name") == "broadcast")
    return {e["victim"]: e["kill_ts"] - t0 for e in evs if e["event"] == "kill"}


def vlines(ax: Any, color: str) -> list[float]:
    """The x of every vertical line of this colour (axvline: xdata [x, x])."""
    return sorted(float(ln.get_xdata()[0]) for ln in ax.get_lines() if ln.get_color() == color
                  and len(ln.get_xdata()) == 2 and ln.get_xdata()[0] == ln.get_xdata()[1])


def step_values(rows: list[dict[str, Any]], key: str) -> list[float]:
    """A post-step line's y: one value per second, the last repeated for the closing edge."""
    return [r[key] for r in rows] + [rows[-1][key]]


# -- the run report ---------------------------------------------------------------------------
def test_timeline_shows_the_storm_the_log_holds(run_dir: Path, tmp_path: Path,
                                                drawn: list[Figure]) -> None:
    run = copy_run(run_dir, tmp_path / "run")
    write_run_report(run)
    # the figures read back here are the images `fsr run` wrote, byte for byte
    assert [(run / REPORT_DIR / n).read_bytes() for n in IMAGES] == [
        (run_dir / REPORT_DIR / n).read_bytes() for n in IMAGES]
    timeline, _ = drawn
    for name, fig in zip(IMAGES, drawn, strict=True):  # each file decodes as its figure
        from matplotlib.image import imread

        w, h = fig.get_size_inches() * DPI
        assert imread(run / REPORT_DIR / name).shape[:2] == (round(h), round(w)), name
    m, kills = metrics(run), kill_times(run)
    rows, victims = m["timeline"], m["fault"]["victims"]
    assert sorted(kills) == victims and len(victims) == 2
    assert m["protocol"] in timeline.get_suptitle() and m["run_id"] in timeline.get_suptitle()
    lanes, tasks, live, wire = timeline.axes[:4]
    # top: one lane per victim, its kill (X) at the logged kill() time, one tick per detection
    assert [t.get_text() for t in lanes.get_yticklabels()] == victims
    marks, ticks = lanes.collections[:2]
    np.testing.assert_allclose(marks.get_offsets(), [[kills[v], i] for i, v in enumerate(victims)])
    pairs = m["details"]["detection"]["pairs"]
    assert len(pairs) == m["detection_ms"]["n"] > 0
    np.testing.assert_allclose(sorted(ticks.get_offsets().tolist()), sorted(
        [kills[p["victim"]] + p["ms"] / 1000, victims.index(p["victim"])] for p in pairs))
    # tasks, live agents, wire bytes: the checker's per-second rows, as drawn
    lines = {ln.get_label(): ln for ln in tasks.get_lines()}
    assert list(lines["completed (any end state)"].get_ydata()) == step_values(rows, "ended")
    assert list(lines["correct"].get_ydata()) == step_values(rows, "correct")
    assert list(lines["correct"].get_xdata()) == [r["t"] for r in rows] + [rows[-1]["t"] + 1]
    (alive,) = [ln for ln in live.get_lines() if ln.get_label() == "live agents"]
    assert list(alive.get_ydata()) == step_values(rows, "live_agents")
    # the storm is visible: both victims down at once, everyone back by the end
    assert min(alive.get_ydata()) == m["agent_count"] - 2 and alive.get_ydata()[-1] == 8
    stacks = {c.get_label(): c for c in wire.containers}
    assert sorted(stacks) == sorted(rows[0]["bytes"])
    for cat, bars in stacks.items():  # one bar a second and category, as high as its bytes
        assert [b.get_height() for b in bars] == [r["bytes"][cat] for r in rows], cat
    # every panel below the lanes marks the kills where the log has them
    for ax in (tasks, live, wire):
        assert vlines(ax, "tab:red") == pytest.approx(sorted(kills.values()))
    legend = [t.get_text() for t in timeline.legends[0].get_texts()]
    assert "kill (SIGKILL)" in legend and "kill storm: strike until every victim is back" in legend


def test_detection_matrix_shows_each_survivors_first_loss(run_dir: Path, tmp_path: Path,
                                                          drawn: list[Figure]) -> None:
    """Cell (observer, victim) = the observer's first peer_lost of the victim after its kill."""
    run = copy_run(run_dir, tmp_path / "run")
    write_run_report(run)
    _, detection = drawn
    m, kills = metrics(run), kill_times(run)
    victims = m["fault"]["victims"]
    ax = detection.axes[0]
    observers = [t.get_text() for t in ax.get_yticklabels()]
    assert [t.get_text() for t in ax.get_xticklabels()] == victims
    assert sorted(observers) == sorted(f"agent_{i}" for i in range(8) if f"agent_{i}"
                                       not in victims)
    grid = ax.images[0].get_array()
    assert grid.shape == (6, 2) and grid.count() == m["detection_ms"]["n"]
    det = m["details"]["detection"]
    evs = read_events(log_path(run))[0]
    t0 = next(e["ts"] for e in evs if e["event"] == "phase" and e.get("name") == "broadcast")
    for i, o in enumerate(observers):
        for j, v in enumerate(victims):
            if grid.mask[i, j]:  # no value: a pair the checker lists as missed or not needed
                assert f"{o}->{v}" in det["missing"] + det["not_needed"], (o, v)
                continue
            first = next(e["ts"] for e in evs if e["event"] == "peer_lost" and e["node"] == o
                         and e["peer"] == v and e["ts"] >= kills[v] + t0)
            assert grid[i, j] == pytest.approx((first - t0 - kills[v]) * 1000, abs=0.01), (o, v)
    assert grid.max() == pytest.approx(m["detection_ms"]["max_ms"], abs=0.01)
    assert ax.get_title().startswith(
        f"{m['detection_ms']['n']} detected, {len(det['missing'])} missed")


def test_page_holds_every_metric_and_embeds_its_images(run_dir: Path) -> None:
    page = (run_dir / REPORT_DIR / "report.html").read_text()
    m = metrics(run_dir)
    texts = cells(page)
    rows = dict(zip(texts, texts[1:], strict=False))  # a cell and the one right of it
    for key in HEADLINE:
        value = m[key]
        if isinstance(value, dict):
            assert all(text_of(v) in texts for v in value.values()), key
        else:
            assert rows[key].startswith(text_of(value)), (key, rows[key])
        # the page renders `code` and *emphasis*: compare with the markup undone
        plain = re.sub(r"[`*]", "", definition(key, run_config(run_dir)))
        assert plain and plain in texts, key
    for key, value in m.items():
        for leaf in leaves(value):
            assert any(text_of(leaf) in t for t in texts), (key, leaf)
    # self-contained: both images inline, byte for byte the files; nothing fetched
    embedded = [base64.b64decode(d) for d in DATA_URI.findall(page)]
    assert embedded == [(run_dir / REPORT_DIR / n).read_bytes() for n in IMAGES]
    assert not re.search(r"<script|<link|src=\"http|url\(", page)
    # the config is the run's own, from its run_start event
    assert (rows["scenario.kill_at"], rows["scenario.restart_delay"]) == ("5.0", "2.0")


def test_numbers_come_from_the_log_not_the_metrics_file(run_dir: Path, tmp_path: Path) -> None:
    run = copy_run(run_dir, tmp_path / "run")
    first = write_run_report(run).read_text()
    pngs = [(run / REPORT_DIR / n).read_bytes() for n in IMAGES]
    doctored = metrics(run) | {"recovery_ms": 123456789, "bytes_reconnect": 987654321}
    (run / "failstorm_metrics.json").write_text(json.dumps(doctored))
    again = write_run_report(run).read_text()
    assert again == first
    assert "123456789" not in again and "987654321" not in again
    assert [(run / REPORT_DIR / n).read_bytes() for n in IMAGES] == pngs


def test_cli_renders_and_refuses_a_folder_without_a_log(run_dir: Path, tmp_path: Path) -> None:
    run = copy_run(run_dir, tmp_path / "run")
    r = run_fsr("report", str(run), timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"report: {run / REPORT_DIR / 'report.html'}"
    (tmp_path / "empty").mkdir()
    r = run_fsr("report", str(tmp_path / "empty"), timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("fsr: error:")


def rewrite_log(run: Path, keep: Any) -> None:
    """Keep only the log lines `keep(index, event)` accepts (an edited history of a real run)."""
    path = log_path(run)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(x for i, x in enumerate(lines) if keep(i, json.loads(x))))


def test_a_run_without_a_fault_renders(run_dir: Path, tmp_path: Path,
                                       drawn: list[Figure]) -> None:
    run = copy_run(run_dir, tmp_path / "run")
    rewrite_log(run, lambda i, e: e["event"] != "kill")
    page = write_run_report(run).read_text()
    assert "no fault injected" in page
    timeline, detection = drawn
    lanes, *panels = timeline.axes[:4]
    assert [t.get_text() for t in lanes.texts] == ["no fault injected"]
    assert not lanes.collections and all(vlines(ax, "tab:red") == [] for ax in panels)
    # the work still shows: the same per-second tasks as the metrics of the edited log
    rows = compute_metrics(*read_events(log_path(run)))["timeline"]
    done = {ln.get_label(): ln for ln in panels[0].get_lines()}["completed (any end state)"]
    assert list(done.get_ydata()) == step_values(rows, "ended") and sum(done.get_ydata()) > 0
    (ax,) = detection.axes
    assert not ax.images and [t.get_text() for t in ax.texts] == [
        "no fault injected: nothing to detect"]


def test_a_cut_off_log_renders_as_partial(run_dir: Path, tmp_path: Path) -> None:
    run = copy_run(run_dir, tmp_path / "run")
    n = len(log_path(run).read_bytes().splitlines())
    rewrite_log(run, lambda i, e: i < n * 0.6)
    with log_path(run).open("ab") as fh:
        fh.write(b'{"ts": 1, "node": "agent_0", "ev')  # the half line a SIGKILL leaves
    page = write_run_report(run).read_text()
    events, bad = read_events(log_path(run))
    m = compute_metrics(events, bad)
    assert m["partial"] and "Partial run." in page
    assert all(note in cells(page) for note in m["notes"])


def test_every_figure_of_the_metrics_has_a_definition(run_dir: Path) -> None:
    """A figure of compute_metrics has a definition in the metric catalogue."""
    m = metrics(run_dir)
    undefined = [k for k, v in m.items() if isinstance(v, dict | list) and k not in (
        "details", "fault", "notes") and not definition(k)]
    assert undefined == []


def test_detection_matrix_draws_misses_and_mixed_kinds() -> None:
    """Misses and two ways of detecting (heartbeat timeout, socket disconnect) in one matrix."""
    kills = {"agent_1": 5.0, "agent_10": 5.0}
    marks = StormMarks(
        victims=list(kills), survivors=["agent_0", "agent_2"], kills=kills,
        detections=[Detection("agent_0", "agent_1", 5.004, "socket_disconnect"),
                    Detection("agent_2", "agent_1", 7.5, "heartbeat_timeout"),
                    Detection("agent_0", "agent_10", 7.9, "heartbeat_timeout")],
        restarts={}, rejoins={}, fault=5.0, window=(5.0, 35.0), steady=None, end_submit=12.0)
    from fsr.report import plots

    figures: list[Figure] = []
    real = plots.png
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plots, "png", lambda fig: figures.append(fig) or real(fig))
        detection_png(marks, ["agent_2->agent_10"], "synthetic")
    (fig,) = figures
    ax = fig.axes[0]
    assert fig.get_suptitle() == "synthetic"
    grid = ax.images[0].get_array()
    assert grid.mask.tolist() == [[False, False], [False, True]]  # the miss: no value
    np.testing.assert_allclose(grid.filled(np.nan), [[4.0, 2900.0], [2500.0, np.nan]])
    # the numbers (no decimals above 100 ms) and how each was detected, the miss hatched
    assert sorted(t.get_text() for t in ax.texts) == ["2500\nht", "2900\nht", "4\nsd",
                                                      "missed"]
    (hatched,) = [p for p in ax.patches if p.get_hatch() == "//"]
    assert hatched.get_xy() == (0.5, 0.5)  # the cell (agent_2, agent_10)
    assert ax.get_title() == ("3 detected, 1 missed \u00b7 ht = heartbeat_timeout, "
                              "sd = socket_disconnect")


# -- the page leads with the answer (hand-made metrics, no run) -------------------------------
TIMELINE_PNG = b"\x89PNG timeline stand-in"
DETECTION_PNG = b"\x89PNG detection stand-in"


def fake_metrics(inflight: bool = True, hops: int = 3) -> dict[str, Any]:
    """The shape `compute_metrics` returns, small: two of the five null with a reason."""
    m: dict[str, Any] = {
        "schema": 9, "run_id": "fake-run", "protocol": "json", "agent_count": 8, "seed": 7,
        "partial": False, "notes": [],
        "fault": {"injected": True, "t_s": 5.0, "victims": ["agent_2", "agent_4"],
                  "restart_delay_s": 2.0},
        "recovery_ms": 1234.5, "steady_state_ms": None, "bytes_reconnect": 98765,
        "success_rate_drop": None, "duplicate_work_ratio": 0.0625,
        "detection_ms": {"p50_ms": 812.0, "max_ms": 990.0, "n": 12},
        "details": {
            "recovery": {"value": 1234.5},
            "steady_state": {"value": None, "reason": "the system never came back in band"},
            "bytes_reconnect": {"value": 98765, "window_s": 5.0},
            "success_rate_drop": {"value": None, "reason": "no task ended before the fault"},
            "duplicate_work": {"value": 0.0625},
            "detection": {"p50_ms": 812.0, "max_ms": 990.0, "n": 12, "missing": []},
        },
        "tasks": {"n": 40, "answered": 38},
        "storms": {"count": 1, "list": [{"storm": i, "victims": 2} for i in range(20)]},
        "timeline": [{"t": t, "completed": t % 3} for t in range(5)],
    }
    if inflight:
        m["inflight"] = {
            "n": 17,
            "let_go_ms": {"p50_ms": 4321.0, "p95_ms": 5432.0, "max_ms": 6543.0, "n": 15},
            "by_signal": {"hop_timeout": 11, "peer_lost": 4},
            "fates": {"retried_elsewhere": 9, "lost": 6, "answered_by_victim": 2},
            "tasks_hit": {"n": 13, "answered": 10, "p50_ms": 7111.0, "p95_ms": 8222.0},
            "tasks_not_hit": {"n": 27, "answered": 27, "p50_ms": 611.0, "p95_ms": 922.0},
        }
        m["details"]["inflight"] = {"hops": [
            {"task": f"task-{i}", "victim": "agent_2", "let_go_ms": 4000.0 + i,
             "fate": "lost"} for i in range(hops)]}
    return m


def render(m: dict[str, Any]) -> str:
    images = {"timeline.png": (TIMELINE_PNG, "timeline caption"),
              "detection.png": (DETECTION_PNG, "detection caption")}
    return run_page(m, {"scenario": {"seed": 7}}, images, "hand-made")


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def test_page_opens_with_the_five_then_inflight_then_the_timeline() -> None:
    m = fake_metrics()
    page = render(m)
    timeline = page.index(data_uri(TIMELINE_PNG))
    first_fold = page.index("<details")
    assert timeline < first_fold < page.index(data_uri(DETECTION_PNG))
    head = page[:timeline]
    # 1. the five, in order, each with its value or null and the checker's reason
    at = [head.index(f"<b>{k}</b>") for k in SEED_FIVE]
    assert at == sorted(at)
    texts = cells(head)
    rows = dict(zip(texts, texts[1:], strict=False))
    assert rows["recovery_ms"] == "1234.5" and rows["bytes_reconnect"] == "98765"
    assert rows["duplicate_work_ratio"] == "0.0625"
    assert rows["steady_state_ms"] == "null — the system never came back in band"
    assert rows["success_rate_drop"] == "null — no task ended before the fault"
    assert "detection_ms" not in texts  # not one of the five: it comes later
    # 2. in flight, right below the five: every number of the block before the timeline
    assert at[-1] < head.index("In flight at the strike")
    inf = m["inflight"]
    for leaf in leaves({k: v for k, v in inf.items()}):
        assert text_of(leaf) in texts, leaf
    assert all(name in texts for name in [*inf["by_signal"], *inf["fates"]])
    assert rows["hit"] == "13" and rows["not hit"] == "27"
    # the per-hop records are not in the head: they are folded below
    assert "task-0" not in head
    assert "task-0" in page[first_fold:]


def test_everything_else_follows_folded() -> None:
    m = fake_metrics()
    page = render(m)
    rest = page[page.index(data_uri(TIMELINE_PNG)):]
    # the definitions table and the long tables are behind closed <details>
    assert "<details open" not in page
    for needle in ("detection_ms", "storms", "scenario.seed", "task-2"):
        assert needle in rest, needle
    folded = re.findall(r"<details>.*?</details>", rest, re.S)
    assert any("detection_ms" in f for f in folded)  # the metrics table
    assert any("task-2" in f for f in folded)  # the per-hop records
    # every leaf of every figure still reaches the page
    texts = cells(page)
    for key, value in m.items():
        for leaf in leaves(value):
            assert any(text_of(leaf) in t for t in texts), (key, leaf)


def test_per_hop_records_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_html, "MAX_LIST_ROWS", 4)
    page = render(fake_metrics(hops=10))
    assert "10 entries (first 4)" in page
    assert "task-3" in page and "task-4" not in page


def test_a_run_without_inflight_still_renders() -> None:
    """Runs made before the figure existed: the block says so, the rest is unchanged."""
    m = fake_metrics(inflight=False)
    page = render(m)
    timeline = page.index(data_uri(TIMELINE_PNG))
    assert page.index("<b>duplicate_work_ratio</b>") < page.index(NOT_RECORDED) < timeline
    assert "In-flight hops" not in page
    # the old page's content is all there
    texts = cells(page)
    for key, value in m.items():
        for leaf in leaves(value):
            assert any(text_of(leaf) in t for t in texts), (key, leaf)
    # an inflight figure without its per-hop details renders too
    m = fake_metrics()
    del m["details"]["inflight"]
    assert "17" in cells(render(m))


def test_definitions_come_from_the_metric_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    """The definitions table shows the catalogue's paragraph, its markup rendered."""
    from fsr.metrics import catalogue

    entry = catalogue.BY_KEY["inflight"]
    assert definition("inflight") == entry.definition
    monkeypatch.setitem(catalogue.BY_KEY, "inflight", dataclasses.replace(
        entry, definition="Hops *outstanding* on the `victims` at the strike."))
    assert definition("inflight") == "Hops *outstanding* on the `victims` at the strike."
    page = render(fake_metrics())
    assert "Hops <em>outstanding</em> on the <code>victims</code> at the strike." in page
    assert definition("no_such_figure") == ""


def test_docstring_markup_single_and_double_backticks() -> None:
    """Checkers write `code` (markdown) or ``code`` (RST); both become <code>, nothing leaks."""
    out = report_html.prose("by ``hop_republished``: `timeout`, *not* <b> `a` `b`")
    assert out == ("by <code>hop_republished</code>: <code>timeout</code>, <em>not</em> "
                   "&lt;b&gt; <code>a</code> <code>b</code>")


def test_real_run_page_leads_with_the_answer(run_dir: Path) -> None:
    page = (run_dir / REPORT_DIR / "report.html").read_text()
    timeline = page.index(data_uri((run_dir / REPORT_DIR / "timeline.png").read_bytes()))
    assert max(page.index(f"<b>{k}</b>") for k in SEED_FIVE) < page.index("In flight at the")
    assert page.index("In flight at the") < timeline < page.index("<details")


def bar_container(ax: Any) -> BarContainer:
    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    return bars


# -- the comparison report --------------------------------------------------------------------
def test_comparison_page_from_compare_aggregation(run_dir: Path, tmp_path: Path,
                                                  drawn: list[Figure]) -> None:
    """Three protocols made from the real run's metrics, aggregated by fsr.compare itself."""
    base = metrics(run_dir)
    runs = []
    for k, protocol in enumerate(("json", "a2a", "anp")):
        for repeat in (1, 2):
            m = copy.deepcopy(base) | {"protocol": protocol}
            m["recovery_ms"] = (m["recovery_ms"] or 1000.0) * (1 + k) + repeat
            runs.append(RunRecord(protocol, repeat, 41 + repeat, f"{protocol}-r{repeat}", 0, "",
                                  20.0, m))
    settings = {"protocols": ["json", "a2a", "anp"], "repeats": 2, "seeds": [42, 43]}
    cmp = aggregate(settings, runs)
    write_reports(cmp, tmp_path, {r.dir: r.metrics for r in runs})
    page = write_comparison_report(tmp_path).read_text()
    texts = cells(page)
    for _, rows in (metric_table(cmp), overhead_table(cmp)):
        assert all(cell.strip() in texts for row in rows for cell in row)
    assert [t for t in texts if t in settings["protocols"]][:3] == settings["protocols"]
    assert len(DATA_URI.findall(page)) == len(drawn) == 2
    bars = {ax.get_title(): ax for ax in drawn[0].axes}
    # the recovery bars: each protocol's mean of its two runs, each run a dot
    recovery = bars["recovery_ms"]
    base_rec = base["recovery_ms"] or 1000.0
    assert [b.get_height() for b in bar_container(recovery)] == pytest.approx(
        [base_rec * (1 + k) + 1.5 for k in range(3)])
    dots = [c.get_offsets()[:, 1] for c in recovery.collections if isinstance(c, PathCollection)]
    assert [sorted(d) for d in dots] == [
        pytest.approx(sorted(r.metrics["recovery_ms"] for r in runs if r.protocol == p))
        for p in settings["protocols"]]
    for name, ax in bars.items():  # every metric's bars are the aggregation's means
        if name in cmp["protocols"]["json"]["metrics"]:
            want = [cmp["protocols"][p]["metrics"][name]["mean"] for p in settings["protocols"]]
            got = [b.get_height() for b in bar_container(ax)]
            assert [None if np.isnan(g) else g for g in got] == pytest.approx(want), name
            assert [t.get_text().split("\n")[0] for t in ax.get_xticklabels()] == \
                settings["protocols"]
