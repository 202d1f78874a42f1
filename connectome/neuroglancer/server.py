"""A loopback HTTP server for local volumes and the state store, with CORS.

The Neuroglancer client in a browser cannot read ``file://`` paths, so local
precomputed volumes are served over HTTP on 127.0.0.1; chunks stored as
``name.gz`` are sent with ``Content-Encoding: gzip`` (what cloud-volume writes).
The state store is served with the API's routes, so a link whose ``json_url``
points here opens in any viewer on this machine:

- ``GET /v1/states/{id}`` (also ``/states/{id}``) — a stored state;
- ``GET /v1/states/segment_properties/{id}/info`` — a stored segment-property file;
- ``GET /volumes/{name}/...`` — files of a registered precomputed folder.

Examples
--------
>>> import json, tempfile, urllib.request
>>> from connectome.neuroglancer.statestore import StateStore
>>> store = StateStore(tempfile.mkdtemp())
>>> sid = store.put({"layers": []})
>>> with FileServer(store) as files:
...     with urllib.request.urlopen(files.states_url + "/" + sid) as r:
...         (json.loads(r.read()), r.headers["Access-Control-Allow-Origin"])
({'layers': []}, '*')
"""

from __future__ import annotations

import collections
import logging
import os
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from ..errors import InputError, SourceNotFoundError
from ..loopback import ThreadedServer
from .statestore import PROPERTIES_DIR, StateNotFoundError, StateStore

logger = logging.getLogger(__name__)

__all__ = ["FileServer"]

_STATE_RE = re.compile(r"^/(?:v1/)?states/([0-9a-f]{64})/?$")
_PROPS_RE = re.compile(rf"^/(?:v1/)?states/{PROPERTIES_DIR}/([0-9a-f]{{64}})/info$")
_VOLUME_RE = re.compile(r"^/volumes/([A-Za-z0-9_.-]+)/(.*)$")


class _Handler(BaseHTTPRequestHandler):
    server_version = "connectome-files"
    protocol_version = "HTTP/1.1"
    files: FileServer  # set on the subclass

    def log_message(self, fmt: str, *args: Any) -> None:  # route the access log to logging
        logger.debug("%s - %s", self.address_string(), fmt % args)

    def _cors(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "*")
        self.send_header("Access-Control-Expose-Headers", "Content-Length, Content-Range, Content-Encoding")

    def _send(self, status: int, body: bytes, ctype: str = "application/json", extra: dict | None = None) -> None:
        self.send_response(status)
        self._cors()
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _not_found(self, why: str) -> None:
        self._send(HTTPStatus.NOT_FOUND, ('{"detail": "%s"}' % why.replace('"', "'")).encode())

    def do_OPTIONS(self) -> None:  # noqa: N802 (http.server naming)
        self.send_response(HTTPStatus.NO_CONTENT)
        self._cors()
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        self.files.requests.append(path)
        store = self.files.store
        m = _STATE_RE.match(path)
        if m:
            try:
                return self._send(HTTPStatus.OK, store.read_bytes(m.group(1)))
            except StateNotFoundError:
                return self._not_found(f"no state {m.group(1)}")
        m = _PROPS_RE.match(path)
        if m:
            try:
                return self._send(HTTPStatus.OK, store.read_properties(m.group(1)))
            except StateNotFoundError:
                return self._not_found(f"no segment properties {m.group(1)}")
        m = _VOLUME_RE.match(path)
        if m:
            return self._volume_file(m.group(1), m.group(2))
        return self._not_found("unknown path")

    def _volume_file(self, name: str, rel: str) -> None:
        root = self.files.volumes.get(name)
        if root is None:
            return self._not_found(f"no volume {name}")
        target = (root / rel).resolve()
        if not target.is_relative_to(root):
            return self._not_found("outside the volume")
        extra: dict[str, str] = {}
        if not target.is_file() and Path(str(target) + ".gz").is_file():
            target = Path(str(target) + ".gz")
            extra["Content-Encoding"] = "gzip"
        if not target.is_file():
            return self._not_found(f"no file {rel}")
        data = target.read_bytes()
        rng = self.headers.get("Range")
        m = re.match(r"^bytes=(\d+)-(\d*)$", rng or "")
        if m and "Content-Encoding" not in extra:
            start = int(m.group(1))
            end = min(int(m.group(2)) if m.group(2) else len(data) - 1, len(data) - 1)
            extra["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return self._send(HTTPStatus.PARTIAL_CONTENT, data[start:end + 1], "application/octet-stream", extra)
        ctype = "application/json" if target.name == "info" else "application/octet-stream"
        return self._send(HTTPStatus.OK, data, ctype, extra)


class FileServer(ThreadedServer):
    """Serve the state store and local precomputed volumes on a loopback port.

    Parameters
    ----------
    store : StateStore or path, optional
        The state store to serve (default: :class:`~connectome.neuroglancer.statestore.StateStore`).
    host : str
        Bind address (default 127.0.0.1: nothing outside this machine can connect).
    port : int
        Port (0: any free port).
    """

    thread_name = "connectome-files"

    def __init__(self, store: StateStore | str | os.PathLike | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.store = store if isinstance(store, StateStore) else StateStore(store)
        self.host = host
        self.port = int(port)
        self.volumes: dict[str, Path] = {}
        #: Paths requested so far (most recent last, at most 10,000), e.g. to see what a browser fetched.
        self.requests: collections.deque[str] = collections.deque(maxlen=10_000)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FileServer:
        """Start serving in a background thread (idempotent)."""
        if self.running:
            return self
        try:
            self._serve(self.host, self.port, type("Handler", (_Handler,), {"files": self}))
        except OSError as exc:
            raise InputError(f"port: cannot listen on {self.host}:{self.port} ({exc}); pick another port "
                             "or 0 for any free one", "port") from None
        self.port = self.bound_port
        logger.info("serving states and volumes at %s", self.base_url)
        return self

    # ------------------------------------------------------------------ URLs
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self._httpd is None:
            raise InputError("FileServer is not running; call start() or use it in a with block", "server")
        return f"http://{self.host}:{self.port}"

    @property
    def states_url(self) -> str:
        """Base URL of the served state store (the API's route: ``/v1/states``)."""
        return self.base_url + "/v1/states"

    def add_volume(self, path: str | os.PathLike, name: str | None = None) -> str:
        """Serve a local precomputed folder; returns its ``precomputed://http://...`` source URL."""
        text = os.fspath(path)
        root = Path(text.removeprefix("precomputed://").removeprefix("file://")).expanduser().resolve()
        if not (root / "info").is_file():
            raise SourceNotFoundError(root / "info", "path", "a precomputed volume is a folder with an 'info' file")
        for key, folder in self.volumes.items():
            if folder == root:
                return f"precomputed://{self.base_url}/volumes/{key}"
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", name or root.name) or "volume"
        key, k = base, 1
        while key in self.volumes:
            k += 1
            key = f"{base}-{k}"
        self.volumes[key] = root
        return f"precomputed://{self.base_url}/volumes/{key}"
