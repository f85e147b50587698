"""A TCP proxy on a free port that can drop every open connection at once (a network
hiccup between a browser and the server), then goes on accepting new ones."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

from tests.support.server import free_port


class DroppingProxy:
    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.upstream = (host, upstream_port)
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        self._listener = socket.create_server((host, self.port))
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self.dropped = 0
        threading.Thread(target=self._accept, daemon=True, name="drop-proxy").start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, server]
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        with self._lock:
            self._open = [s for s in self._open if s not in (src, dst)]

    def drop(self) -> int:
        """Cut every connection open now, without a goodbye; returns how many."""
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                # Linger 0: the peer gets a reset, as when a network path breaks.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.dropped += len(sockets) // 2
        return len(sockets) // 2

    def close(self) -> None:
        self._listener.close()
        self.drop()
