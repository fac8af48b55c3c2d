"""fsr's byte count against a packet capture of the same run.

    python benchmarks/capture.py [--config FILE] [--base-port 9400] [--ports 600] [--keep DIR]
                                 -- FSR_RUN_FLAGS...

Starts `tcpdump` on the loopback interface for the TCP ports at and above `--base-port`, runs
one `fsr run` (FILE with its ``scenario.base_port`` set, and the flags after ``--``), stops the
capture and sets the TCP payload bytes the capture saw against the bytes fsr counted from its
own log: every ``send``, ``hb_tally`` and ``zmtp_connect`` event's ``wire`` (the categories of
`fsr.metrics.overhead`). A difference is what fsr cannot count: bytes a SIGKILLed process sent
or received in its last loop turn, heartbeat copies in a victim's open tally, and anything else
on those ports. Needs root (or CAP_NET_RAW) and tcpdump; nothing else may use the ports.
"""

from __future__ import annotations

import argparse
import json
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

COUNTED = ("send", "hb_tally", "zmtp_connect")


def segments(pcap: Path) -> Iterator[tuple[tuple[bytes, bytes, int, int, int], int]]:
    """Each TCP segment of a classic pcap file of IPv4 over Ethernet (Linux `lo`, a bridge):
    ((source, destination, sport, dport, seq), payload bytes)."""
    data = pcap.read_bytes()
    magic, = struct.unpack_from("<I", data, 0)
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype, = struct.unpack_from(endian + "I", data, 20)
    if linktype != 1:
        raise SystemExit(f"capture: link type {linktype}, expected Ethernet (1)")
    at = 24
    while at + 16 <= len(data):
        _, _, caplen, _ = struct.unpack_from(endian + "IIII", data, at)
        frame = data[at + 16: at + 16 + caplen]
        at += 16 + caplen
        if len(frame) < 14 + 20 or frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        ihl, total = (ip[0] & 0x0F) * 4, struct.unpack_from(">H", ip, 2)[0]
        if ip[9] != 6 or len(ip) < ihl + 13:
            continue
        sport, dport, seq = struct.unpack_from(">HHI", ip, ihl)
        tcp_header = (ip[ihl + 12] >> 4) * 4
        yield (ip[12:16], ip[16:20], sport, dport, seq), total - ihl - tcp_header


def tcp_payload_bytes(pcap: Path) -> tuple[int, int]:
    """(packets, TCP payload bytes) of a capture."""
    packets = payload = 0
    for _, size in segments(pcap):
        packets += 1
        payload += size
    return packets, payload


def retransmitted_bytes(pcap: Path) -> int:
    """The payload of segments seen again (same endpoints and sequence number): TCP's
    retransmissions, which the capture holds twice and fsr (application bytes) once."""
    seen: set[tuple[bytes, bytes, int, int, int]] = set()
    again = 0
    for key, size in segments(pcap):
        if size > 0:
            if key in seen:
                again += size
            seen.add(key)
    return again


def counted_bytes(run_dir: Path) -> dict[str, int]:
    """The wire bytes fsr counted in the run's log, by event."""
    (log,) = (run_dir / "logs").glob("fail_storm_*.jsonl")
    out = dict.fromkeys(COUNTED, 0)
    for line in log.read_text().splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("event") in out:
            out[e["event"]] += int(e.get("wire", 0))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, help="fsr run's YAML config")
    ap.add_argument("--base-port", type=int, default=9400)
    ap.add_argument("--ports", type=int, default=600, help="ports captured from --base-port on")
    ap.add_argument("--keep", type=Path, help="keep the run and the capture here")
    ap.add_argument("flags", nargs=argparse.REMAINDER, help="fsr run's flags, after --")
    args = ap.parse_args()
    flags = [f for f in args.flags if f != "--"]
    work = args.keep or Path(tempfile.mkdtemp(prefix="fsr-capture-"))
    work.mkdir(parents=True, exist_ok=True)
    pcap, run_dir, config = work / "run.pcap", work / "run", work / "config.yaml"
    raw = yaml.safe_load(args.config.read_text()) if args.config else {}
    raw.setdefault("scenario", {})["base_port"] = args.base_port
    config.write_text(yaml.safe_dump(raw))
    last = min(args.base_port + args.ports, 65535)
    dump = subprocess.Popen(["tcpdump", "-i", "lo", "-w", str(pcap), "-s", "128", "-U",
                             "-n", f"tcp portrange {args.base_port}-{last}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert dump.stderr is not None
    dump.stderr.readline()  # "listening on lo ...": the capture is up before the run starts
    try:
        run = subprocess.run([sys.executable, "-m", "fsr", "run", "--config", str(config),
                              *flags, "--out", str(run_dir), "--no-report"],
                             stdout=subprocess.DEVNULL)
    finally:
        time.sleep(0.5)  # let tcpdump write what the kernel already handed it
        dump.send_signal(signal.SIGINT)
        dump.wait(timeout=30)
    if run.returncode != 0:
        raise SystemExit(f"fsr run exited {run.returncode}")
    packets, captured = tcp_payload_bytes(pcap)
    again = retransmitted_bytes(pcap)
    counted = counted_bytes(run_dir)
    total = sum(counted.values())
    print(f"capture: {packets} TCP packets, {captured} payload bytes ({again} of them "
          "retransmitted)")
    print(f"fsr:     {total} bytes counted ({', '.join(f'{k} {v}' for k, v in counted.items())})")
    print(f"difference: {captured - total} bytes ({100 * (captured - total) / captured:+.3f} % "
          "of the capture)")


if __name__ == "__main__":
    main()
