"""The Fail-Storm Injector owns the kill, and every other fault, from schedule to storm_end:

* the storms of the schedule, checked and expanded once with the config (`fsr.config.schedule`,
  `Config.storms`): which strike when, whom, for how long;
* victim choice (`victims`): each storm's targets resolved with the seeded RNG when it strikes,
  among the agents no fault holds then, a fragment's holders taken from the run's shards
  (`fsr.workload.shards`);
* what a fault holds (`FailStorm.holds`), from the strike until the fault is lifted;
* process control (`process`): SIGKILL, SIGSTOP and SIGCONT, one real-time burst per storm;
  the restart, a fresh process asked of the runner;
* network faults: netfilter rules in the run's own network namespace (`network`) and the relay
  on the agents' links (`relay`);
* the strike itself and its events (`storm`).

The runner starts the storms (`FailStorm.start`) and hears of each strike (`StormHost`,
`Strike`, in `contracts`); it asks `FailStorm.holds` before it picks an entry agent.
"""

from fsr.injector.contracts import LinkFaults, NetworkControl, StormHost, Strike
from fsr.injector.storm import FailStorm
from fsr.injector.victims import resolve_targets

__all__ = ["FailStorm", "LinkFaults", "NetworkControl", "StormHost", "Strike",
           "resolve_targets"]
