"""The run plots: the storm timeline (Jepsen-style performance plot) and the detection matrix.

Figures are drawn on matplotlib's Agg canvas directly (`Figure` + `FigureCanvasAgg`), never through
pyplot: no global state, no display needed, and a user's interactive backend is left alone. Each
function returns PNG bytes so the caller writes the file and embeds the same bytes in the HTML.
"""

from __future__ import annotations

import io
import statistics
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import EngFormatter, MaxNLocator

from fsr.report.marks import StormMarks

DPI = 100
# A per-second byte total above CLIP_FACTOR x the median second is drawn clipped (with its value
# written on top): the t = 0 document broadcast would otherwise flatten every other second.
CLIP_FACTOR = 4.0
# Above this many cells the detection matrix is colour only; the numbers would not be legible.
MAX_ANNOTATED_CELLS = 400

KILL, DETECT, UP, REJOIN, STEADY = "tab:red", "tab:orange", "tab:gray", "tab:green", "tab:blue"
SHADE: dict[str, Any] = dict(color="tab:gray", alpha=0.15, lw=0)
SHADE_MEANING = "fault window [fault, fault + reconnect_window]: what bytes_reconnect counts"
# each storm, from its strike until its last victim is back, shaded by the fault's kind
FAULT_COLOURS = {"kill": "tab:red", "pause": "tab:purple", "partition": "tab:brown",
                 "loss": "tab:olive"}


def png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)  # attach the Agg canvas: savefig renders through it
    buf = io.BytesIO()
    # No Software/date metadata: the same log renders to the same bytes, like `fsr replay`.
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def steps(rows: list[dict[str, Any]], value: Any) -> tuple[list[float], list[float]]:
    """Edges and values for a post-step line: row t covers [t, t + 1)."""
    xs = [r["t"] for r in rows] + [rows[-1]["t"] + 1]
    ys = [value(r) for r in rows]
    return xs, ys + ys[-1:]


def _storm_overlay(ax: Any, m: StormMarks, lines: bool = True) -> None:
    """The fault window, steady state and end of work on one panel; kill/rejoin lines optional."""
    if m.window:
        ax.axvspan(*m.window, **SHADE)
    for start, back, kind in m.faults:
        ax.axvspan(start, max(back, start + 0.2), color=FAULT_COLOURS.get(kind, "tab:gray"),
                   alpha=0.18, lw=0)
    if m.steady is not None:
        ax.axvline(m.steady, color=STEADY, ls=":", lw=1.5)
    ax.axvline(m.end_submit, color="black", ls=(0, (1, 3)), lw=1)
    if lines:
        for t in m.kills.values():
            ax.axvline(t, color=KILL, lw=0.8, alpha=0.5)
        for t in m.rejoins.values():
            ax.axvline(t, color=REJOIN, lw=0.8, alpha=0.5, ls="--")


def _lanes(ax: Any, m: StormMarks) -> None:
    """One row per victim: its kill, every survivor's detection of it, process up, rejoin."""
    _storm_overlay(ax, m, lines=False)
    if not m.victims:
        ax.text(0.5, 0.5, "no fault injected", transform=ax.transAxes, ha="center", va="center")
        ax.set_yticks([])
        return
    lane = {v: i for i, v in enumerate(m.victims)}
    ax.scatter([m.kills[v] for v in m.victims], list(range(len(m.victims))), marker="X", s=60,
               color=KILL, zorder=3)
    ax.scatter([d.t for d in m.detections], [lane[d.victim] for d in m.detections], marker="|",
               s=120, color=DETECT, zorder=3)
    up = [v for v in m.victims if v in m.restarts]
    ax.scatter([m.restarts[v] for v in up], [lane[v] for v in up], marker="o", s=40,
               facecolor="none", edgecolor=UP, zorder=3)
    back = [v for v in m.victims if v in m.rejoins]
    ax.scatter([m.rejoins[v] for v in back], [lane[v] for v in back], marker="o", s=40,
               color=REJOIN, zorder=4)
    ax.set_yticks(range(len(m.victims)), m.victims)
    ax.set_ylim(len(m.victims) - 0.5, -0.5)
    ax.set_ylabel("victims")


def _tasks(ax: Any, rows: list[dict[str, Any]]) -> None:
    xs, done = steps(rows, lambda r: r["ended"])
    _, ok = steps(rows, lambda r: r["correct"])
    ax.step(xs, done, where="post", color="black", lw=1.2, label="completed (any end state)")
    ax.step(xs, ok, where="post", color="tab:green", lw=1.5, label="correct")
    ax.fill_between(xs, ok, done, step="post", color="tab:red", alpha=0.25,
                    label="completed, not correct")
    ax.set_ylabel("tasks / s")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _live(ax: Any, rows: list[dict[str, Any]], agent_count: int) -> None:
    xs, live = steps(rows, lambda r: r["live_agents"])
    ax.step(xs, live, where="post", color="tab:purple", lw=1.5, label="live agents")
    ax.set_ylim(0, max([agent_count, *live]) + 0.5)  # a hub (ioa) is one process more
    ax.set_ylabel("agents")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _bytes(ax: Any, rows: list[dict[str, Any]]) -> None:
    cats = list(rows[0]["bytes"])  # the checker's category order
    t = np.array([r["t"] for r in rows], dtype=float)
    per_cat = {c: np.array([r["bytes"][c] for r in rows], dtype=float) for c in cats}
    totals = np.sum(list(per_cat.values()), axis=0)
    bottom = np.zeros(len(rows))
    for c in cats:
        ax.bar(t, per_cat[c], width=1.0, align="edge", bottom=bottom, label=c, lw=0)
        bottom += per_cat[c]
    busy = [x for x in totals if x > 0]
    cap = CLIP_FACTOR * statistics.median(busy) if busy else 0.0
    if busy and max(busy) > cap:
        ax.set_ylim(0, 1.15 * max(x for x in busy if x <= cap))
        fmt = EngFormatter(unit="B", places=0)
        for x, total in zip(t, totals, strict=True):
            if total > cap:
                # left-aligned on the bar: centred, a bar at t = 0 pushes it over the y labels
                ax.annotate(f"↑ {fmt(total)}", (x, 1), xycoords=("data", "axes fraction"),
                            xytext=(2, -2), textcoords="offset points", ha="left", va="top",
                            fontsize=8, bbox=dict(facecolor="white", alpha=0.8, lw=0, pad=1))
    ax.yaxis.set_major_formatter(EngFormatter(unit="B/s"))
    ax.set_ylabel("wire bytes / s")


def timeline_png(rows: list[dict[str, Any]], m: StormMarks, agent_count: int,
                 title: str) -> bytes:
    lane_h = max(0.8, 0.3 * len(m.victims))
    fig = Figure(figsize=(12, 8.2 + lane_h), layout="constrained")
    gs = fig.add_gridspec(4, 1, height_ratios=[lane_h, 2.2, 1.2, 2.4])
    top = fig.add_subplot(gs[0])
    axes = [top] + [fig.add_subplot(gs[i], sharex=top) for i in (1, 2, 3)]
    _lanes(top, m)
    if rows:
        _tasks(axes[1], rows)
        _live(axes[2], rows, agent_count)
        _bytes(axes[3], rows)
    for ax in axes[1:]:
        _storm_overlay(ax, m)
        # outside, right: inside it would hide the first seconds (the broadcast spike)
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1), fontsize=8, frameon=False)
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    for ax in axes:
        ax.grid(axis="x", alpha=0.3)
    axes[-1].set_xlabel("seconds since t = 0 (the document broadcast)")
    axes[-1].set_xlim(0, rows[-1]["t"] + 1 if rows else m.end_submit)
    fig.suptitle(title)
    fig.legend(handles=_key(m), loc="outside lower center", ncols=3, fontsize=9)
    return png(fig)


def _key(m: StormMarks) -> list[Any]:
    handles = [
        Line2D([], [], color=KILL, marker="X", ls="-", lw=0.8, label="kill (SIGKILL)"),
        Line2D([], [], color=DETECT, marker="|", ls="", ms=10,
               label="detection (one per survivor)"),
        Line2D([], [], color=UP, marker="o", mfc="none", ls="", label="victim process up again"),
        Line2D([], [], color=REJOIN, marker="o", ls="--", lw=0.8,
               label="rejoin (handshake with a survivor)"),
        Patch(**SHADE, label=SHADE_MEANING),
        Line2D([], [], color=STEADY, ls=":", lw=1.5,
               label="steady state reached" if m.steady is not None else "steady state: never"),
        Line2D([], [], color="black", ls=(0, (1, 3)), lw=1, label="end of work (duration)"),
    ]
    for kind in dict.fromkeys(k for _, _, k in m.faults):
        handles.append(Patch(color=FAULT_COLOURS.get(kind, "tab:gray"), alpha=0.18, lw=0,
                             label=f"{kind} storm: strike until every victim is back"))
    return handles


def _short(how: str) -> str:
    return "".join(w[0] for w in how.split("_") if w)


def detection_png(m: StormMarks, missing: list[str], title: str) -> bytes:
    """Observers (surviving agents) by victims; each cell the detection latency in ms."""
    obs, vic = m.survivors, m.victims
    if not vic or not obs:
        fig = Figure(figsize=(6, 2.5), layout="constrained")
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, "no fault injected: nothing to detect" if not vic else
                "no surviving agent to detect anything", ha="center", va="center")
        fig.suptitle(title)
        return png(fig)
    grid = np.full((len(obs), len(vic)), np.nan)
    how = {}
    row, col = {o: i for i, o in enumerate(obs)}, {v: j for j, v in enumerate(vic)}
    for d in m.detections:
        grid[row[d.observer], col[d.victim]] = (d.t - m.kills[d.victim]) * 1000
        how[row[d.observer], col[d.victim]] = d.how
    fig = Figure(figsize=(min(16, 3.5 + 1.1 * len(vic)), min(20, 2.0 + 0.4 * len(obs))),
                 layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", aspect="auto")
    if not np.isnan(grid).all():
        fig.colorbar(image, ax=ax, label="detection latency (ms)")
    kinds = sorted(set(how.values()))
    annotate = grid.size <= MAX_ANNOTATED_CELLS
    lo, hi = (np.nanmin(grid), np.nanmax(grid)) if not np.isnan(grid).all() else (0, 0)
    # three significant digits at most: socket-level detections take a few ms, heartbeats seconds
    digits = 0 if hi >= 100 else 1 if hi >= 10 else 2
    for (i, j), kind in how.items():
        if annotate:
            dark = hi == lo or (grid[i, j] - lo) / (hi - lo) < 0.6  # viridis is dark at the low end
            label = f"{grid[i, j]:.{digits}f}" + (f"\n{_short(kind)}" if len(kinds) > 1 else "")
            ax.text(j, i, label, ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")
    for pair in missing:
        o, v = pair.split("->")
        i, j = row[o], col[v]
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="lightgray", hatch="//",
                               edgecolor="dimgray", lw=0))
        if annotate:
            ax.text(j, i, "missed", ha="center", va="center", fontsize=8, color="black")
    ax.set_xticks(range(len(vic)), vic, rotation=45 if len(vic) > 6 else 0, ha="right"
                  if len(vic) > 6 else "center")
    ax.set_yticks(range(len(obs)), obs)
    ax.set_xlabel("victim (killed)")
    ax.set_ylabel("observer (survivor)")
    notes = [f"{len(m.detections)} detected, {len(missing)} missed"]
    if len(kinds) > 1:
        notes.append(", ".join(f"{_short(k)} = {k}" for k in kinds))
    elif kinds:
        notes.append(f"all by {kinds[0]}")
    ax.set_title(" · ".join(notes), fontsize=9)
    fig.suptitle(title)
    return png(fig)

