"""The Fail-Storm Injector: the fault schedule, victims drawn with the seeded RNG, process faults
(SIGKILL, SIGSTOP) and network faults (netfilter rules in the run's own network namespace)."""

from fsr.injector.storm import FailStorm, choose_victims, resolve_targets

__all__ = ["FailStorm", "choose_victims", "resolve_targets"]
