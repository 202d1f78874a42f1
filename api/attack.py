"""Misbehaving clients, for the service's tests and its "under attack" benchmark (loopback only).

:class:`SlowBodyClients` opens many connections that each declare a request
body and then send it one byte at a time (a slow-POST attack);
:func:`slow_headers` sends request headers one byte at a time (slowloris).
Both only ever connect to 127.0.0.1 and stop by themselves: every loop is
bounded in count and time.

Examples
--------
>>> SlowBodyClients("http://example.org", "cx_x", connections=1)
Traceback (most recent call last):
...
connectome.errors.InputError: url: attacks are only sent to 127.0.0.1 (or localhost), not 'example.org'
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field

from connectome.errors import InputError

__all__ = ["SlowBodyClients", "slow_headers", "query_bomb"]


def _loopback(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        raise InputError(f"url: attacks are only sent to 127.0.0.1 (or localhost), not {parts.hostname!r}", "url")
    return "127.0.0.1", int(parts.port or 80)


def _status(raw: bytes) -> int | None:
    try:
        return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/") else None
    except (IndexError, ValueError):
        return None  # not an HTTP status line: the caller counts it as "no answer"


@dataclass
class SlowBodyClients:
    """``connections`` sockets that each POST a declared ``declared_bytes`` body one byte per ``interval_s``.

    Use as a context manager; :attr:`statuses` counts what the server answered
    (``None``: closed without an answer, or still open when stopped).
    """

    url: str
    token: str
    connections: int = 300
    declared_bytes: int = 100_000
    interval_s: float = 10.0
    path: str = "/v1/datasets/celegans_cook2019_herm/motifs/count"
    max_seconds: float = 120.0
    statuses: Counter = field(default_factory=Counter)
    answered_after_s: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.host, self.port = _loopback(self.url)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _one(self) -> None:
        start = time.monotonic()
        status = None
        try:
            with socket.create_connection((self.host, self.port), timeout=5) as s:
                head = (f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {self.token}\r\n"
                        f"Content-Type: application/json\r\nContent-Length: {self.declared_bytes}\r\n\r\n")
                s.sendall(head.encode() + b"{")
                s.settimeout(0.2)
                sent, last = 1, time.monotonic()
                while not self._stop.is_set() and time.monotonic() - start < self.max_seconds:
                    try:
                        raw = s.recv(4096)
                        status = _status(raw)
                        break  # an answer, or the server closed the connection
                    except TimeoutError:
                        pass  # no answer yet: keep trickling the body
                    if time.monotonic() - last >= self.interval_s and sent < self.declared_bytes:
                        try:
                            s.sendall(b" ")
                        except OSError:
                            break
                        sent, last = sent + 1, time.monotonic()
        except OSError:
            status = None
        with self._lock:
            self.statuses[status] += 1
            if status is not None:
                self.answered_after_s.append(time.monotonic() - start)

    def __enter__(self) -> SlowBodyClients:
        for _ in range(self.connections):
            t = threading.Thread(target=self._one, daemon=True, name="slow-body")
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(10)


def slow_headers(url: str, *, interval_s: float = 1.0, max_seconds: float = 60.0) -> tuple[int | None, float]:
    """Send a request's headers one byte per ``interval_s``; ``(status, seconds)`` when the server gave up.

    ``status`` is ``None`` when the server closed the connection without an answer.
    """
    host, port = _loopback(url)
    head = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4096
    start = time.monotonic()
    with socket.create_connection((host, port), timeout=5) as s:
        s.settimeout(interval_s)
        for byte in head:
            if time.monotonic() - start > max_seconds:
                break
            try:
                s.sendall(bytes([byte]))
                raw = s.recv(4096)
                return _status(raw), time.monotonic() - start
            except TimeoutError:
                continue  # no answer yet: send the next header byte
            except OSError:
                return None, time.monotonic() - start
    return None, time.monotonic() - start


def query_bomb(levels: int = 16) -> str:
    """A DotMotif query whose macro expansion triples at each of ``levels`` levels (~40 characters a level).

    Examples
    --------
    >>> print(query_bomb(2))
    m0(a, b) { a -> b }
    m1(a, b) { m0(a, b)  m0(b, a)  m0(a, b) }
    m1(A, B)
    """
    lines = ["m0(a, b) { a -> b }"]
    lines += [f"m{i}(a, b) {{ m{i - 1}(a, b)  m{i - 1}(b, a)  m{i - 1}(a, b) }}" for i in range(1, levels)]
    lines.append(f"m{levels - 1}(A, B)")
    return "\n".join(lines)
