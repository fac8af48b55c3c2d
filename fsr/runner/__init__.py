"""The runner: sets up a run folder, plans the mesh, drives the scenario, writes the metrics."""

from fsr.runner.coordinator import RunFailed, Runner
from fsr.runner.rundir import prepare_run, write_metrics

__all__ = ["RunFailed", "Runner", "prepare_run", "write_metrics"]
