"""A threaded HTTP server in a daemon thread: the shared base of the project's local servers
(the Neuroglancer file server, the CAVE-protocol and precomputed test servers).

Examples
--------
>>> from http.server import BaseHTTPRequestHandler
>>> class Hello(BaseHTTPRequestHandler):
...     def do_GET(self):
...         self.send_response(200); self.end_headers(); self.wfile.write(b"hi")
...     def log_message(self, *args): pass
>>> class HelloServer(ThreadedServer):
...     def start(self):
...         return self._serve("127.0.0.1", 0, Hello)
>>> import urllib.request
>>> with HelloServer() as s:
...     urllib.request.urlopen(f"http://127.0.0.1:{s.bound_port}/").read()
b'hi'
"""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from typing import Any

__all__ = ["ThreadedServer"]


class ThreadedServer:
    """Start, stop and context-manage a ``ThreadingHTTPServer`` served from a daemon thread.

    Subclasses implement ``start()`` by calling :meth:`_serve` with their host,
    port and request-handler class.
    """

    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    thread_name = "http-server"

    def _serve(self, host: str, port: int, handler: type) -> Any:
        """Bind ``(host, port)`` (``OSError`` if taken) and serve ``handler`` in a daemon thread."""
        httpd = ThreadingHTTPServer((host, port), handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        """True while the server is serving."""
        return self._httpd is not None

    @property
    def bound_port(self) -> int:
        """The port the server listens on (a free one was picked when 0 was asked)."""
        if self._httpd is None:
            raise RuntimeError("the server is not running; call start() first")
        return int(self._httpd.server_address[1])

    def start(self) -> Any:  # pragma: no cover - implemented by subclasses
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
