"""The comparison page: ``comparison.html`` next to ``comparison.json`` (the `fsr compare` output).

Rendered from ``comparison.json`` alone: per-metric bar charts (mean, 95 % CI error bar, every
run's value as a dot), the per-protocol table, each protocol's paired difference from the first
one, the overhead breakdown and the runs. The figure list, labels and table text are
`fsr.compare`'s own (`METRICS`, `OVERHEAD`, `metric_table`, `paired_table`…), so the page says
exactly what ``comparison.md`` says.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from fsr.compare.aggregate import METRICS, OVERHEAD
from fsr.compare.aggregate import SCHEMA as COMPARISON_SCHEMA
from fsr.compare.report import (
    PAIRED_LEGEND,
    metric_table,
    notes,
    overhead_table,
    paired_table,
    paired_title,
)
from fsr.compare.stats import mean_ci
from fsr.report import COMPARISON_JSON, ReportError
from fsr.report.definitions import definition
from fsr.report.html import Raw, esc, img, page, prose, table
from fsr.report.plots import png

COMPARISON_HTML = "comparison.html"
# the per-answered-task split of task wire bytes, stacked bottom to top (names from OVERHEAD)
TASK_SPLIT = ("task_payload_per_answer", "task_envelope_per_answer",
              "task_security_per_answer", "task_zmtp_per_answer")
TASK_TOTAL = "task_wire_per_answer"


def protocols(cmp: dict[str, Any]) -> list[str]:
    """Protocols in the order the comparison ran them (comparison.json's keys are sorted; a key
    ``json/native`` ranks as ``json``), the ones the settings do not list last."""
    rank = {p: i for i, p in enumerate(cmp["settings"].get("protocols", []))}
    return sorted(cmp["protocols"], key=lambda p: rank.get(p.partition("/")[0], len(rank)))


def fill_missing(cmp: dict[str, Any]) -> None:
    """A comparison.json written before a figure was added to METRICS or OVERHEAD: that figure
    has no value in any run."""
    for p in cmp["protocols"].values():
        for section, figures in (("metrics", METRICS), ("overhead", OVERHEAD)):
            for f in figures:
                p[section].setdefault(f.name, {**mean_ci([]), "runs": p["runs"], "values": [],
                                               "nulls": {}})


def _bars(ax: Any, names: list[str], stats: list[dict[str, Any]], title: str) -> None:
    """One bar per protocol: the mean, its 95 % CI as an error bar, each run's value as a dot."""
    x = np.arange(len(names))
    # NaN draws nothing: a protocol without a value gets no bar rather than a bar at zero
    means = [np.nan if s["mean"] is None else s["mean"] for s in stats]
    errs = [np.nan if s["ci95"] is None else s["ci95"] for s in stats]
    colors = [f"C{i}" for i in range(len(names))]
    ax.bar(x, means, color=colors, alpha=0.7, yerr=errs, capsize=6, ecolor="black")
    for i, s in enumerate(stats):
        vals = s["values"]
        # spread the dots a little so equal values stay countable
        jitter = np.linspace(-0.15, 0.15, len(vals)) if len(vals) > 1 else np.zeros(len(vals))
        ax.scatter(i + jitter, vals, s=14, color="black", zorder=3)
    ax.set_xticks(x, [f"{p}\n" + (f"n={s['n']}/{s['runs']}" if s["mean"] is not None
                                  else "no value") for p, s in zip(names, stats, strict=True)])
    ax.set_xlim(-0.6, len(names) - 0.4)  # keep the slot of a protocol that has no bar
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def metrics_png(cmp: dict[str, Any]) -> bytes:
    names = list(cmp["protocols"])
    cols = 3
    rows = math.ceil(len(METRICS) / cols)
    fig = Figure(figsize=(4 * cols, 3.2 * rows), layout="constrained")
    for k, f in enumerate(METRICS):
        ax = fig.add_subplot(rows, cols, k + 1)
        _bars(ax, names, [cmp["protocols"][p]["metrics"][f.name] for p in names], f.name)
    fig.suptitle("bar: mean · error bar: 95 % CI · dot: one run · n: runs with a value / runs",
                 fontsize=9)
    return png(fig)


def overhead_png(cmp: dict[str, Any]) -> bytes:
    """Left: task wire bytes per answered task split into payload, envelope, CURVE and ZMTP
    framing.
    Right: wire bytes per run of each plane (the overhead figures counted in bytes)."""
    names = list(cmp["protocols"])
    ov = {p: cmp["protocols"][p]["overhead"] for p in names}
    labels = {f.name: (f.label or f.name).strip() for f in OVERHEAD}
    fig = Figure(figsize=(13, 4.5), layout="constrained")
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    x = np.arange(len(names))
    bottom = np.zeros(len(names))
    # greys: the protocols own the colour cycle in every other chart of the page
    for shade, name in zip((0.8, 0.6, 0.4, 0.2), TASK_SPLIT, strict=True):
        heights = np.array([ov[p][name]["mean"] or 0.0 for p in names])
        left.bar(x, heights, bottom=bottom, label=labels[name], width=0.6,
                 color=colormaps["Greys"](shade))
        bottom += heights
    total = [ov[p][TASK_TOTAL] for p in names]
    left.errorbar(x, [s["mean"] or 0.0 for s in total], yerr=[s["ci95"] or 0.0 for s in total],
                  fmt="none", ecolor="black", capsize=6, label="95 % CI of the total")
    left.set_xticks(x, names)
    left.set_ylabel(labels[TASK_TOTAL])
    left.legend(fontsize=8)
    planes = [f.name for f in OVERHEAD if f.name.endswith("_bytes")]
    width = 0.8 / max(1, len(names))
    for i, p in enumerate(names):
        stats = [ov[p][n] for n in planes]
        right.bar(np.arange(len(planes)) + i * width, [s["mean"] or 0.0 for s in stats], width,
                  yerr=[s["ci95"] or 0.0 for s in stats], capsize=3, label=p)
    right.set_xticks(np.arange(len(planes)) + width * (len(names) - 1) / 2,
                     [labels[n] for n in planes], rotation=20, ha="right", fontsize=8)
    right.set_yscale("log")  # heartbeats and handshakes are orders of magnitude below tasks
    right.set_ylabel("wire bytes per run (log)")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(axis="y", alpha=0.3)
    return png(fig)


def comparison_page(cmp: dict[str, Any], folder: Path) -> str:
    s = cmp["settings"]
    parts = ["<h1>fsr comparison</h1>",
             f'<p class="sub">protocols {esc(", ".join(cmp["protocols"]))} · repeats '
             f'{esc(s.get("repeats", "?"))} · seeds {esc(s.get("seeds", "?"))} (the same for '
             "every protocol: paired storms)</p>"]
    settings = [(k, json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v)
                for k, v in s.items()] + [("CI", f"95 %, {cmp['ci']}"),
                                          ("n", "runs with a value / runs of the protocol")]
    parts += ["<h2>Metrics (mean ± 95 % CI)</h2>", table(*metric_table(cmp))]
    if cmp.get("paired"):
        parts += [f"<h3>{esc(paired_title(cmp))} (mean ± 95 % CI)</h3>",
                  table(*paired_table(cmp)), f'<p class="def">{esc(PAIRED_LEGEND)}</p>']
    parts += [img(metrics_png(cmp), "per-metric bar charts")]
    # a figure under "details" is defined by its checker's docstring (details.<checker>.…)
    defs = [(f.name, prose(definition(f.path[1] if f.path[0] == "details" else f.path[0])))
            for f in METRICS]
    parts += ["<h3>Definitions</h3>", table(["metric", "definition"], defs)]
    parts += ["<h2>Protocol overhead (mean ± 95 % CI per run)</h2>",
              img(overhead_png(cmp), "overhead breakdown"), table(*overhead_table(cmp)),
              f'<p class="def">{prose(definition("overhead"))}</p>']
    runs = [[*(r[k] for k in ("protocol", "repeat", "seed")), _run_link(folder, r["dir"]),
             r["exit_code"], r["wall_s"]] for r in cmp["runs"]]
    parts += ["<h2>Runs</h2>", table(["protocol", "repeat", "seed", "folder", "exit", "wall s"],
                                     runs)]
    if foot := notes(cmp):
        parts += ["<h2>Notes</h2>", "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in foot)
                  + "</ul>"]
    parts += ["<h2>Settings</h2>", table(None, settings),
              f'<p class="sub">Rendered from {COMPARISON_JSON} by fsr.report.</p>']
    return page("fsr comparison", "\n".join(parts))


def _run_link(folder: Path, run: str) -> Any:
    """The run's own report, when it has one (a plain relative link: the page stays usable
    offline and when the folder is moved)."""
    report = Path(run) / "report" / "report.html"
    if (folder / report).is_file():
        return Raw(f'<a href="{esc(report.as_posix())}">{esc(run)}</a>')
    return run


def write_comparison_html(folder: Path, cmp: dict[str, Any]) -> Path:
    """Write ``comparison.html`` into the comparison folder; returns its path."""
    cmp = {**cmp, "protocols": {p: cmp["protocols"][p] for p in protocols(cmp)}}
    path = folder / COMPARISON_HTML
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(comparison_page(cmp, folder))
    tmp.replace(path)
    return path


def write_comparison_report(compare_dir: str | Path) -> Path:
    """Render ``COMPARE_DIR/comparison.html`` from the ``comparison.json`` that `fsr compare`
    wrote there; returns its path."""
    folder = Path(compare_dir)
    source = folder / COMPARISON_JSON
    try:
        cmp = json.loads(source.read_text())
    except (OSError, ValueError) as exc:
        raise ReportError(f"{source}: not a readable comparison ({exc})") from exc
    if cmp.get("schema") != COMPARISON_SCHEMA:
        raise ReportError(f"{source}: schema {cmp.get('schema')!r}, expected {COMPARISON_SCHEMA!r}")
    fill_missing(cmp)
    return write_comparison_html(folder, cmp)
