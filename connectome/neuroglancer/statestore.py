"""Content-addressed Neuroglancer state files: the project's own state store.

A state that is too long for a URL is written here as ``<id>.json``, where the id
is the SHA-256 of the state's canonical JSON (keys sorted, no spaces), so the same
result always gives the same id and the same link. Segment-property files (the
``info`` JSON that labels segments in the viewer) are stored the same way under
``segment_properties/<id>/info``.

The HTTP API serves the folder at ``GET /v1/states/{id}`` (reply: :func:`state_bytes`)
and ``GET /v1/states/segment_properties/{id}/info``; :class:`~connectome.neuroglancer.server.FileServer`
serves the same layout on a loopback port for local viewing and tests.

``CONNECTOME_STATES``
    Folder of the store (default ``<data_home>/states``; see :func:`connectome.config.data_home`).
``CONNECTOME_STATE_SERVER``
    Base URL where that folder is served (default ``http://127.0.0.1:8000/v1/states``);
    links to stored states point there.

Nothing is created at import time.

Examples
--------
>>> import tempfile
>>> store = StateStore(tempfile.mkdtemp(), base_url="http://127.0.0.1:8000/v1/states")
>>> sid = store.put({"layers": [], "layout": "xy"})
>>> sid == store.put({"layout": "xy", "layers": []})   # same content, same id
True
>>> store.get(sid)["layout"]
'xy'
>>> store.url(sid) == "http://127.0.0.1:8000/v1/states/" + sid
True
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..atomic import replace_atomically
from ..config import data_home
from ..errors import InputError, SourceNotFoundError, StoreWriteError

logger = logging.getLogger(__name__)

__all__ = [
    "StateStore",
    "StateNotFoundError",
    "canonical_json",
    "state_id",
    "states_dir",
    "state_server_url",
    "save_state",
    "load_state",
    "state_bytes",
    "DEFAULT_STATE_SERVER",
]

#: Where the HTTP API serves the store unless ``CONNECTOME_STATE_SERVER`` says otherwise.
DEFAULT_STATE_SERVER = "http://127.0.0.1:8000/v1/states"

PROPERTIES_DIR = "segment_properties"
_ID_RE = re.compile(r"^[0-9a-f]{64}$")


class StateNotFoundError(SourceNotFoundError):
    """A state (or segment-property) id that is not in the store (HTTP 404 in the API)."""


def canonical_json(obj: Any) -> str:
    """The canonical JSON text of a state: sorted keys, no spaces, UTF-8.

    Examples
    --------
    >>> canonical_json({"b": 1, "a": ["2"]})
    '{"a":["2"],"b":1}'
    """
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"state: not JSON-serialisable ({exc}); build it with "
                         "connectome.neuroglancer.build_state", "state") from None


def state_id(obj: Any) -> str:
    """Content address of a state: the SHA-256 (hex) of its canonical JSON.

    Examples
    --------
    >>> state_id({}) == hashlib.sha256(b"{}").hexdigest()
    True
    """
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def states_dir(folder: str | os.PathLike | None = None) -> Path:
    """Folder of the state store: ``folder``, else ``CONNECTOME_STATES``, else ``<data_home>/states``.

    Examples
    --------
    >>> states_dir("/tmp/my-states").as_posix()
    '/tmp/my-states'
    """
    if folder is not None:
        return Path(folder).expanduser()
    env = os.environ.get("CONNECTOME_STATES")
    if env:
        return Path(env).expanduser()

    return data_home() / "states"


def state_server_url(base_url: str | None = None) -> str:
    """Base URL where the store is served: ``base_url``, else ``CONNECTOME_STATE_SERVER``,
    else :data:`DEFAULT_STATE_SERVER` (the API's route on its default port).

    Examples
    --------
    >>> state_server_url("http://example.org/states/")
    'http://example.org/states'
    """
    from .links import check_http_url  # lazy: links imports this module

    url = base_url or os.environ.get("CONNECTOME_STATE_SERVER") or DEFAULT_STATE_SERVER
    return check_http_url(url, "base_url").rstrip("/")


def _check_id(sid: str, parameter: str = "state_id") -> str:
    sid = str(sid).strip().lower()
    if not _ID_RE.match(sid):
        raise InputError(
            f"{parameter}: {sid[:80]!r} is not a state id (64 hexadecimal characters, the SHA-256 "
            "of the state); copy it from the link's json_url", parameter)
    return sid


class StateStore:
    """A folder of content-addressed Neuroglancer states.

    Parameters
    ----------
    folder : path, optional
        Where states are kept; see :func:`states_dir` for the default.
    base_url : str, optional
        Where the folder is served; see :func:`state_server_url` for the default.

    Examples
    --------
    >>> import tempfile
    >>> store = StateStore(tempfile.mkdtemp())
    >>> pid = store.put_properties({"@type": "neuroglancer_segment_properties",
    ...                             "inline": {"ids": ["1"], "properties": []}})
    >>> store.properties_url(pid).endswith("/segment_properties/" + pid)
    True
    """

    def __init__(self, folder: str | os.PathLike | None = None, base_url: str | None = None) -> None:
        self.folder = states_dir(folder)
        self.base_url = state_server_url(base_url)

    def __repr__(self) -> str:
        return f"StateStore({str(self.folder)!r}, base_url={self.base_url!r})"

    # ------------------------------------------------------------------ paths
    def path(self, sid: str) -> Path:
        """File of state ``sid`` (whether or not it exists)."""
        return self.folder / f"{_check_id(sid)}.json"

    def properties_path(self, pid: str) -> Path:
        """``info`` file of segment-property set ``pid``."""
        return self.folder / PROPERTIES_DIR / _check_id(pid, "properties_id") / "info"

    def url(self, sid: str) -> str:
        """URL of state ``sid`` on the state server (what ``?json_url=`` points to)."""
        return f"{self.base_url}/{_check_id(sid)}"

    def properties_url(self, pid: str) -> str:
        """URL of segment-property set ``pid`` (a precomputed source, without the ``precomputed://``)."""
        return f"{self.base_url}/{PROPERTIES_DIR}/{_check_id(pid, 'properties_id')}"

    def __contains__(self, sid: object) -> bool:
        try:
            return self.path(str(sid)).is_file()
        except InputError:
            return False

    # ------------------------------------------------------------------ write
    def _write(self, path: Path, text: str) -> None:
        if path.is_file():  # content-addressed: same name, same bytes
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        except OSError as exc:
            raise StoreWriteError(
                f"cannot write state file {path} ({exc}); set CONNECTOME_STATES to a writable folder "
                "or pass store=StateStore(folder)") from None
        logger.debug("stored %s", path)

    def put(self, state: Mapping[str, Any]) -> str:
        """Store ``state`` (idempotent) and return its id."""
        if not isinstance(state, Mapping):
            raise InputError(f"state must be a dict (JSON object), not {type(state).__name__}", "state")
        text = canonical_json(state)
        sid = hashlib.sha256(text.encode("utf-8")).hexdigest()
        self._write(self.folder / f"{sid}.json", text)
        return sid

    def put_properties(self, info: Mapping[str, Any]) -> str:
        """Store a segment-properties ``info`` JSON and return its id."""
        text = canonical_json(info)
        pid = hashlib.sha256(text.encode("utf-8")).hexdigest()
        self._write(self.folder / PROPERTIES_DIR / pid / "info", text)
        return pid

    # ------------------------------------------------------------------ read
    def read_bytes(self, sid: str) -> bytes:
        """The stored JSON of state ``sid`` as bytes (what the API replies)."""
        p = self.path(sid)
        try:
            return p.read_bytes()
        except FileNotFoundError:
            raise StateNotFoundError(p, "state_id", f"no state {sid} in {self.folder}; "
                                     "make the link again, or point CONNECTOME_STATES at the store "
                                     "that holds it") from None

    def get(self, sid: str) -> dict[str, Any]:
        """The state ``sid`` as a dict."""
        return json.loads(self.read_bytes(sid))

    def read_properties(self, pid: str) -> bytes:
        """The stored segment-properties ``info`` JSON ``pid`` as bytes."""
        p = self.properties_path(pid)
        try:
            return p.read_bytes()
        except FileNotFoundError:
            raise StateNotFoundError(p, "properties_id", f"no segment properties {pid} in {self.folder}") from None


def save_state(state: Mapping[str, Any], folder: str | os.PathLike | None = None) -> str:
    """Store ``state`` in the default (or given) store and return its id.

    Examples
    --------
    >>> import tempfile
    >>> len(save_state({"layers": []}, tempfile.mkdtemp()))
    64
    """
    return StateStore(folder).put(state)


def load_state(sid: str, folder: str | os.PathLike | None = None) -> dict[str, Any]:
    """The state with id ``sid`` from the default (or given) store.

    Examples
    --------
    >>> load_state("not-an-id")
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: state_id: 'not-an-id' is not a state id (64 hexadecimal characters, the SHA-256 of the state); copy it from the link's json_url
    """
    return StateStore(folder).get(sid)


def state_bytes(sid: str, folder: str | os.PathLike | None = None) -> bytes:
    """The stored JSON bytes of state ``sid`` — the body of ``GET /v1/states/{id}``."""
    return StateStore(folder).read_bytes(sid)
