"""CurveZMQ for every socket of a run: per-run keys, a ZAP handler, routing ids bound to keys.

Under ``scenario.security: curve`` (the default) each node of the run (the runner and every agent)
has its own CURVE key pair, made by the runner when the run starts (`write_run_keys`) and kept in
``curve_keys.json`` in the run folder, mode 0600 — never in the plan or the log.

* Every socket that binds (ROUTER inbox, heartbeat PUB) is a CURVE server; every socket that
  connects (DEALER, SUB) is a CURVE client that pins the peer's public key, so both ends of each
  connection are authenticated (CurveZMQ, rfc.zeromq.org/spec/26; ZMTP-CURVE, spec/25).
* A ZAP handler (pyzmq's `zmq.auth.thread.ThreadAuthenticator`, ZAP rfc.zeromq.org/spec/27)
  admits only the run's public keys and names each admitted connection with its node id: libzmq
  then attaches that name as the ``User-Id`` property of every message the connection carries.
* `Mesh.recv` drops (and counts) every message whose routing id is not the ``User-Id`` of
  the key it came in under: a node's routing id is bound to its key, so even a node of the run
  cannot speak as ``runner``.
* Refused handshakes reach the listening socket's monitor as ``HANDSHAKE_FAILED_*`` events and
  are logged (`handshake_failed`).

Under ``none`` there is no encryption and no authentication: every local process can reach every
socket, and only the schema checks and the control plane's sender check stand in the way.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import zmq
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

KEY_FILE = "curve_keys.json"
MECHANISMS = ("curve", "none")
# what a listening socket reports: handshakes it refused (ZAP, a wrong mechanism or key, garbage)
REFUSALS: dict[int, str] = {zmq.EVENT_HANDSHAKE_FAILED_AUTH: "auth",
                             zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "protocol",
                             zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "no_detail"}


_PROTOCOL_ERRORS = {int(getattr(zmq, n)): n.removeprefix("PROTOCOL_ERROR_") for n in dir(zmq)
                    if n.startswith("PROTOCOL_ERROR_")}


def refusal_reason(how: str, value: int) -> str:
    """What a HANDSHAKE_FAILED_* monitor event's value means."""
    if how == "auth":
        return f"ZAP status {value}"  # 400: the run's ZAP handler does not know the key
    if how == "protocol":
        return _PROTOCOL_ERRORS.get(value, str(value))  # e.g. ZMTP_MECHANISM_MISMATCH
    return os.strerror(value)


def key_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / KEY_FILE


def write_run_keys(run_dir: str | Path, node_ids: list[str]) -> Path:
    """Make one key pair per node and write them, z85-encoded, to a new 0600 file."""
    keys = {}
    for node in node_ids:
        public, secret = zmq.curve_keypair()
        keys[node] = [public.decode(), secret.decode()]
    path = key_path(run_dir)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(keys, f)
    return path


def read_run_keys(path: str | Path) -> dict[str, tuple[bytes, bytes]]:
    raw = json.loads(Path(path).read_text())
    return {node: (pair[0].encode(), pair[1].encode()) for node, pair in raw.items()}


class _RunAuthenticator(ThreadAuthenticator):
    """Admits the run's keys only; the User-Id of an admitted connection is its node id."""

    def __init__(self, ctx: zmq.Context, node_of: dict[bytes, str]) -> None:
        super().__init__(ctx)
        self.node_of = node_of

    def callback(self, domain: str, z85_key: bytes) -> bool:  # the credentials provider
        return z85_key in self.node_of

    def curve_user_id(self, client_public_key: bytes) -> str:
        return self.node_of[z85.encode(client_public_key)]


class Curve:
    """One node's side of the run's CURVE set-up (its context's ZAP handler included)."""

    def __init__(self, ctx: zmq.Context, node_id: str, keys: dict[str, tuple[bytes, bytes]]
                 ) -> None:
        self.public = {node: pair[0] for node, pair in keys.items()}
        self.own_public, self.own_secret = keys[node_id]
        # ZAP must be bound before the first CURVE server socket: libzmq admits every client
        # of a context that has no handler.
        self.auth = _RunAuthenticator(ctx, {pub: node for node, pub in self.public.items()})
        self.auth.start()
        self.auth.configure_curve_callback("*", credentials_provider=self.auth)

    def serve(self, sock: zmq.Socket) -> None:
        sock.curve_secretkey = self.own_secret
        sock.curve_publickey = self.own_public
        sock.curve_server = True

    def connect(self, sock: zmq.Socket, peer: str, endpoint: str) -> None:
        """Connect `sock` to `peer`'s `endpoint`, pinning that peer's public key (libzmq copies
        the options at connect, so one SUB can pin a different key per endpoint)."""
        sock.curve_secretkey = self.own_secret
        sock.curve_publickey = self.own_public
        sock.curve_serverkey = self.public[peer]
        sock.connect(endpoint)

    def close(self) -> None:
        self.auth.stop()


__all__ = ["KEY_FILE", "MECHANISMS", "Curve", "key_path", "read_run_keys", "write_run_keys"]
