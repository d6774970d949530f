"""A loopback TCP proxy between a node and its broker whose link can go silent, for the unix-port MQTT tests.

A cut here is what a node meets when its access point reboots or walks out of range while the TCP
state on both ends lives on: nothing is reset or closed, bytes simply stop arriving. While the link
is cut, the proxy reads and drops everything from both sides (so neither end sees back-pressure or a
reset), and a connection opened meanwhile is accepted and then answered by nothing (a CONNECT that
never gets its CONNACK). Connections that were cut stay silent for good, as a TCP stream whose bytes
were lost does; once the link is mended, new connections reach the broker again.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class _Pair:
    """One node connection and its upstream (None while the link is cut): silent once `cut`."""

    def __init__(self, node: socket.socket, broker: socket.socket | None) -> None:
        self.node, self.broker = node, broker
        self.cut = broker is None


class SilentLinkProxy:
    """The broker's address as the node sees it (`host`, `port`); `cut()` silences the link, `mend()` heals it."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.silent = False
        self.accepted = 0  # connections the node opened
        self.accepted_while_cut = 0
        self.pairs: list[_Pair] = []
        self.lock = threading.Lock()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.host, self.port = self.server.getsockname()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        with self.lock:
            self.silent = True
            for pair in self.pairs:
                pair.cut = True

    def mend(self) -> None:
        with self.lock:
            self.silent = False

    def _accept(self) -> None:
        with contextlib.suppress(OSError):  # the listening socket closed: the proxy is done
            while True:
                self._open(self.server.accept()[0])

    def _open(self, conn: socket.socket) -> None:
        with self.lock:
            self.accepted += 1
            silent = self.silent
            self.accepted_while_cut += silent
        pair = _Pair(conn, None if silent else socket.create_connection(self.upstream))
        with self.lock:
            self.pairs.append(pair)
        threading.Thread(target=self._pipe, args=(pair, conn, pair.broker), daemon=True).start()
        if pair.broker is not None:
            threading.Thread(target=self._pipe, args=(pair, pair.broker, conn), daemon=True).start()

    @staticmethod
    def _pipe(pair: _Pair, src: socket.socket, dst: socket.socket | None) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(4096):
                if not pair.cut and dst is not None:
                    dst.sendall(data)
        if not pair.cut:  # an end closed while the link was up: pass the close on
            for s in (src, dst):
                if s is not None:
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.server.close()
        with self.lock:
            for pair in self.pairs:
                for s in (pair.node, pair.broker):
                    if s is not None:
                        with contextlib.suppress(OSError):
                            s.close()
