"""A TCP relay that counts the bytes it forwards in each direction (test helper).

Subclasses can rewrite what passes through by overriding `on_connection` / `forward`.
"""

from __future__ import annotations

import selectors
import socket
import threading
from typing import Any

from fsr.injector.relay import read_or_close


class CountingRelay:
    """Listens on a free loopback port and forwards every connection to ``target_port``."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.upstream = 0  # client -> target
        self.downstream = 0  # target -> client
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def on_connection(self) -> Any:
        """Per-connection state handed to `forward` for the upstream direction."""
        return None

    def forward(self, data: bytes, upstream: bool, state: Any) -> bytes:
        if upstream:
            self.upstream += len(data)
        else:
            self.downstream += len(data)
        return data

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ, None)
        # socket -> (the other end, True if this socket is the client side, connection state)
        pairs: dict[socket.socket, tuple[socket.socket, bool, Any]] = {}
        while not self._stop:
            for key, _ in sel.select(timeout=0.05):
                sock = key.fileobj
                if sock is self.listener:
                    client, _ = self.listener.accept()
                    server = socket.create_connection(self.target)
                    state = self.on_connection()
                    pairs[client] = (server, True, state)
                    pairs[server] = (client, False, state)
                    sel.register(client, selectors.EVENT_READ)
                    sel.register(server, selectors.EVENT_READ)
                    continue
                assert isinstance(sock, socket.socket)
                if sock not in pairs:  # closed earlier in this batch, with its other end
                    continue
                other, up, state = pairs[sock]
                data = read_or_close(sock, other, pairs, sel)
                if not data:
                    continue
                other.sendall(self.forward(data, up, state))
        for sock in [self.listener, *pairs]:
            sock.close()

    def close(self) -> None:
        """Stop forwarding; the relay's thread closes every socket it opened."""
        self._stop = True
        self._thread.join(5)
