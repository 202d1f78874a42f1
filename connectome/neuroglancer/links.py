"""Links: a state in a URL, or — when too long for a browser — stored and linked by URL.

A link is ``{prefix}#!{state JSON}`` while it fits in ``max_length`` characters
(default 8,000: longer URLs break in browsers, chat apps and proxies; see
neuroglancer #376, neuprint-python #11). A longer state is written to the
project's state store (content-addressed, so the same result gives the same
link) and the link points the viewer at its URL, in the viewer's own syntax:

- ``?json_url=<url>`` for Seung-lab style viewers (``ngl.flywire.ai``) and any
  custom prefix (the convention of CAVE's state service);
- ``#!<url>`` for mainline Neuroglancer (``neuroglancer-demo``, ``spelunker``),
  which loads a state from a URL given as the fragment.

The viewer is ``prefix=``, else ``CONNECTOME_VIEWER``, else the dataset's own
viewer (FlyWire stores open in ``ngl.flywire.ai``), else ``neuroglancer-demo``.

A link that loads anything (a stored state, segment labels) from a loopback
address (``127.0.0.1``, ``localhost``) works only on this machine, and only
while the state server (``connectome serve``) runs: :func:`state_link` warns
(see :func:`~connectome.neuroglancer.collect_warnings`). Serve the state store
where the link's readers can reach it and set ``CONNECTOME_STATE_SERVER`` (or
``connectome serve --public-url``) to make links shareable.

Examples
--------
>>> state = {"layers": [], "layout": "xy"}
>>> state_link(state, prefix="neuroglancer-demo")
'https://neuroglancer-demo.appspot.com/#!%7B%22layers%22:%5B%5D,%22layout%22:%22xy%22%7D'
>>> parse_link(state_link(state)).state == state
True
>>> state_link(state, prefix="not a url")
Traceback (most recent call last):
...
connectome.errors.InputError: prefix: 'not a url' is not a viewer URL; use http(s)://host/path or one of the viewer names neuroglancer-demo, spelunker, flywire, seunglab
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConnectomeError, InputError
from .notices import warn
from .sources import default_viewer
from .state import _build_state
from .statestore import StateNotFoundError, StateStore, canonical_json

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..graph import Connectome
    from .sources import Sources

logger = logging.getLogger(__name__)

__all__ = ["Viewer", "VIEWERS", "DEFAULT_MAX_LENGTH", "link", "state_link", "dataset_link", "viewer_prefix",
           "parse_link",
           "ParsedLink", "resolve_link", "check_http_url", "remote_link", "loopback_urls"]

#: Longest URL a link may be before its state goes to the state store.
DEFAULT_MAX_LENGTH = 8000
_SAFE = "~@#$&()*!+=:;,.?/'"  # what neuroglancer.to_url leaves unquoted


@dataclass(frozen=True)
class Viewer:
    """A Neuroglancer deployment: its URL and how it loads a state from a URL."""

    url: str
    remote: str  # "json_url" (?json_url=...) or "fragment" (#!https://...)


VIEWERS: dict[str, Viewer] = {
    "neuroglancer-demo": Viewer("https://neuroglancer-demo.appspot.com/", "fragment"),
    "spelunker": Viewer("https://spelunker.cave-explorer.org/", "fragment"),
    "flywire": Viewer("https://ngl.flywire.ai/", "json_url"),
    "seunglab": Viewer("https://neuromancer-seung-import.appspot.com/", "json_url"),
}


def check_http_url(url: Any, parameter: str) -> str:
    """``url`` if it is an absolute http(s) URL, else :class:`~connectome.errors.InputError`.

    Examples
    --------
    >>> check_http_url("http://127.0.0.1:8000/v1/states", "base_url")
    'http://127.0.0.1:8000/v1/states'
    """
    text = str(url).strip()
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in text:
        raise InputError(f"{parameter}: {str(url)!r} is not an http(s) URL (e.g. http://127.0.0.1:8000/v1/states)",
                         parameter)
    return text


def viewer_prefix(prefix: str | None = None, remote: str | None = None) -> Viewer:
    """The viewer for ``prefix``: a name in :data:`VIEWERS`, a URL, or ``CONNECTOME_VIEWER``
    (default ``neuroglancer-demo``). ``remote`` overrides how it loads stored states.

    Examples
    --------
    >>> viewer_prefix("flywire")
    Viewer(url='https://ngl.flywire.ai/', remote='json_url')
    >>> viewer_prefix("https://my.host/ng").url
    'https://my.host/ng/'
    """
    prefix = prefix or os.environ.get("CONNECTOME_VIEWER") or "neuroglancer-demo"
    if remote is not None and remote not in ("json_url", "fragment"):
        raise InputError(f"remote: {remote!r} is not 'json_url' or 'fragment'", "remote")
    if prefix in VIEWERS:
        v = VIEWERS[prefix]
    else:
        try:
            url = check_http_url(prefix, "prefix")
        except InputError:
            raise InputError(f"prefix: {prefix!r} is not a viewer URL; use http(s)://host/path or one of the "
                             f"viewer names {', '.join(VIEWERS)}", "prefix") from None
        parts = urllib.parse.urlsplit(url)
        if parts.fragment:
            raise InputError(f"prefix: {prefix!r} already has a '#' fragment; give the viewer's address only",
                             "prefix")
        if parts.query:
            raise InputError(f"prefix: {prefix!r} has a query string; give the viewer's address only", "prefix")
        url = url if url.endswith("/") else url + "/"
        known = {urllib.parse.urlsplit(v.url).netloc: v for v in VIEWERS.values()}
        style = known[parts.netloc].remote if parts.netloc in known else "json_url"
        v = Viewer(url, style)
    return Viewer(v.url, remote) if remote else v


def remote_link(viewer: Viewer, state_url: str) -> str:
    """The link that makes ``viewer`` load the state at ``state_url``.

    Examples
    --------
    >>> remote_link(VIEWERS["flywire"], "http://h/v1/states/abc")
    'https://ngl.flywire.ai/?json_url=http://h/v1/states/abc'
    >>> remote_link(VIEWERS["neuroglancer-demo"], "http://h/v1/states/abc")
    'https://neuroglancer-demo.appspot.com/#!http://h/v1/states/abc'
    """
    if viewer.remote == "json_url":
        return f"{viewer.url}?json_url={urllib.parse.quote(state_url, safe=':/@')}"
    return f"{viewer.url}#!{state_url}"


def _store(store: StateStore | str | os.PathLike | None) -> StateStore:
    return store if isinstance(store, StateStore) else StateStore(store)


_URL_RE = re.compile(r"https?://[^\s\"'<>#?]+")


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


def loopback_urls(text: str) -> list[str]:
    """The distinct ``scheme://host:port`` origins of http(s) URLs in ``text`` that only this machine reaches.

    Examples
    --------
    >>> loopback_urls('{"source": "precomputed://http://127.0.0.1:8000/v1/states/x", "b": "https://h.org/y"}')
    ['http://127.0.0.1:8000']
    >>> loopback_urls("https://ngl.flywire.ai/?json_url=http://localhost:8000/v1/states/abc")
    ['http://localhost:8000']
    """
    out: list[str] = []
    for m in _URL_RE.finditer(text):
        parts = urllib.parse.urlsplit(m.group(0))
        if _is_loopback(parts.hostname):
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in out:
                out.append(origin)
    return out


def _warn_if_local(link_url: str, state_text: str, stored: bool) -> None:
    """Warn when the link needs a server on this machine (the state, segment labels, volumes)."""
    local = loopback_urls(link_url if stored else "") + loopback_urls(state_text)
    if not local:
        return
    origins = ", ".join(dict.fromkeys(local))
    what = []
    if stored:
        what.append("its state")
    if "/segment_properties/" in state_text and loopback_urls(state_text):
        what.append("its segment labels")
    if not what:
        what.append("data")
    warn(logger, f"link: this link loads {' and '.join(what)} from {origins}, a loopback address: it opens only "
         "on this machine, and only while the state server (connectome serve) runs there. To share links, run "
         "`connectome serve --host 0.0.0.0 --public-url https://<host reachable by readers>` and set "
         "CONNECTOME_STATE_SERVER=https://<that host>/v1/states (CLI: --state-server) and CONNECTOME_STATES to "
         "the service's states folder (see docs/guides/neuroglancer.md, \"Links colleagues can open\")")


def state_link(state: Mapping[str, Any], *, prefix: str | None = None, max_length: int | None = None,
               store: StateStore | str | os.PathLike | None = None, remote: str | None = None) -> str:
    """A link for ``state``: inline while the URL fits ``max_length``, else stored and linked by URL.

    Parameters
    ----------
    state : dict
        A Neuroglancer state (e.g. from :func:`~connectome.neuroglancer.build_state`).
    prefix : str, optional
        Viewer name (see :data:`VIEWERS`) or URL; default ``CONNECTOME_VIEWER`` or ``neuroglancer-demo``
        (:func:`link` and the result helpers default to the dataset's own viewer instead).
    max_length : int, optional
        Longest inline URL (default :data:`DEFAULT_MAX_LENGTH`); ``0`` always stores.
    store : StateStore or path, optional
        Where long states go (default: ``CONNECTOME_STATES``, served at ``CONNECTOME_STATE_SERVER``).
    remote : {"json_url", "fragment"}, optional
        Override how the viewer is told the state's URL.
    """
    viewer = viewer_prefix(prefix, remote)
    limit = DEFAULT_MAX_LENGTH if max_length is None else int(max_length)
    if limit < 0:
        raise InputError(f"max_length: must be >= 0, got {max_length!r}", "max_length")
    text = canonical_json(state)
    url = f"{viewer.url}#!{urllib.parse.quote(text, safe=_SAFE)}"
    if len(url) <= limit:
        _warn_if_local(url, text, stored=False)
        return url
    st = _store(store)
    sid = st.put(state)
    out = remote_link(viewer, st.url(sid))
    logger.info("state of %d characters stored as %s (%s)", len(url), sid, st.folder)
    _warn_if_local(out, text, stored=True)
    return out


def dataset_link(state: Mapping[str, Any], sources: Sources | None, *, prefix: str | None = None,
                 max_length: int | None = None, store: StateStore | str | os.PathLike | None = None,
                 remote: str | None = None) -> str:
    """The link of a state that shows a dataset: the one viewer rule of every link builder.

    The viewer is ``prefix=``, else ``CONNECTOME_VIEWER``, else the dataset's own
    viewer (:attr:`Sources.viewer`: FlyWire stores open in ``ngl.flywire.ai``),
    else ``neuroglancer-demo``; :func:`link`, the result links, the path, partner,
    influence, layer, cluster and match links all go through here.

    Examples
    --------
    >>> from connectome.neuroglancer.sources import KNOWN_DATASETS
    >>> url = dataset_link({"layers": []}, KNOWN_DATASETS["flywire"])
    >>> url.startswith("https://ngl.flywire.ai/") or "CONNECTOME_VIEWER" in os.environ
    True
    """
    return state_link(state, prefix=prefix or default_viewer(sources), max_length=max_length, store=store,
                      remote=remote)


@dataclass(frozen=True)
class ParsedLink:
    """What a link holds: the viewer prefix and either the state or the URL of a stored state."""

    prefix: str
    state: dict[str, Any] | None
    state_url: str | None


def parse_link(url: str) -> ParsedLink:
    """Split a link into its viewer prefix and its state (inline) or state URL (stored).

    Examples
    --------
    >>> p = parse_link("https://ngl.flywire.ai/?json_url=http://h/v1/states/abc")
    >>> p.prefix, p.state_url
    ('https://ngl.flywire.ai/', 'http://h/v1/states/abc')
    """
    text = str(url).strip()
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise InputError(f"url: {text[:80]!r} is not a viewer link (http(s)://host/#!... or ?json_url=...)", "url")
    base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    query = urllib.parse.parse_qs(parts.query)
    if "json_url" in query:
        return ParsedLink(base, None, query["json_url"][0])
    frag = parts.fragment
    if not frag.startswith("!"):
        raise InputError(f"url: {text[:80]!r} holds no state (expected '#!{{...}}', '#!https://...' or "
                         "'?json_url=...')", "url")
    body = urllib.parse.unquote(frag[1:])
    if re.match(r"^([a-z][a-z\d+.-]*\+)?https?://", body):
        return ParsedLink(base, None, re.sub(r"^[a-z][a-z\d+.-]*\+(?=https?://)", "", body))
    try:
        state = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InputError(f"url: the state in the link is not valid JSON ({exc})", "url") from None
    if not isinstance(state, dict):
        raise InputError("url: the state in the link is not a JSON object", "url")
    return ParsedLink(base, state, None)


def resolve_link(url: str, store: StateStore | str | os.PathLike | None = None, timeout: float = 10.0
                 ) -> dict[str, Any]:
    """The state a link shows: inline, from the local store (same id), or fetched from its URL."""
    p = parse_link(url)
    if p.state is not None:
        return p.state
    assert p.state_url is not None
    sid = p.state_url.rstrip("/").rsplit("/", 1)[-1]
    st = _store(store)
    if sid in st:
        return st.get(sid)
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(p.state_url, timeout=timeout) as resp:  # noqa: S310 (http(s) only)
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise StateNotFoundError(p.state_url, "url", "the state server does not have this state") from None
        raise ConnectomeError(f"url: fetching {p.state_url} failed with HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ConnectomeError(f"url: cannot reach the state server at {p.state_url} ({exc}); start it "
                              "(the API, or connectome open serves the local store) or point "
                              "CONNECTOME_STATES at a copy of the store") from None
    except json.JSONDecodeError as exc:
        raise ConnectomeError(f"url: {p.state_url} did not return JSON ({exc})") from None


def link(
    c: Connectome | None = None,
    root_ids: Any = None,
    *,
    color_by: str | None = None,
    colors: Any = None,
    default_color: Any = None,
    synapses: pd.DataFrame | bool | None = None,
    lines: pd.DataFrame | None = None,
    dataset: str | os.PathLike | Sources | None = None,
    properties: Any = None,
    alpha: float | None = None,
    view: Mapping[str, Any] | None = None,
    prefix: str | None = None,
    max_length: int | None = None,
    store: StateStore | str | os.PathLike | None = None,
    remote: str | None = None,
) -> str:
    """A Neuroglancer link showing ``root_ids`` of ``c``.

    Builds the state with :func:`~connectome.neuroglancer.build_state` (same
    parameters) and turns it into a link with :func:`state_link` (``prefix``,
    ``max_length``, ``store``, ``remote``). Without ``prefix`` the link opens in
    ``CONNECTOME_VIEWER``, else in the dataset's own viewer (FlyWire:
    ``ngl.flywire.ai``), else in ``neuroglancer-demo``. Warnings (see
    :func:`~connectome.neuroglancer.collect_warnings`): a segmentation that does
    not match the store's version, ``color_by`` values missing for every neuron,
    a link that needs a server on this machine.

    Examples
    --------
    >>> import tempfile
    >>> url = link(None, [720575940621039145], dataset="flywire", colors="red", prefix="neuroglancer-demo")
    >>> url.startswith("https://neuroglancer-demo.appspot.com/#!")
    True
    >>> "720575940621039145" in urllib.parse.unquote(url)
    True
    >>> stored = link(None, [720575940621039145], dataset="flywire", max_length=0, prefix="flywire",
    ...               store=StateStore(tempfile.mkdtemp(), "https://connectome.lab.example.org/v1/states"))
    >>> stored.split("?json_url=")[1].startswith("https://connectome.lab.example.org/v1/states/")
    True
    """
    state, sources = _build_state(c, root_ids, color_by=color_by, colors=colors, default_color=default_color,
                                  synapses=synapses, lines=lines, dataset=dataset, properties=properties,
                                  alpha=alpha, view=view, store=store)
    return dataset_link(state, sources, prefix=prefix, max_length=max_length, store=store, remote=remote)
