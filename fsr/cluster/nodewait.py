"""A script `fsr.cluster.local` runs in a subprocess while a Ray node starts: it waits until
Ray's node table lists every given address alive, and exits 0 (1 at the deadline).

    python nodewait.py GCS_ADDRESS DEADLINE ADDRESS...    (DEADLINE: a time.time() value)

It reads the table ray.nodes() reads (GlobalState) without joining the cluster as a driver (ray
is pinned by fsr[ray]); in a subprocess, so fsr's own process never holds a Ray client. Any
failure before the deadline (the GCS not answering yet) re-runs the script in a fresh process:
each try starts from a new client, nothing of a failed connection carried over.
"""

from __future__ import annotations

import os
import socket
import sys
import time


def main(argv: list[str]) -> int:
    address, deadline, want = argv[0], float(argv[1]), set(argv[2:])
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        # deferred: only once the GCS listens (and ray is imported by this script only)
        from ray._private.state import GlobalState
        from ray._raylet import GcsClientOptions  # type: ignore[attr-defined]  # no stub

        state = GlobalState()
        state._initialize_global_state(GcsClientOptions.create(
            address, None, allow_cluster_id_nil=True, fetch_cluster_id_if_nil=False))
        while not want <= {n["NodeManagerAddress"] for n in state.node_table() if n["Alive"]}:
            if time.time() > deadline:
                return 1
            time.sleep(0.1)
        return 0
    except Exception:
        if time.time() > deadline:
            return 1
        time.sleep(0.5)
        os.execv(sys.executable, [sys.executable, __file__, *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
