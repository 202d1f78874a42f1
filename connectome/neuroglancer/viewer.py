"""Open states in the Neuroglancer client that ships in the ``neuroglancer`` wheel, on 127.0.0.1.

The wheel's client only runs when served by ``neuroglancer.Viewer()`` (as plain
static files it stops at "Failed to determine token from URL"), so :func:`open`
starts such a viewer bound to the loopback address, serves local precomputed
volumes and the state store next to it (:class:`~connectome.neuroglancer.server.FileServer`),
rewrites ``file://`` sources and state-server URLs to that server, and shows the
state. ``connectome open ...`` does the same from the shell and prints the URL.

Examples
--------
>>> from connectome.config import shared_data_dir
>>> cutout = shared_data_dir() / "segmentation_pinky40_cutout" / "precomputed_256cube"
>>> v = open(dataset=cutout, root_ids=[26386514], colors="red")
>>> v.url.startswith("http://127.0.0.1:")
True
>>> v.state["layers"][0]["source"][0]["url"].startswith("precomputed://" + v.files.base_url)
True
>>> v.close()
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import DependencyError, InputError
from ..graph import Connectome
from .links import check_http_url, resolve_link
from ..registry import load
from .server import FileServer
from .state import build_state
from .statestore import PROPERTIES_DIR, StateStore

logger = logging.getLogger(__name__)

__all__ = ["open", "LocalViewer", "resolve_target", "rewrite_sources"]


def _neuroglancer() -> Any:
    try:
        import neuroglancer
    except ImportError as exc:  # pragma: no cover - pinned in requirements.lock
        raise DependencyError("the local viewer needs the neuroglancer package: pip install neuroglancer "
                              f"(pinned in requirements.lock) ({exc})") from None
    return neuroglancer


def _map_source_urls(layer: dict[str, Any], fn: Any) -> None:
    src = layer.get("source")
    if src is None:
        return

    def one(s: Any) -> Any:
        if isinstance(s, str):
            return fn(s)
        if isinstance(s, dict) and isinstance(s.get("url"), str):
            return {**s, "url": fn(s["url"])}
        return s

    layer["source"] = [one(s) for s in src] if isinstance(src, list) else one(src)


def _store_has(store: StateStore, rest: str) -> bool:
    """Whether ``store`` holds the file a URL path below its base (``/<id>``,
    ``/segment_properties/<id>``) names."""
    parts = [p for p in rest.split("/") if p]
    try:
        if len(parts) == 1:
            return parts[0] in store
        if len(parts) == 2 and parts[0] == PROPERTIES_DIR:
            return store.properties_path(parts[1]).is_file()
    except InputError:
        return False
    return False


def rewrite_sources(state: Mapping[str, Any], files: FileServer) -> dict[str, Any]:
    """A copy of ``state`` whose local sources point at ``files``.

    ``precomputed://file:///path`` volumes are registered with the server, and
    URLs under the state store's ``base_url`` (segment properties) are redirected
    to the server's copy of the same store when that store holds the file.
    """
    out = copy.deepcopy(dict(state))
    store_base = files.store.base_url

    def fn(url: str) -> str:
        m = re.match(r"^precomputed://file://(/.*)$", url)
        if m:
            return files.add_volume(m.group(1))
        for prefix in ("precomputed://", ""):
            if url.startswith(prefix + store_base + "/"):
                rest = url[len(prefix + store_base):]
                if _store_has(files.store, rest):  # else leave it: the state server may hold it
                    return prefix + files.states_url + rest
        return url

    for layer in out.get("layers", []) or []:
        if isinstance(layer, dict):
            _map_source_urls(layer, fn)
    return out


def resolve_target(target: Any = None, root_ids: Any = None, *, store: StateStore | None = None,
                   **state_kwargs: Any) -> dict[str, Any]:
    """The state :func:`open` shows for ``target``.

    ``target`` may be a :class:`~connectome.Connectome`, a state dict, a link
    (inline, ``#!https://...`` or ``?json_url=...``), a state id of the store, a
    state ``.json`` file, a local precomputed folder, or a dataset name / store path.
    """
    store = store or StateStore()
    if isinstance(target, Connectome):
        return build_state(target, root_ids, store=store, **state_kwargs)
    if target is None:
        return build_state(None, root_ids, store=store, **state_kwargs)
    if isinstance(target, Mapping):
        if root_ids is not None or state_kwargs:
            raise InputError("target: a state is shown as it is; build it with build_state(...) to select "
                             "segments", "target")
        return dict(target)
    text = os.fspath(target) if isinstance(target, os.PathLike) else str(target)
    if re.match(r"^https?://", text):
        return resolve_link(text, store=store)
    if re.match(r"^[0-9a-f]{64}$", text):
        return store.get(text)
    p = Path(text).expanduser()
    if p.is_file() and p.suffix == ".json":
        try:
            state = json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"target: {p} is not valid JSON ({exc})", "target") from None
        if not isinstance(state, dict):
            raise InputError(f"target: {p} does not hold a state (a JSON object)", "target")
        return state
    if p.is_dir() and (p / "info").is_file():
        return build_state(None, root_ids, dataset=p, store=store, **state_kwargs)

    return build_state(load(text), root_ids, store=store, **state_kwargs)


class LocalViewer:
    """A Neuroglancer viewer served on 127.0.0.1, with its file server.

    Attributes
    ----------
    viewer : neuroglancer.Viewer
        The Python-side viewer (state, actions, screenshots).
    files : FileServer
        Serves local volumes and the state store.
    """

    def __init__(self, viewer: Any, files: FileServer) -> None:
        self.viewer = viewer
        self.files = files
        self._closed = threading.Event()

    @property
    def url(self) -> str:
        """The viewer's URL (open it in a browser on this machine)."""
        return self.viewer.get_viewer_url()

    def show(self, state: Mapping[str, Any]) -> None:
        """Show ``state`` (local sources are served by :attr:`files`)."""
        ng = _neuroglancer()
        self.viewer.set_state(ng.ViewerState(rewrite_sources(state, self.files)))

    @property
    def state(self) -> dict[str, Any]:
        """The state the viewer shows now (as JSON data)."""
        from neuroglancer.json_utils import json_encoder_default

        return json.loads(json.dumps(self.viewer.state.to_json(), default=json_encoder_default))

    def remote_state_url(self, state_url: str) -> str:
        """A URL that makes this client load the state at ``state_url`` itself (``#!<url>``), the way a
        public viewer follows a stored link; the Python side then holds no state."""
        return f"{self.url}#!{check_http_url(state_url, 'state_url')}"

    def wait(self, timeout: float | None = None) -> None:
        """Block until :meth:`close` or Ctrl-C (or ``timeout`` seconds)."""
        try:
            self._closed.wait(timeout)
        except KeyboardInterrupt:  # pragma: no cover - interactive
            pass

    def close(self) -> None:
        """Stop the file server (the neuroglancer server thread ends with the process)."""
        self.files.stop()
        self._closed.set()

    def __enter__(self) -> LocalViewer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<LocalViewer {self.url}>"


def open(target: Any = None, root_ids: Any = None, *, port: int = 0, ui: bool = True,
         store: StateStore | str | os.PathLike | None = None, **state_kwargs: Any) -> LocalViewer:  # noqa: A001
    """Serve the Neuroglancer client on 127.0.0.1 and show ``target``.

    Parameters
    ----------
    target : Connectome, dict, str or path, optional
        What to show: a connectome (with ``root_ids``), a state dict, a link, a
        state id, a state ``.json`` file, a local precomputed folder, or a dataset
        name; ``None`` with ``dataset=`` shows ids of a volume.
    root_ids : ids, optional
        Segments to select (see :func:`~connectome.neuroglancer.build_state`).
    port : int
        Port of the viewer (0: any free port); the file server takes a free port.
    ui : bool
        Show the viewer's controls (``False``: the data panels only, e.g. for screenshots).
    store : StateStore or path, optional
        The state store to serve (default: ``CONNECTOME_STATES``).
    **state_kwargs
        Passed to :func:`~connectome.neuroglancer.build_state` (``colors``,
        ``color_by``, ``dataset``, ``synapses``, ``alpha``, ``view`` ...).

    Returns
    -------
    LocalViewer
        ``.url`` is the address to open; ``.close()`` stops serving.
    """
    ng = _neuroglancer()
    st = store if isinstance(store, StateStore) else StateStore(store)
    state = resolve_target(target, root_ids, store=st, **state_kwargs)
    files = FileServer(st).start()
    try:
        if not ng.server.is_server_running():
            ng.set_server_bind_address("127.0.0.1", bind_port=int(port))
        viewer = ng.Viewer()
        if not ui:
            with viewer.config_state.txn() as cfg:
                cfg.show_ui_controls = False
                cfg.show_panel_borders = False
        lv = LocalViewer(viewer, files)
        lv.show(state)
    except Exception:
        files.stop()
        raise
    logger.info("viewer at %s", lv.url)
    return lv
