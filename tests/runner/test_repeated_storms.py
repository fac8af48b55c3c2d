"""Cyclic storms (`--storms 3 --storm-every S`) on real processes: three storms, each with its own
victims killed and restarted, per-storm metrics from the log, and a byte-identical replay."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.helpers import events, fast_config, log_path, metrics, run_fsr, wire_between


def test_three_storms_with_per_storm_metrics(tmp_path: Path) -> None:
    cfg = fast_config(tmp_path, scenario={"duration": 20, "kill_at": 4, "restart_delay": 1.5})
    out = tmp_path / "run"
    proc = run_fsr("run", "--config", str(cfg), "--storms", "3", "--storm-every", "5",
                   "--out", str(out), "--no-report")
    assert proc.returncode == 0, proc.stderr[-3000:]
    evs = events(out)
    starts = [e for e in evs if e["event"] == "storm_start"]
    assert [e["storm"] for e in starts] == [0, 1, 2]
    t0 = next(e["ts"] for e in evs if e["event"] == "phase" and e["name"] == "broadcast")
    # scheduled every 5 s from 4 s; each strikes at its time or late (a loaded machine), never
    # early, and before the next one is due
    assert [e["at"] for e in starts] == [4, 9, 14]
    assert all(0 <= e["ts"] - t0 - e["at"] < 2.5 for e in starts), [
        e["ts"] - t0 - e["at"] for e in starts]
    assert [e["storm"] for e in evs if e["event"] == "storm_end"] == [0, 1, 2]
    for s in starts:
        kills = [e for e in evs if e["event"] == "kill" and e["storm"] == s["storm"]]
        assert sorted(e["victim"] for e in kills) == s["victims"] and len(kills) == 2
        for k in kills:  # each victim came back as a new process
            assert any(e["event"] == "agent_started" and e["node"] == k["victim"]
                       and e["ts"] > k["kill_ts"] and e["pid"] != k["pid"] for e in evs)
    m = metrics(out)
    assert m["fault"]["storms"] == 3
    assert [s["index"] for s in m["storms"]] == [0, 1, 2]
    for s, start in zip(m["storms"], starts, strict=True):
        window_ms = s["window_s"] * 1000  # strike to the next storm (or the end of work)
        kills = {e["victim"]: e["kill_ts"] for e in evs if e["event"] == "kill"
                 and e["storm"] == s["index"]}
        fault = min(kills.values())
        assert s["victims"] == sorted(kills) == start["victims"]
        # heartbeats every 0.25 s x 4: about 1 s, 5 s is a generous ceiling
        assert 0 < s["detection_p50_ms"] <= s["detection_max_ms"] < 5000, s
        assert 0 < s["recovery_ms"] <= window_ms, s
        # rejoin: each victim's new process to its first handshake with a survivor of the storm
        rejoins = []
        for v, kill_ts in kills.items():
            up = next(e["ts"] for e in evs if e["event"] == "agent_started" and e["node"] == v
                      and e["ts"] > kill_ts)
            hs = next(e["ts"] for e in evs if e["event"] == "handshake_done" and e["ts"] >= up
                      and {e["node"], e["peer"]} - set(kills) and v in (e["node"], e["peer"]))
            rejoins.append((hs - up) * 1000)
        assert min(rejoins) - 0.002 <= s["rejoin_p50_ms"] <= max(rejoins) + 0.002, (s, rejoins)
        assert s["bytes_window"] == wire_between(
            evs, fault, fault + min(5, s["window_s"])) > 0, s
        assert s["post_n"] > 0 and 0 <= s["success_post"] <= 1, s
    assert m["storms_overall"]["recovery_ms"]["n"] == 3
    assert m["recovery_ms"] == m["storms"][0]["recovery_ms"]  # the headline is storm 0's
    ends = Counter(e["task"] for e in evs if e["event"] == "task_end")
    assert set(ends.values()) == {1}
    replayed = tmp_path / "replayed.json"
    again = run_fsr("replay", str(log_path(out)), "--out", str(replayed))
    assert again.returncode == 0, again.stderr
    assert replayed.read_bytes() == (out / "failstorm_metrics.json").read_bytes()
