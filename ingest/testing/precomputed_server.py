"""Serve a Neuroglancer-precomputed folder over HTTP on 127.0.0.1, the way cloud storage does.

Chunks written by CloudVolume are gzip files named ``X.gz``; cloud buckets
serve them as ``X`` with ``Content-Encoding: gzip``. A plain
``python -m http.server`` does not, and CloudVolume then reads empty volumes
(see ``../shared/STACK.md``). This server maps a request for ``X`` to ``X.gz``
when only that exists and sets the header, adds CORS headers (for a
Neuroglancer viewer) and answers 404 for missing files, which CloudVolume
reads as missing chunks.

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "info").write_text("{}")
>>> with PrecomputedServer(d) as srv:
...     srv.url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from connectome.loopback import ThreadedServer

__all__ = ["PrecomputedServer"]


class PrecomputedServer(ThreadedServer):
    """A threaded static server for precomputed volumes (read-only).

    Parameters
    ----------
    root : path
        Folder to serve; ``precomputed://{url}/{relative path}`` reads a volume in it.
    port : int
        0 picks a free port.
    """

    thread_name = "precomputed-server"

    def __init__(self, root: str | os.PathLike, port: int = 0) -> None:
        self.root = Path(root).resolve()
        self.stats: Counter = Counter()
        self._port = port

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def source(self, relative: str = "") -> str:
        """The CloudVolume path of a volume under the served folder."""
        return f"precomputed://{self.url}/{relative}".rstrip("/")

    def start(self) -> PrecomputedServer:
        return self._serve("127.0.0.1", self._port, type("Handler", (_Handler,), {"app": self}))


class _Handler(BaseHTTPRequestHandler):
    app: PrecomputedServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # headers and body go out as separate writes: without TCP_NODELAY, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every keep-alive reply
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet
        pass

    def _resolve(self) -> tuple[Path | None, bool]:
        rel = unquote(urlparse(self.path).path).lstrip("/")
        p = (self.app.root / rel).resolve()
        if self.app.root not in p.parents and p != self.app.root:
            return None, False
        if p.is_file():
            return p, False
        gz = p.with_name(p.name + ".gz")
        if gz.is_file():
            return gz, True
        return None, False

    def _reply(self, head_only: bool) -> None:
        p, gz = self._resolve()
        self.app.stats["requests"] += 1
        if p is None:
            body = b"not found"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            if not head_only:
                self.wfile.write(body)
            return
        data = p.read_bytes()
        self.send_response(200)
        ctype = "application/json" if p.name in ("info", "provenance") else "application/octet-stream"
        self.send_header("Content-Type", ctype)
        if gz:
            self.send_header("Content-Encoding", "gzip")
            self.app.stats["gzip"] += 1
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        if not head_only:
            self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self._reply(False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._reply(True)

    def do_OPTIONS(self) -> None:  # noqa: N802
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "*")
        self.send_header("Content-Length", "0")
        self.end_headers()
