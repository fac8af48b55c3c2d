"""Every registered protocol survives the same compressed storm with every metric measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsr.protocols import REGISTRY
from tests.helpers import check_storm_figures, events, fast_config, metrics, run_fsr


@pytest.mark.parametrize("protocol", [p for p in REGISTRY if p != "json"])  # json: test_storm
def test_storm_with_every_metric(tmp_path: Path, protocol: str) -> None:
    out = tmp_path / "run"
    proc = run_fsr("run", "--config", str(fast_config(tmp_path)), "--protocol", protocol,
                   "--out", str(out), "--no-report")
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = metrics(out)
    assert m["protocol"] == protocol and m["fault"]["victims"] == ["agent_2", "agent_4"]
    for key in ("recovery_ms", "steady_state_ms", "bytes_reconnect", "success_rate_drop",
                "duplicate_work_ratio"):
        assert isinstance(m[key], int | float), (key, m["details"])
    # each of them the value the log gives, inside the 8 s after the fault (fast_config: 14 s of
    # work, the kill at 6 s)
    check_storm_figures(events(out), m, duration=14)
    assert m["details"]["detection"]["missing"] == []
    # offline answers before the fault are as good as json's (all correct on the default doc)
    assert m["details"]["success_rate_drop"]["pre"]["success_rate"] >= 0.95
    assert m["overhead"] and m["bytes"]["sends"]["envelope"] > 0
