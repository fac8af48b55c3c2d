"""The `fsr` command line: run, replay, report, gen-doc, compare.

Numeric flags are taken as text and validated by the config loader, so a bad flag and a bad
config value fail the same way: one line naming the key and the problem, exit code 2, nothing
started.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from fsr.config import ConfigError, load_config
from fsr.config.load import parse_by_role
from fsr.config.schema import flags
from fsr.workload.service import from_flag

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Fail-Storm Recovery: SIGKILL 30 % of an agent mesh, measure recovery.")

Opt = typer.Option

# The flags that set a config value, generated from the schema (`fsr.config.schema.flags`): each
# option's name -> the key it sets (and names in a bad value's one-line error). `run` takes them
# all; `compare` takes seed, agent_count and security.
CONFIG_FLAGS = {name: key for name, (key, _) in flags().items()}


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"fsr: error: {message}", err=True)
    raise typer.Exit(code)


def _run_options(
    config: Annotated[Path | None, Opt(help="YAML config file")] = None,
    out: Annotated[str | None, Opt(help="run folder (default: runs/<timestamp>-...)")] = None,
    debug: Annotated[bool, Opt(help="stream every logged event to stderr")] = False,
    report: Annotated[bool, Opt(help="write report/ (plots, report.html) at the end")] = True,
    by_role: Annotated[str | None, Opt(help="a mixed mesh: each role's protocol, ROLE=PROTOCOL,"
                                            "... (protocols.by_role), e.g. search=json,"
                                            "extract=a2a")] = None,
) -> None:
    """The options of `run` besides the config flags (this signature is read, never called)."""


def _run_signature() -> inspect.Signature:
    """`run`'s options: one per config flag, in the schema's order, its help the schema's
    (validated by the config loader, so they are taken as text), then `_run_options`."""
    generated = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                   annotation=Annotated[str | None, Opt(help=help)])
                 for name, (_, help) in flags().items()]
    own = inspect.signature(_run_options, eval_str=True).parameters.values()
    return inspect.Signature([*generated, *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
                                            for p in own)])


def run(config: Path | None = None, out: str | None = None, debug: bool = False,
        report: bool = True, by_role: str | None = None, **given: str | None) -> None:
    """Run the fail-storm scenario and write failstorm_metrics.json."""
    overrides: dict[str, Any] = {key: given.get(name) for name, key in CONFIG_FLAGS.items()}
    if given.get("service_time") is not None:
        overrides["workload.service_time"] = from_flag(str(given["service_time"]))
    # deferred, as every command's own modules below: `fsr --help` and a bad flag answer at once
    from fsr.runner.launch import launch

    try:
        if by_role is not None:
            overrides["protocols.by_role"] = parse_by_role(by_role)
        cfg = load_config(config, overrides)
    except ConfigError as exc:
        fail(_with_flag(str(exc)))
    code = launch(cfg, out, debug, report=report)
    raise typer.Exit(code)


run.__signature__ = _run_signature()  # type: ignore[attr-defined]  # what typer reads
app.command()(run)


@app.command()
def replay(
    log: Annotated[Path, typer.Argument(help="a run's logs/fail_storm_<run_id>.jsonl")],
    out: Annotated[Path | None, Opt(help="write here instead of stdout")] = None,
) -> None:
    """Recompute failstorm_metrics.json from an event log alone."""
    # deferred: this command's modules only (see `run`)
    from fsr.metrics import log_metrics
    from fsr.runner.rundir import dumps_metrics

    if not log.is_file():
        fail(f"LOG: no such file: {log}")
    try:
        _, metrics, _ = log_metrics(log)
    except (ValueError, KeyError, StopIteration) as exc:
        fail(f"LOG: {log} is not a readable fsr run log ({exc})")
    text = dumps_metrics(metrics)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
    if metrics["partial"]:
        typer.echo("fsr: note: the log is incomplete; metrics are marked partial", err=True)


@app.command("report")
def report_cmd(
    run_dir: Annotated[Path, typer.Argument(help="a run folder (holds logs/fail_storm_*.jsonl), "
                                                 "or an fsr compare folder")],
) -> None:
    """Render RUN_DIR/report/ (timeline.png, detection.png, report.html) from the event log;
    for a comparison folder, comparison.html from comparison.json."""
    # deferred: matplotlib loads for this command only (see `run`)
    from fsr.compare.html import write_comparison_report
    from fsr.report import COMPARISON_JSON, ReportError, write_run_report

    write = write_comparison_report if (run_dir / COMPARISON_JSON).is_file() else write_run_report
    try:
        path = write(run_dir)
    except ReportError as exc:
        fail(f"RUN_DIR: {exc}")
    typer.echo(f"report: {path}")


@app.command("gen-doc")
def gen_doc(
    out: Annotated[Path, typer.Argument(help="where to write the document JSON")],
    seed: Annotated[int, Opt(help="generator seed")] = 2024,
    entities: Annotated[int, Opt(help="entities (one fragment each)")] = 60,
) -> None:
    """Generate a seeded synthetic Gaia document with gold QA pairs."""
    # deferred: this command's modules only (see `run`)
    from fsr.workload import write_document

    doc = write_document(out, seed, entities)
    typer.echo(f"wrote {out}: {len(doc.fragments)} fragments, {len(doc.qa)} QA pairs")


@app.command()
def compare(
    protocols: Annotated[str | None, Opt(help="comma-separated, the first is the baseline of "
                                              "the paired differences; default: every "
                                              "registered one")] = None,
    repeats: Annotated[str | None, Opt(help="runs per protocol (default 3; 5 with --quick); "
                                            "repeat i uses seed + i - 1 for every protocol")]
    = None,
    quick: Annotated[bool, Opt(help="the default scenario at half its times: duration 30 s, "
                                    "kill_at 12 s, restart_delay 2.5 s, service time median "
                                    "1.13 s / p95 1.565 s, heartbeat 0.5 s x 3, "
                                    "failure_scale 0.5, steady_window 4 s, "
                                    "reconnect_window 8 s")] = False,
    config: Annotated[Path | None, Opt(help="YAML config file (--quick and flags win)")] = None,
    out: Annotated[str | None, Opt(help="comparison folder (default: runs/compare-<timestamp>)")]
    = None,
    seed: Annotated[str | None, Opt(help="base seed (default: the config's)")] = None,
    agent_count: Annotated[str | None, Opt(help="number of agents")] = None,
    failure_handling: Annotated[str | None, Opt(
        help="native | uniform | both (each protocol under both designs, side by side)")]
    = None,
    security: Annotated[str | None, Opt(help="curve (default) | none")] = None,
    variants: Annotated[str | None, Opt(
        help="KEY=A,B,...: each protocol under each value of one config key (dotted, or a "
             "flag's name), e.g. detector=fixed,phi; each column compared with the first "
             "value's, paired by seed")] = None,
    from_: Annotated[Path | None, Opt("--from", help="re-aggregate this comparison folder; "
                                                     "runs nothing")] = None,
) -> None:
    """Run protocols x repeats one after the other; report mean ± 95 % CI and each protocol's
    paired difference from the first (docs/compare.md)."""
    # deferred: this command's modules only (see `run`)
    from rich.console import Console

    # (and fsr.compare's)
    from fsr.compare import report, run_and_report
    from fsr.compare.run import plan, subprocess_launch

    console = Console(width=None if sys.stdout.isatty() else 160)
    if from_ is not None:
        given = {"--protocols": protocols, "--repeats": repeats, "--quick": quick or None,
                 "--config": config, "--out": out, "--seed": seed, "--agent-count": agent_count,
                 "--failure-handling": failure_handling, "--security": security,
                 "--variants": variants}
        extra = [flag for flag, value in given.items() if value is not None]
        if extra:
            fail(f"--from: re-aggregates an existing comparison; {extra[0]} cannot be used with it")
        if not from_.is_dir():
            fail(f"--from: no such folder: {from_}")
        try:
            report(from_, console)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            fail(f"--from: {from_} is not a readable comparison folder ({exc})")
        raise typer.Exit(0)
    overrides = {CONFIG_FLAGS[name]: value for name, value in
                 (("seed", seed), ("agent_count", agent_count), ("security", security))}
    try:
        planned = plan(protocols, repeats, config, quick, overrides, out, failure_handling,
                       variants)
    except ConfigError as exc:
        fail(_with_flag(str(exc)))
    raise typer.Exit(run_and_report(planned, subprocess_launch, console))


cluster_app = typer.Typer(no_args_is_help=True, help="A local Ray test cluster whose hosts are "
                                                     "network namespaces (needs root).")
app.add_typer(cluster_app, name="cluster")
_PREFIX = Opt(help="names the bridge (<prefix>br0), the namespaces (<prefix>-hN), the state file")


@cluster_app.command("up")
def cluster_up(
    hosts: Annotated[int, Opt(help="worker hosts h1..hN, a Ray node of 2 CPUs each")] = 3,
    prefix: Annotated[str, _PREFIX] = "fsr",
    subnet: Annotated[str, Opt(help="the bridge's /24: head .1, hosts .11, .12, ...")]
    = "10.77.0",
    ray_port: Annotated[int, Opt(help="the Ray head's port")] = 6390,
) -> None:
    """Start the cluster; print its Ray address on stdout (the hosts on stderr)."""
    # deferred: this command's modules only (see `run`)
    from fsr.cluster.local import ClusterError, up

    try:
        made = up(hosts=hosts, prefix=prefix, subnet=subnet, ray_port=ray_port)
    except ClusterError as exc:
        fail(str(exc))
    for name, address in made.hosts.items():
        typer.echo(f"{name} {address}", err=True)
    typer.echo(made.address)


@cluster_app.command("down")
def cluster_down(prefix: Annotated[str, _PREFIX] = "fsr") -> None:
    """Stop the cluster's Ray processes; delete its namespaces, veths and bridge."""
    # deferred: this command's modules only (see `run`)
    from fsr.cluster.local import ClusterError, down

    try:
        removed = down(prefix)
    except ClusterError as exc:
        fail(str(exc))
    if not removed:
        typer.echo(f"fsr: note: no cluster {prefix!r} to take down", err=True)


_FLAG_OF = {key: "--" + name.replace("_", "-") for name, key in CONFIG_FLAGS.items()}


def _with_flag(message: str) -> str:
    key = message.split(":", 1)[0]
    return f"{key} ({_FLAG_OF[key]}){message[len(key):]}" if key in _FLAG_OF else message


def main() -> None:
    """Console entry point: click's usage errors become one line and exit code 2."""
    # Typer may bundle its own copy of click, so match its exceptions by what they carry.
    command = typer.main.get_command(app)
    try:
        code = command.main(standalone_mode=False)
    except Exception as exc:
        if hasattr(exc, "exit_code") and not hasattr(exc, "format_message"):
            sys.exit(exc.exit_code)  # typer.Exit / click's Exit
        if hasattr(exc, "format_message"):  # click's UsageError family
            if exc.format_message():
                typer.echo(f"fsr: error: {exc.format_message()}", err=True)
            sys.exit(2)
        if type(exc).__name__ == "Abort":
            sys.exit(130)
        raise
    sys.exit(code or 0)
