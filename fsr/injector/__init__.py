"""The Fail-Storm Injector: picks victims with the seeded RNG, SIGKILLs them, restarts them."""

from fsr.injector.storm import FailStorm, choose_victims

__all__ = ["FailStorm", "choose_victims"]
