"""Running a comparison: validate every run's config up front, then run protocols × repeats one
after the other, each in its own folder, recording each outcome in the manifest as it happens.

Repeat i (1-based) of every protocol runs with seed = base seed + i - 1, so the k-th storm of each
protocol kills the same victims over the same workload: the comparison is paired.

Each run is its own ``fsr run`` process (`subprocess_launch`) fed the run's resolved config:
nothing — ZeroMQ context, forkserver, open sockets — carries over from one run to the next. (With
every run in one process, a long comparison was seen to reach a state where the runner no longer
heard any agent, and every later run failed at start-up.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fsr import events as ev
from fsr.compare.aggregate import MANIFEST, RunRecord
from fsr.config import Config, ConfigError, load_config, to_dict
from fsr.config.schema import flags, resolved
from fsr.eventlog import read_events
from fsr.protocols import REGISTRY
from fsr.protocols.failure import MODES

# --quick: the default scenario at half its times, the storm in ~30 s of work per run (about 40 s
# wall with start-up and drain). One common factor, 0.5, on every time that shapes recovery:
# the work's service time (so the mesh runs at the same utilisation with twice the task rate),
# json's heartbeat (0.5 s x 3) and each native design's timeouts, pings and backoff
# (`failure_scale`); the hop and task timeouts stay `auto`, which follows both. The strike at
# 12 s finds the mesh loaded (a task takes ~5 s); 18 s are left to recover and settle.
QUICK: dict[str, Any] = {
    "scenario.duration": 30, "scenario.kill_at": 12, "scenario.restart_delay": 2.5,
    "heartbeat.interval": 0.5, "heartbeat.liveness": 3,
    "metrics.steady_window": 4, "metrics.reconnect_window": 8,
    "scenario.failure_scale": 0.5,
    "workload.service_time": {"dist": "lognormal", "median": 1.13, "p95": 1.565},
}
QUICK_REPEATS = 5  # paired seeds: enough for a paired t interval (4 df) to be readable
MAX_REPEATS = 100
CONFIGS = "configs"  # <comparison>/configs/<run>.yaml: the exact config each run was given
STOP_GRACE_S = 30.0  # an interrupted or overdue run's time to stop its agents and write metrics

Launch = Callable[[Config, str, bool], int]


@dataclass
class Planned:
    record: RunRecord
    cfg: Config


@dataclass
class Comparison:
    folder: Path
    settings: dict[str, Any]
    runs: list[Planned] = field(default_factory=list)


def parse_protocols(text: str | None) -> list[str]:
    if text is None:
        return list(REGISTRY)
    names = [p.strip() for p in text.split(",") if p.strip()]
    known = ", ".join(REGISTRY)
    if not names:
        raise ConfigError(f"--protocols: give one or more of {known}")
    for p in names:
        if p not in REGISTRY:
            raise ConfigError(f"--protocols: unknown protocol {p!r} (known: {known})")
    if len(set(names)) != len(names):
        raise ConfigError(f"--protocols: a protocol is listed twice (got {text!r})")
    return names


def parse_repeats(text: str | None, quick: bool = False) -> int:
    value = str(QUICK_REPEATS if quick else 3) if text is None else text.strip()
    if not value.isdigit() or not 1 <= int(value) <= MAX_REPEATS:
        raise ConfigError(f"--repeats: must be an integer between 1 and {MAX_REPEATS} "
                          f"(got {text!r})")
    return int(value)


def parse_modes(value: str | None) -> list[str | None]:
    """--failure-handling: native | uniform | both (None: the config's)."""
    if value is None:
        return [None]
    if value == "both":
        return list(MODES)
    if value not in MODES:
        raise ConfigError(f"--failure-handling: must be native, uniform or both (got {value!r})")
    return [value]


def parse_variants(text: str | None) -> tuple[str, list[str]]:
    """--variants KEY=V1,V2,...: the config key (dotted, or a flag's name: ``detector``) and its
    values, each a column of the comparison; ("", [""]) without it."""
    if text is None:
        return "", [""]
    key, sep, values = text.partition("=")
    key = key.strip().replace("-", "_")
    names = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not key or not names:
        raise ConfigError(f"--variants: must be KEY=VALUE,VALUE,... (got {text!r})")
    if len(set(names)) != len(names):
        raise ConfigError(f"--variants: a value is listed twice (got {text!r})")
    return flags().get(key, (key, ""))[0], names


def plan(protocols: str | None, repeats: str | None, config: Path | None, quick: bool,
         overrides: dict[str, Any], out: str | None,
         failure_handling: str | None = None, variants: str | None = None) -> Comparison:
    """Every run's validated config and folder; raises ConfigError (one line) before any run.
    With ``--failure-handling both`` each protocol runs under both designs, labelled
    ``<protocol>/native`` and ``<protocol>/uniform`` (paired seeds across the two); with
    ``--variants KEY=A,B`` under each value, labelled ``<protocol>/A`` and ``<protocol>/B``, each
    compared with the first value's runs of the same protocol."""
    modes = parse_modes(failure_handling)
    key, values = parse_variants(variants)
    if key and len(modes) > 1:
        raise ConfigError("--variants: cannot be combined with --failure-handling both (give "
                          "--variants scenario.failure_handling=native,uniform instead)")
    names = parse_protocols(protocols)
    n = parse_repeats(repeats, quick)
    given = {k: v for k, v in overrides.items() if v is not None}
    merged = {**(QUICK if quick else {}), **given}
    base = load_config(config, merged).scenario.seed
    folder = Path(out) if out else Path("runs") / f"compare-{time.strftime('%Y%m%d-%H%M%S')}"
    if folder.exists() and any(folder.iterdir()):
        raise ConfigError(f"--out: {folder} exists and is not empty; comparisons never overwrite")
    seeds = [base + i for i in range(n)]
    settings = {"protocols": names, "repeats": n, "seeds": seeds, "quick": quick,
                "config": str(config) if config else None, "overrides": merged}
    cmp = Comparison(folder, settings)
    settings["failure_handling"] = failure_handling
    if key:
        settings["variants"] = {"key": key, "values": values}
    for name in names:
        for mode, value in ((m, v) for m in modes for v in values):
            label = name if len(modes) == 1 else f"{name}/{mode}"
            label += f"/{value}" if key else ""
            extra = {} if mode is None else {"scenario.failure_handling": mode}
            if key:
                extra[key] = value
            for i, seed in enumerate(seeds, start=1):
                try:
                    cfg = load_config(config, {**merged, **extra, "scenario.protocol": name,
                                               "scenario.seed": seed})
                except ConfigError as exc:  # a variant's value names the flag that gave it
                    raise ConfigError(f"--variants: {exc}" if key else str(exc)) from exc
                folder_name = label.replace("/", "-") + f"-r{i}"
                cmp.runs.append(Planned(RunRecord(label, i, seed, folder_name), cfg))
    return cmp


def write_manifest(cmp: Comparison) -> None:
    data = {"settings": cmp.settings, "runs": [p.record.manifest_entry() for p in cmp.runs]}
    path = cmp.folder / MANIFEST
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def execute(cmp: Comparison, launch: Launch, say: Callable[[str], None]) -> int:
    """Run every planned run in order; a failing run is recorded and the comparison goes on.
    Returns 130 if interrupted (the remaining runs are left out), else 0."""
    cmp.folder.mkdir(parents=True, exist_ok=True)
    write_manifest(cmp)
    for k, p in enumerate(cmp.runs, start=1):
        r = p.record
        say(f"[compare] run {k}/{len(cmp.runs)}: {r.protocol} repeat {r.repeat} seed {r.seed} "
            f"-> {cmp.folder / r.dir}")
        start = time.monotonic()
        try:
            r.exit_code = launch(p.cfg, str(cmp.folder / r.dir), False)
        except KeyboardInterrupt:
            r.exit_code, r.error = 130, "interrupted"
        except Exception as exc:  # a crash of one run must not end the comparison
            r.exit_code, r.error = 1, f"{type(exc).__name__}: {exc}"[:300]
        r.wall_s = round(time.monotonic() - start, 3)
        if r.exit_code != 0 and not r.error:
            r.error = failure_reason(cmp.folder / r.dir)
        write_manifest(cmp)
        if r.exit_code != 0:
            say(f"[compare] run {r.dir} ended with exit code {r.exit_code} {r.error}".rstrip())
        if r.exit_code == 130:
            cmp.runs = cmp.runs[:k]
            write_manifest(cmp)
            return 130
    return 0


def subprocess_launch(cfg: Config, out: str, debug: bool, report: bool = True) -> int:
    """`fsr run` in a child process with `cfg` written as its config file; returns its exit code
    (124 if it overran its time budget and was stopped). `report=False`: no report/ folder."""
    run_dir = Path(out)
    cfg_path = run_dir.parent / CONFIGS / f"{run_dir.name}.yaml"
    cfg_path.parent.mkdir(parents=True, exist_ok=True)
    cfg_path.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    cmd = [sys.executable, "-m", "fsr", "run", "--config", str(cfg_path), "--out", out,
           *(["--debug"] if debug else []), *([] if report else ["--no-report"])]
    # start-up and shard loading may each take up to timeouts.ready, the last task may run
    # timeouts.task past the end; the margin covers stopping, metrics and the report
    budget = (2 * cfg.timeouts.ready + cfg.scenario.duration
              + resolved(cfg.timeouts.task, "timeouts.task") + 120)
    proc = subprocess.Popen(cmd, preexec_fn=sigint_default)
    try:
        return proc.wait(budget)
    except subprocess.TimeoutExpired:
        stop(proc, signal.SIGINT)
        return 124
    except KeyboardInterrupt:
        # a terminal's Ctrl-C reached the child too, and it is stopping its agents: let it finish
        try:
            proc.wait(2)
        except subprocess.TimeoutExpired:
            stop(proc, signal.SIGINT)
        return 130


def sigint_default() -> None:
    """In a child before exec: SIGINT back to its default, so the run installs its Ctrl-C
    handler and `stop` can interrupt it. A shell runs background jobs with SIGINT ignored, and a
    child inherits that (as the comparison itself may have)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Ask the run to stop (it then stops its agents), and kill it if it does not in time; its
    agents die with it (PR_SET_PDEATHSIG)."""
    proc.send_signal(sig)
    try:
        proc.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def failure_reason(run_dir: Path) -> str:
    """Why a run ended, as its runner logged it (``run_end``), when there is such a log."""
    logs = sorted((run_dir / "logs").glob("fail_storm_*.jsonl"))
    if not logs:
        return "no run log"
    events, _ = read_events(logs[0])
    ends = [e for e in events if e["event"] == ev.RUN_END]
    return str(ends[-1].get("reason", "")) if ends else "the log has no run_end event"


def stderr_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


__all__ = ["QUICK", "Comparison", "execute", "parse_protocols", "parse_repeats", "plan",
           "subprocess_launch"]
