"""Presenting a comparison: ``comparison.json``, ``comparison.csv``, ``comparison.md`` and the
console tables — all rendered from `aggregate`'s output alone, so `--from` reproduces them."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from fsr.compare.aggregate import METRICS, OVERHEAD, Figure, dig

FILES = ("comparison.json", "comparison.csv", "comparison.md")
MARK = "*"  # on a paired difference whose 95 % CI excludes 0
PAIRED_LEGEND = (f"{MARK}: the 95 % CI of the difference excludes 0. Paired over seeds: d = "
                 "protocol − baseline on the same seed (same victims and workload), both runs "
                 "counted and both values non-null; mean(d) ± t(0.975, n−1)·s_d/√n over the "
                 "n pairs.")
CSV_FIELDS = ("section", "protocol", "figure", "runs", "n", "mean", "ci95", "low", "high", "sd",
              "nulls")


def estimate(s: dict[str, Any], digits: int) -> str:
    """'mean ± half-width' ('mean' alone with one value, '—' with none)."""
    if s["mean"] is None:
        return "—"
    text = f"{s['mean']:.{digits}f}"
    return text if s["ci95"] is None else f"{text} ± {s['ci95']:.{digits}f}"


def with_n(s: dict[str, Any], digits: int, sep: str = " ") -> str:
    return f"{estimate(s, digits)}{sep}(n={s['n']}/{s['runs']})"


def metric_table(cmp: dict[str, Any], sep: str = " ") -> tuple[list[str], list[list[str]]]:
    """The spec's table: one row per protocol, one column per metric."""
    header = ["protocol", *(f.name.replace("_p50", " p50") for f in METRICS),
              "steady state: runs"]
    rows = [[name, *(with_n(p["metrics"][f.name], f.digits, sep) for f in METRICS),
             settling_cell(p.get("settling"))]
            for name, p in cmp["protocols"].items()]
    return header, rows


def settling_cell(counts: dict[str, int] | None) -> str:
    """How the runs settled: settled, not settled, not disturbed, too few tasks to tell."""
    if not counts:
        return "-"
    return " · ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items() if v) or "-"


def diff_cell(d: dict[str, Any], digits: int, sep: str = " ") -> str:
    """'+mean ± half-width' of a paired difference, MARK when its CI excludes 0, and the
    number of pairs ('—' with none)."""
    if d["mean"] is None:
        return f"—{sep}(0 pairs)"
    text = f"{d['mean']:+.{digits}f}"
    if d["ci95"] is not None:
        text += f" ± {d['ci95']:.{digits}f}"
    mark = MARK if d["excludes_zero"] else ""
    return f"{text}{mark}{sep}({d['n']} pair{'' if d['n'] == 1 else 's'})"


def paired_title(cmp: dict[str, Any]) -> str:
    """'paired difference vs json' (vs each mode's first protocol with failure handling both)."""
    bases = list(dict.fromkeys(c["baseline"] for c in cmp.get("paired", [])))
    more = " (the first protocol under the same failure handling)" if len(bases) > 1 else ""
    return f"paired difference vs {', '.join(bases)}{more}"


def paired_table(cmp: dict[str, Any], sep: str = " ") -> tuple[list[str], list[list[str]]]:
    """One row per protocol compared, one column per metric: its difference from the baseline,
    paired by seed. No rows when there is nothing to compare (one protocol)."""
    header = ["protocol", "vs", *(f.name.replace("_p50", " p50") for f in METRICS)]
    rows = [[c["protocol"], c["baseline"],
             *(diff_cell(c["metrics"][f.name], f.digits, sep) for f in METRICS)]
            for c in cmp.get("paired", [])]
    return header, rows


def overhead_table(cmp: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The overhead report: one row per figure, one column per protocol."""
    names = list(cmp["protocols"])
    rows = [[f.label or f.name,
             *(with_n(cmp["protocols"][p]["overhead"][f.name], f.digits) for p in names)]
            for f in OVERHEAD]
    return ["figure", *names], rows


def notes(cmp: dict[str, Any]) -> list[str]:
    """Runs that could not be counted, and every null with its reason and count."""
    out = []
    for name, p in cmp["protocols"].items():
        out += [f"{name}: run {f['dir']} not counted: {f['reason']}" for f in p["failed"]]
        for section, figures in (("metrics", METRICS), ("overhead", OVERHEAD)):
            for f in figures:
                s = p[section][f.name]
                out += [f"{name}: {f.name} null in {count} of {s['runs']} run(s): {reason}"
                        for reason, count in s["nulls"].items()]
    return out


def csv_text(cmp: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for name, p in cmp["protocols"].items():
        for section, figures in (("metrics", METRICS), ("overhead", OVERHEAD)):
            for f in figures:
                s = p[section][f.name]
                w.writerow({"section": section, "protocol": name, "figure": f.name,
                            **{k: s[k] for k in CSV_FIELDS[3:-1]},
                            "nulls": "; ".join(f"{c}x {r}" for r, c in s["nulls"].items())})
    return buf.getvalue()


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def per_run_table(cmp: dict[str, Any], metrics_of: dict[str, dict[str, Any]]) -> str:
    """Every run with its own values, so paired storms (same seed) can be read side by side."""
    header = ["protocol", "repeat", "seed", "folder", "exit", "wall s",
              *(f.name for f in METRICS)]
    rows = []
    for r in cmp["runs"]:
        m = metrics_of.get(r["dir"])
        values = [fmt(dig(m, f.path), f) if m else "—" for f in METRICS]
        rows.append([r["protocol"], str(r["repeat"]), str(r["seed"]), r["dir"],
                     "?" if r["exit_code"] is None else str(r["exit_code"]),
                     "—" if r["wall_s"] is None else f"{r['wall_s']:.1f}", *values])
    return md_table(header, rows)


def fmt(value: Any, f: Figure) -> str:
    return "—" if value is None else f"{float(value):.{f.digits}f}"


def markdown(cmp: dict[str, Any], metrics_of: dict[str, dict[str, Any]]) -> str:
    s = cmp["settings"]
    head = ["# fsr comparison", ""]
    if s:
        head += [f"- protocols: {', '.join(s.get('protocols', []))}",
                 f"- repeats: {s.get('repeats')} (seeds {s.get('seeds')}, the same for every "
                 "protocol: paired storms)",
                 f"- quick timeline: {s.get('quick')}",
                 f"- config file: {s.get('config') or '(defaults)'}",
                 f"- overrides: {json.dumps(s.get('overrides', {}), sort_keys=True)}"]
    head += [f"- CI: 95 %, {cmp['ci']}", "- n = runs with a value / runs of the protocol", ""]
    body = ["## Metrics (mean ± 95 % CI)", "", md_table(*metric_table(cmp)), ""]
    if cmp.get("paired"):
        body += [f"## Metrics: {paired_title(cmp)} (mean ± 95 % CI)", "",
                 md_table(*paired_table(cmp)), "", "\\" + PAIRED_LEGEND, ""]
    body += ["## Protocol overhead (mean ± 95 % CI per run)", "", md_table(*overhead_table(cmp)),
            "", "## Runs", "", per_run_table(cmp, metrics_of), ""]
    foot = notes(cmp)
    if foot:
        body += ["## Notes", "", *(f"- {n}" for n in foot), ""]
    return "\n".join(head + body)


def write_reports(cmp: dict[str, Any], folder: Path,
                  metrics_of: dict[str, dict[str, Any]]) -> list[Path]:
    texts = (json.dumps(cmp, indent=2, sort_keys=True) + "\n", csv_text(cmp),
             markdown(cmp, metrics_of))
    paths = []
    for name, text in zip(FILES, texts, strict=True):
        path = folder / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)  # a reader never sees half a report
        paths.append(path)
    return paths


def transpose(header: list[str], rows: list[list[str]],
              lead: int = 1) -> tuple[list[str], list[list[str]]]:
    """One row per figure and one column per row of `rows` (named by its `lead` first cells):
    a terminal is too narrow for a column per metric."""
    names = [" − ".join(row[:lead]) for row in rows]
    return ["metric", *names], [[h, *(row[i] for row in rows)]
                                for i, h in enumerate(header) if i >= lead]


def print_tables(console: Console, cmp: dict[str, Any]) -> None:
    tables: list[tuple[str, tuple[list[str], list[list[str]]], str | None]] = [(
        "fsr compare — mean ± 95 % CI (n = runs with a value / runs)",
        transpose(*metric_table(cmp, sep="\n")), None)]
    if cmp.get("paired"):
        tables.append((f"{paired_title(cmp)} — mean ± 95 % CI",
                       transpose(*paired_table(cmp, sep="\n"), lead=2), PAIRED_LEGEND))
    tables.append(("protocol overhead — mean ± 95 % CI per run", overhead_table(cmp), None))
    for title, (header, rows), legend in tables:
        table = Table(title=title)
        for col in header:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
        if legend:
            console.print(legend, markup=False, highlight=False)
    for line in notes(cmp):
        console.print(f"note: {line}", markup=False, highlight=False)
