"""A TCP proxy for fault injection between a client and a real server on 127.0.0.1.

``FaultProxy(upstream_port)`` listens on a free port and forwards to the upstream.
Its ``mode`` decides what happens to traffic from then on:

- ``"pass"``: forward both ways;
- ``"delay"``: forward, each reply held back ``delay`` seconds first (with ``only=``:
  only the replies to requests that contain those bytes, ``b"SCAN"`` say);
- ``"hang"``: accept connections and read requests, never answer;
- ``"reset"``: forward requests, then reset the connection in the middle of the reply
  (half of its bytes, then an RST);
- ``"refuse"``: stop listening: new connections are refused (existing ones dropped);
- ``"hold"``: forward requests, hold every reply until ``release()`` (``holding`` is set
  once a reply waits): a thread handshake for "a round trip is on the wire", no sleeps.

``requests`` logs every chunk a client sent (``count(b"EVALSHA")`` counts script calls).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time


class FaultProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode = "pass"
        self.delay = 0.0
        self.only: bytes | None = None  # "delay" mode: only replies to these requests
        self._slow: set[int] = set()  # upstream sockets whose next reply is delayed
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._stopped = threading.Event()
        self._listener: socket.socket | None = None
        self.requests: list[bytes] = []
        self.holding = threading.Event()  # a reply is held ("hold" mode)
        self._released = threading.Event()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._listen()

    # -- control ---------------------------------------------------------------------------

    def set(self, mode: str, delay: float = 0.0, only: bytes | None = None) -> None:
        """Switch to ``mode``; ``refuse`` closes the listener, leaving it reopens it."""
        assert mode in ("pass", "delay", "hang", "reset", "refuse", "hold"), mode
        self.delay = delay
        self.only = only
        if mode == "hold":
            self.holding.clear()
            self._released.clear()
        if mode == "refuse":
            self.mode = mode
            self._close_listener()
            self.drop_connections()
            return
        if self.mode == "refuse":
            self._listen()
        self.mode = mode

    def release(self) -> None:
        """Let the replies held in "hold" mode go, and pass from now on."""
        self.mode = "pass"
        self._released.set()

    def count(self, command: bytes) -> int:
        """How many request chunks sent so far contain ``command`` (e.g. ``b"EVALSHA"``)."""
        return sum(command in chunk for chunk in list(self.requests))

    def drop_connections(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        self._stopped.set()
        self._released.set()
        self._close_listener()
        self.drop_connections()

    # -- plumbing --------------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 5
        while True:
            try:
                listener.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)  # the old listener's port is being released
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._connections += [client, upstream]
            threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._replies, args=(upstream, client), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        """Client to server: forwarded, except while hanging (read and dropped)."""
        try:
            while data := client.recv(65536):
                self.requests.append(data)
                if self.only is not None and self.only in data:
                    self._slow.add(id(upstream))
                if self.mode != "hang":
                    upstream.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                upstream.close()

    def _replies(self, upstream: socket.socket, client: socket.socket) -> None:
        """Server to client, as the mode says."""
        try:
            while data := upstream.recv(65536):
                mode = self.mode
                if mode == "delay" and (self.only is None or id(upstream) in self._slow):
                    self._slow.discard(id(upstream))
                    time.sleep(self.delay)  # the injected latency
                if mode == "hold":
                    self.holding.set()
                    self._released.wait()
                if mode == "reset":
                    client.sendall(data[: max(1, len(data) // 2)])
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    client.close()  # an RST in the middle of the reply
                    return
                if mode != "hang":
                    client.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                client.close()
