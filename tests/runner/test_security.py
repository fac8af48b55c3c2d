"""`--security curve` (the default) on a live run: only the run's own nodes get through, a node's
routing id is bound to its key, every refusal is counted, and the keys never leave their file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import msgpack
import zmq

from fsr.bus.security import key_path, read_run_keys
from tests.helpers import events, fast_config, log_path, start_fsr, wait_for_event

STOP = [b"", msgpack.packb({"k": "stop"})]


def dealer(ctx: zmq.Context, port: int, keys: tuple[bytes, bytes] | None = None,
           server_key: bytes | None = None) -> zmq.Socket:
    """A DEALER that claims routing id ``runner`` and sends the agent a well-formed ``stop``."""
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.IDENTITY, b"runner")
    sock.setsockopt(zmq.LINGER, 0)
    if keys is not None:
        sock.curve_publickey, sock.curve_secretkey = keys
        sock.curve_serverkey = server_key
    sock.connect(f"tcp://127.0.0.1:{port}")
    sock.send_multipart(STOP)
    return sock


def test_curve_refuses_foreigners_and_binds_routing_ids(tmp_path: Path,
                                                         zmq_ctx: zmq.Context) -> None:
    out = tmp_path / "run"
    cfg = fast_config(tmp_path, scenario={"duration": 8})
    proc = start_fsr("run", "--config", str(cfg), "--kill-fraction", "0", "--out", str(out))
    wait_for_event(out, lambda e: e["event"] == "phase" and e["name"] == "work")
    path = key_path(out)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keys = read_run_keys(path)
    target = next(e for e in events(out) if e["event"] == "agent_started"
                  and e["node"] == "agent_2")
    port, agent_key = target["port"], keys["agent_2"][0]
    socks = [
        dealer(zmq_ctx, port),  # no CURVE at all
        dealer(zmq_ctx, port, zmq.curve_keypair(), agent_key),  # a key the run never made
        # an insider: agent_1's own key pair, but claiming to be the runner
        dealer(zmq_ctx, port, keys["agent_1"], agent_key),
    ]

    def refused(hows: set[str]) -> None:
        wait_for_event(out, lambda e: e["event"] == "handshake_failed"
                       and e["node"] == "agent_2" and e["how"] in hows, timeout=20)

    # The NULL client's refusal is a mechanism mismatch; which side sees it first is a race:
    # the agent reports it ("protocol"), or finds the client already gone ("no_detail", EPIPE).
    refused({"protocol", "no_detail"})
    refused({"auth"})
    attempts_done = wait_for_event(out, lambda e: e["event"] == "frame_dropped"
                                   and e["node"] == "agent_2"
                                   and "is not its key's" in e["reason"], timeout=20)["ts"]
    for sock in socks:
        sock.close(linger=0)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]

    evs = events(out)
    fails = [e for e in evs if e["event"] == "handshake_failed"]
    assert {e["node"] for e in fails} == {"agent_2"}
    assert "auth" in {e["how"] for e in fails} <= {"protocol", "auth", "no_detail"}
    assert {e["why"] for e in fails if e["how"] == "auth"} == {"ZAP status 400"}
    assert {e["why"] for e in fails if e["how"] == "protocol"} <= {"ZMTP_MECHANISM_MISMATCH"}
    dropped = [e for e in evs if e["event"] == "frame_dropped"]
    assert len(dropped) == 1 and dropped[0]["node"] == "agent_2"
    assert dropped[0]["reason"] == "routing id 'runner' is not its key's (agent_1)"
    # nobody's stop got through: agent_2 kept working after the attempts and stopped with the run
    assert any(e["node"] == "agent_2" and e["event"] in ("stage_exec", "lookup_exec")
               and e["ts"] > attempts_done for e in evs)
    stop_phase = next(e["ts"] for e in evs if e["event"] == "phase" and e["name"] == "stop")
    assert all(e["ts"] >= stop_phase for e in evs
               if e["event"] == "agent_stopped" and e["node"] == "agent_2")
    # the keys stay in their file: no secret (nor public) key in the plan or the log
    written = (out / "plan.json").read_text() + log_path(out).read_text()
    assert not [k for pair in keys.values() for k in pair if k.decode() in written]
    # and every byte of the run was counted under CURVE
    sends = [e for e in evs if e["event"] == "send"]
    assert sends and all(e["sec"] >= 33 for e in sends)  # a MESSAGE command per frame
    run_start = next(e for e in evs if e["event"] == "run_start")
    assert run_start["config"]["scenario"]["security"] == "curve"
    metrics = json.loads((out / "failstorm_metrics.json").read_text())
    assert metrics["bytes"]["security"] > 0
