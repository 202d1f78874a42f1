"""One place that talks to a CAVE server through ``caveclient``: connect, guard the transport, translate.

* :func:`connect` probes the server first (a clear :class:`CaveConnectionError`
  within ``connect_timeout`` seconds instead of a hang or a stack trace), then
  builds the real ``caveclient.CAVEclient`` -- or takes a ready one
  (``client=``). Tokens are found the way caveclient finds them
  (``~/.cloudvolume/secrets/<server>-cave-secret.json``, then
  ``cave-secret.json``) unless passed in.
* **Retries are caveclient's.** Every session of the client gets a transport
  (:class:`ReplyGuard`) whose ``urllib3`` ``Retry`` is built from
  :class:`~connectome.ingest.cave.options.FetchOptions` as ``caveclient.set_session_defaults``
  builds its own (``max_retries``, backoff, the status list, GET and POST:
  CAVE's queries are reads sent as POST), but for this client only, so other
  clients in the process keep their settings. Statuses of ``retry_statuses``,
  timeouts and dropped connections are retried there; a refused or
  unresolvable server fails at once (a rerun resumes).
* The same transport sets a timeout on every request and reads each reply
  whole. A reply cut short -- a body shorter than its ``Content-Length``, or an
  Arrow stream without its end-of-stream marker, which parses cleanly but
  lacks rows and which caveclient accepts -- is sent again: the one retry of
  our own. A reply the server capped at its row limit ("Limited query") is
  refused (:class:`CappedReplyError`) and :meth:`CaveSession.query` returns it
  as a :class:`Page` with ``capped=True``.
* Whatever still fails becomes an error of :mod:`connectome.ingest.cave.errors` that says
  what to do.

Examples
--------
>>> retry_policy(FetchOptions(retries=3, backoff=0.5)).total
3
>>> backoff_delay(3, base=0.5, cap=30.0, jitter=0.0)
2.0
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import pandas as pd

from connectome.errors import InputError

from ._compat import token_file, uncached_versions_metadata
from .errors import (
    CaveAuthError,
    CaveConnectionError,
    CaveError,
    CaveServerError,
    DatastackNotFoundError,
    TableNotFoundError,
    VersionExpiredError,
)
from .options import FetchOptions, parse_timestamp

logger = logging.getLogger(__name__)

__all__ = [
    "CaveSession",
    "Page",
    "connect",
    "client_target",
    "retry_policy",
    "TruncatedReplyError",
    "CappedReplyError",
    "backoff_delay",
    "ARROW_EOS",
]

#: The end-of-stream marker every complete Arrow IPC stream ends with.
ARROW_EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"
_ARROW = "data.arrow"


class Page(NamedTuple):
    """One query reply: its rows as the server sent them, and whether the server capped it.

    A capped page holds a subset of the rows asked for (``frame`` has them, for
    choosing where to split); it is never staged.
    """

    frame: pd.DataFrame
    capped: bool


class TruncatedReplyError(IOError):
    """A reply cut short: a body shorter than promised, or an Arrow stream without its end-of-stream marker."""


class CappedReplyError(IOError):
    """A reply the server cut at its row cap (its ``Warning`` says "Limited query"): a subset, not a page.

    Raised by the transport so that the capped rows never pass for a page;
    :meth:`CaveSession.query` turns it into ``Page(frame, capped=True)``.
    """

    def __init__(self, url: str, body: bytes) -> None:
        super().__init__(f"{url.split('?')[0]}: the server capped the reply at its row limit")
        self.body = body

    def frame(self) -> pd.DataFrame:
        """The capped rows (Arrow IPC stream -> DataFrame)."""
        import pyarrow as pa

        with pa.ipc.open_stream(self.body) as reader:
            return reader.read_pandas()


def retry_policy(options: FetchOptions) -> Any:
    """The ``urllib3`` ``Retry`` of every caveclient session of a read.

    The arguments of ``caveclient.session_config._patch_session`` (which
    ``caveclient.set_session_defaults`` configures for every client of the
    process), taken from ``options`` for this client alone; ``connect=0``: a
    refused or unresolvable server fails at once.

    Examples
    --------
    >>> r = retry_policy(FetchOptions(retries=2, backoff=0.1, max_backoff=1.0))
    >>> r.total, r.connect, sorted(r.allowed_methods), 503 in r.status_forcelist
    (2, 0, ['GET', 'POST'], True)
    """
    from urllib3.util.retry import Retry

    return Retry(total=options.retries, connect=0, backoff_factor=options.backoff, backoff_max=options.max_backoff,
                 status_forcelist=options.retry_statuses, allowed_methods=frozenset(["GET", "POST"]),
                 raise_on_status=False)


def backoff_delay(attempt: int, *, base: float, cap: float, jitter: float = 0.25) -> float:
    """Seconds to wait before resending a cut reply, retry ``attempt`` (1-based): ``base * 2**(attempt-1)``,
    capped, with jitter.

    Examples
    --------
    >>> [backoff_delay(a, base=1.0, cap=5.0, jitter=0.0) for a in (1, 2, 3, 4)]
    [1.0, 2.0, 4.0, 5.0]
    """
    d = min(cap, base * (2 ** (attempt - 1)))
    return d * (1.0 + jitter * random.random())


def _cause(exc: BaseException) -> BaseException:
    """The urllib3 error under a requests error (``MaxRetryError.reason`` when retries ran out)."""
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
    return getattr(inner, "reason", None) or inner


def _reason(exc: BaseException) -> str:
    """What failed, for messages and retry counts."""
    import requests
    from urllib3.exceptions import ReadTimeoutError

    if isinstance(exc, TruncatedReplyError):
        return "truncated reply"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, requests.Timeout) or isinstance(_cause(exc), ReadTimeoutError):
        return "timeout"
    return f"connection error ({type(_cause(exc)).__name__})"


def _history_reason(h: Any) -> str:
    """Why urllib3 retried a request (one entry of ``Retry.history``)."""
    from urllib3.exceptions import ReadTimeoutError

    if h.status:
        return f"HTTP {h.status}"
    if isinstance(h.error, ReadTimeoutError):
        return "timeout"
    return f"connection error ({type(h.error).__name__})"


def _unreachable(exc: BaseException) -> bool:
    """Whether no connection could be made at all (refused, unresolvable, no answer to the handshake)."""
    from urllib3.exceptions import ConnectTimeoutError

    return isinstance(_cause(exc), ConnectTimeoutError)  # NewConnectionError and NameResolutionError derive from it


@functools.cache
def _guard_class() -> type:
    """The transport adapter (built lazily: requests is imported only when used)."""
    import requests
    from requests.adapters import HTTPAdapter

    cut = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError,
           requests.ConnectionError)

    class ReplyGuard(HTTPAdapter):
        """caveclient's retrying transport, plus a timeout on every request, whole replies and the row cap."""

        def __init__(self, options: FetchOptions, note: Callable[[str], None]) -> None:
            super().__init__(pool_connections=4, pool_maxsize=options.concurrency + 4,
                             max_retries=retry_policy(options))
            self.options = options
            self.timeout = (options.connect_timeout, options.timeout)
            self.note = note

        def send(self, request, **kwargs):  # type: ignore[override]
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = self.timeout
            attempt = 0
            while True:
                resp = super().send(request, **kwargs)
                for h in getattr(getattr(resp.raw, "retries", None), "history", None) or ():
                    self.note(_history_reason(h))  # what urllib3 retried before this reply
                if kwargs.get("stream"):
                    return resp
                try:
                    self._read_whole(request, resp)
                except TruncatedReplyError as exc:
                    attempt += 1
                    self.note("truncated reply")
                    if attempt > self.options.retries:
                        raise
                    delay = backoff_delay(attempt, base=self.options.backoff, cap=self.options.max_backoff)
                    logger.info("%s; sending it again (%d/%d) in %.2f s", exc, attempt, self.options.retries, delay)
                    time.sleep(delay)
                    continue
                if resp.headers.get("Content-Type") == _ARROW and "Limited query" in resp.headers.get("Warning", ""):
                    raise CappedReplyError(request.url, resp.content)
                return resp

        @staticmethod
        def _read_whole(request: Any, resp: Any) -> None:
            url = request.url.split("?")[0]
            try:
                body = resp.content
            except cut as exc:
                resp.close()
                raise TruncatedReplyError(f"the reply of {url} was cut short ({type(exc).__name__})") from None
            if resp.status_code == 200 and resp.headers.get("Content-Type") == _ARROW and not body.endswith(ARROW_EOS):
                raise TruncatedReplyError(f"the Arrow reply of {url} ended without its end-of-stream marker "
                                          f"({len(body)} bytes): the stream was cut short")

    return ReplyGuard


def _token_hint(server: str, auth_token: str | None, auth_token_file: str | None) -> str:
    """Where caveclient looked for a token, for error messages (no network, nothing written)."""
    if auth_token:
        return "the token passed in was refused"
    try:
        from caveclient.auth import AuthClient

        ac = AuthClient(token_file=auth_token_file, server_address=server)
        where = token_file(ac)
        found = ac.token is not None
    except Exception:  # pragma: no cover - message only
        return "no token found"
    return f"the token in {where} was refused" if found else f"no token found (looked in {where})"


def _auth_error(server: str, auth_token: str | None, auth_token_file: str | None, status: int | None) -> CaveAuthError:
    hint = _token_hint(server, auth_token, auth_token_file)
    code = f" (HTTP {status})" if status else ""
    return CaveAuthError(
        f"auth_token: {server} refused the request{code}: {hint}. Get a token with "
        f"caveclient.CAVEclient.setup_token({server!r}) (it is saved where caveclient looks), or pass "
        "auth_token=... / --token-file FILE")


def _probe(server: str, connect_timeout: float, fix: str = "check --server and your network") -> None:
    """Fail fast, by name, if nothing answers at ``server`` (any HTTP reply will do)."""
    import requests
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    url = server.rstrip("/") + "/info/version"
    t0 = time.monotonic()
    try:
        requests.get(url, timeout=(connect_timeout, connect_timeout))
    except requests.Timeout:
        raise CaveConnectionError(
            f"server: {server} did not answer within {connect_timeout:g} s; {fix} (or raise connect_timeout)") from None
    except requests.ConnectionError as exc:
        cause = _cause(exc)
        if isinstance(cause, NameResolutionError):
            why = "its host name does not resolve (offline?)"
        elif isinstance(cause, NewConnectionError):
            why = "the connection was refused"
        else:
            why = type(cause).__name__
        raise CaveConnectionError(
            f"server: cannot reach {server} ({why}, after {time.monotonic() - t0:.1f} s); {fix}") from None
    except requests.RequestException as exc:  # invalid URL and the like
        raise CaveConnectionError(f"server: {server!r} is not a usable URL ({exc})") from None


class CaveSession:
    """A connected ``CAVEclient`` with a guarded transport and error translation.

    Build it with :func:`connect`. Attributes: ``client`` (the CAVEclient),
    ``datastack``, ``server``, ``options``; ``retries_done`` counts retries by
    reason. :meth:`close` gives a borrowed client its own transport back.
    """

    def __init__(self, client: Any, datastack: str, server: str, options: FetchOptions,
                 auth: tuple[str | None, str | None], *, borrowed: bool = False) -> None:
        self.client = client
        self.datastack = datastack
        self.server = server
        self.options = options
        self._auth = auth
        self._borrowed = borrowed
        self._guarded: dict[int, tuple[Any, dict]] = {}
        self.retries_done: dict[str, int] = {}
        self._lock = threading.Lock()
        self.guard(client.info.session)

    # -- transport
    def _note(self, reason: str) -> None:
        with self._lock:
            self.retries_done[reason] = self.retries_done.get(reason, 0) + 1

    def guard(self, session: Any) -> None:
        """Mount the guarded transport (:func:`retry_policy`, timeouts, whole replies) on a caveclient session."""
        if id(session) in self._guarded:
            return
        before = {k: v for k, v in session.adapters.items() if k in ("http://", "https://")}
        adapter = _guard_class()(self.options, self._note)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._guarded[id(session)] = (session, before)

    def close(self) -> None:
        """Give a borrowed client (``client=``) its own transport back; a no-op for a client built here."""
        if self._borrowed:
            for session, before in self._guarded.values():
                for prefix, adapter in before.items():
                    session.mount(prefix, adapter)
            self._guarded.clear()

    def __enter__(self) -> CaveSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def materialize(self) -> Any:
        mat = self.call(lambda: self.client.materialize, what="connecting to the materialization service")
        self.guard(mat.session)
        return mat

    @property
    def chunkedgraph(self) -> Any:
        cg = self.call(lambda: self.client.chunkedgraph, what="connecting to the chunkedgraph")
        self.guard(cg.session)
        return cg

    # -- calls
    def call(self, fn: Callable[[], Any], *, what: str, not_found: Callable[[Any], Exception] | None = None) -> Any:
        """Run a read (the transport has retried what was transient); translate what still fails."""
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - translated below
            raise self.translate(exc, what, not_found) from None

    def translate(self, exc: BaseException, what: str, not_found: Callable[[Any], Exception] | None = None) -> Exception:
        """A failure as an error of the project's tree."""
        import requests
        from caveclient.base import AuthException, ServerIncompatibilityError

        if isinstance(exc, (CaveError, InputError)):
            return exc
        if isinstance(exc, AuthException):
            return _auth_error(self.server, *self._auth, None)
        retries = self.options.retries
        if isinstance(exc, requests.HTTPError) and exc.response is not None:
            code = exc.response.status_code
            if code in (401, 403):
                return _auth_error(self.server, *self._auth, code)
            if code in (404, 410) and not_found is not None:
                return not_found(exc)
            if code not in self.options.retry_statuses:
                return CaveServerError(f"{what}: the server answered HTTP {code}: {_server_message(exc)}", code)
            return _spent(what, retries, f"HTTP {code}: {_server_message(exc)}", code)
        if isinstance(exc, ServerIncompatibilityError):
            return CaveError(f"{what}: {exc}")
        if isinstance(exc, ValueError) and "Timestamp incompatible with IDs" in str(exc):
            return InputError(f"root_ids: some ids are not valid at the timestamp ({exc}); pass ids that exist at "
                              "that moment (caveclient's chunkedgraph.suggest_latest_roots finds them)", "root_ids")
        if isinstance(exc, requests.RequestException) and _unreachable(exc):
            host = getattr(getattr(exc, "request", None), "url", None) or self.server
            return CaveConnectionError(
                f"server: cannot reach {host.split('?')[0]} while {what} (refused, unresolvable or silent); check "
                "the server address and your network, then rerun the same command to resume")
        if isinstance(exc, (TruncatedReplyError, requests.ConnectionError, requests.Timeout,
                            requests.exceptions.ChunkedEncodingError)):
            return _spent(what, retries, f"{_reason(exc)}: {_short(_cause(exc))}", None)
        if isinstance(exc, requests.RequestException):
            return CaveConnectionError(f"{what}: {_short(exc)}")
        return CaveError(f"{what}: {type(exc).__name__}: {exc}")

    def prepare(self, live: bool) -> None:
        """Build the sub-clients and fill caveclient's caches in this thread, before page
        workers share them (its lazy properties and TTL caches are not thread-safe)."""
        mat = self.materialize
        if live:
            self.guard(self.chunkedgraph.session)
            self.call(lambda: mat.get_versions_metadata(), what="reading version metadata")

    # -- metadata
    def versions(self, expired: bool = False) -> list[int]:
        return sorted(int(v) for v in self.call(lambda: self.materialize.get_versions(expired=expired),
                                                what="listing materialization versions"))

    def versions_metadata(self, expired: bool = False) -> list[dict]:
        mat = self.materialize
        return self.call(lambda: uncached_versions_metadata(mat, expired=expired), what="reading version metadata")

    def resolve_version(self, version: int | None, timestamp: _dt.datetime | None) -> dict:
        """The version (or timestamp and its base version) a run reads; errors name the way out."""
        valid = self.versions()
        if timestamp is not None:
            metas = self.versions_metadata()
            before = [m for m in metas if _as_utc(m["time_stamp"]) <= timestamp]
            if not before:
                oldest = min(metas, key=lambda m: _as_utc(m["time_stamp"]), default=None)
                when = f" (oldest: v{oldest['version']} at {_as_utc(oldest['time_stamp']).isoformat()})" if oldest else ""
                raise InputError(f"timestamp: {timestamp.isoformat()} is older than every available "
                                 f"materialization version{when}; pass a later timestamp", "timestamp")
            base = max(before, key=lambda m: _as_utc(m["time_stamp"]))
            return {"version": None, "timestamp": timestamp.isoformat(), "base_version": int(base["version"]),
                    "base_time_stamp": _as_utc(base["time_stamp"]).isoformat()}
        if version is None:
            if not valid:
                raise CaveError(f"{self.datastack} has no valid materialization version; pass timestamp=...")
            v = max(valid)
            return {"version": v, "timestamp": None, "base_version": v, "latest": True}
        if int(version) not in valid:
            raise self.expired_error(int(version), valid)
        return {"version": int(version), "timestamp": None, "base_version": int(version)}

    def expired_error(self, version: int, valid: list[int] | None = None, *, resume_note: str = "") -> VersionExpiredError:
        """The error for a version that is not (or no longer) available."""
        valid = self.versions() if valid is None else valid
        everything = self.versions(expired=True)
        hint = ""
        if version in everything:
            when = ""
            try:
                metas = self.versions_metadata(expired=True)
                m = next((m for m in metas if int(m["version"]) == version), None)
                if m is not None:
                    when = _as_utc(m["time_stamp"]).strftime("%Y-%m-%dT%H:%M:%SZ")
            except CaveError:  # pragma: no cover - message only
                pass
            state = "has expired"
            if when:
                hint = (f"; to read the data as of that moment use the timestamp path: --timestamp {when} "
                        f"(timestamp={when!r}), which queries a newer version and maps root ids back")
            else:  # pragma: no cover
                hint = "; use the timestamp path (--timestamp) for a moment in time"
        else:
            state = "does not exist"
        return VersionExpiredError(
            f"version: materialization version {version} of {self.datastack} {state} (available: "
            f"{', '.join(map(str, valid)) or 'none'}){hint}{resume_note}", "version")

    def tables(self, version: int) -> list[str]:
        return list(self.call(lambda: self.materialize.get_tables(version=version),
                              what=f"listing the tables of {self.datastack} v{version}"))

    def table_metadata(self, table: str, version: int, known: list[str] | None = None) -> dict:
        where = f"{self.datastack} v{version}"
        return self.call(lambda: self.materialize.get_table_metadata(table, version=version, log_warning=False),
                         what=f"reading metadata of {table}",
                         not_found=lambda e: TableNotFoundError(table, known or [], where))

    def count(self, table: str, version: int) -> int:
        return int(self.call(lambda: self.materialize.get_annotation_count(table, version=version),
                             what=f"counting rows of {table}"))

    def query(self, table: str, *, version: int | None, timestamp: _dt.datetime | None, filters: dict,
              select: list[str] | None, limit: int | None, merge_reference: bool, what: str) -> Page:
        """One page of ``table`` at ``version`` (or live at ``timestamp``) under caveclient ``filters``."""
        mat = self.materialize
        kw = dict(filters)
        if select is not None:
            kw["select_columns"] = select
        common = dict(limit=limit, split_positions=True, metadata=False, merge_reference=merge_reference,
                      log_warning=False, **kw)

        def run() -> Page:
            try:
                if timestamp is not None:
                    df = mat.live_query(table, timestamp, post_filter=False, **common)
                else:
                    df = mat.query_table(table, materialization_version=version, **common)
            except CappedReplyError as capped:
                return Page(capped.frame(), capped=True)
            return Page(df, capped=False)

        return self.call(run, what=what, not_found=self._query_not_found(table, version))

    def _query_not_found(self, table: str, version: int | None) -> Callable[[Any], Exception]:
        def make(exc: Any) -> Exception:
            if version is not None:
                valid = self.versions()
                if version not in valid:
                    return self.expired_error(version, valid, resume_note=(
                        ". Pages fetched so far are kept; they can only be completed with this version"))
            return CaveServerError(f"{table}: the server answered {exc.response.status_code}: "
                                   f"{_server_message(exc)}", exc.response.status_code)

        return make


def _as_utc(ts: Any) -> _dt.datetime:
    if isinstance(ts, str):
        return parse_timestamp(ts if ("+" in ts[10:] or ts.endswith("Z")) else ts + "+00:00")
    if ts.tzinfo is None:
        return ts.replace(tzinfo=_dt.timezone.utc)
    return ts.astimezone(_dt.timezone.utc)


def _spent(what: str, retries: int, reason: str, status: int | None) -> CaveServerError:
    return CaveServerError(
        f"{what}: still failing after {retries} retries ({reason}); the server may be overloaded: rerun the same "
        "command later to resume where it stopped, or lower concurrency / page_rows", status)


def _short(exc: BaseException, n: int = 200) -> str:
    s = f"{type(exc).__name__}: {exc}"
    return s if len(s) <= n else s[: n - 1] + "…"


def _server_message(exc: Any) -> str:
    try:
        return str(exc.response.json().get("message", exc.response.text[:200]))
    except Exception:  # noqa: BLE001
        return exc.response.text[:200]


def client_target(client: Any) -> tuple[str, str]:
    """The datastack and server of a ready ``CAVEclient``.

    Raises
    ------
    InputError
        ``client`` is not a CAVEclient for one datastack (a global client reads no tables).
    """
    ds = getattr(client, "datastack_name", None)
    server = getattr(client, "server_address", None)
    if not ds or not isinstance(server, str):
        raise InputError("client: needs a CAVEclient for one datastack, e.g. CAVEclient('minnie65_public'), "
                         f"not {type(client).__name__}", "client")
    return str(ds), server.rstrip("/")


def connect(datastack: str | None, server: str | None, *, options: FetchOptions | None = None,
            auth_token: str | None = None, auth_token_file: str | None = None, client: Any = None) -> CaveSession:
    """A :class:`CaveSession` on ``datastack`` at ``server`` (probed first, errors translated).

    With ``client`` (a ready ``caveclient.CAVEclient`` for one datastack), its
    datastack, server and token are used; ``datastack`` and ``server`` are
    ignored. Its sessions get the guarded transport of ``options`` until
    :meth:`CaveSession.close`.

    Raises
    ------
    CaveConnectionError
        The server cannot be reached (within ``options.connect_timeout`` s).
    CaveAuthError
        The server refuses the token (or there is none).
    DatastackNotFoundError
        The server does not serve ``datastack`` (the message lists those it does).
    """
    options = options or FetchOptions()
    if client is not None:
        if auth_token is not None or auth_token_file is not None:
            raise InputError("auth_token: a ready client carries its own token; pass client= or auth_token / "
                             "auth_token_file, not both", "auth_token")
        ds, srv = client_target(client)
        return CaveSession(client, ds, srv, options, (None, None), borrowed=True)
    if not isinstance(server, str) or not server.startswith(("http://", "https://")):
        raise InputError(f"server must be an http(s) URL, not {server!r}", "server")
    server = server.rstrip("/")
    _probe(server, options.connect_timeout)
    from caveclient import CAVEclient

    try:  # caveclient retries its own first requests (max_retries); its sessions get ours below
        client = CAVEclient(datastack, server_address=server, auth_token=auth_token, auth_token_file=auth_token_file,
                            max_retries=options.retries, pool_maxsize=options.concurrency + 4,
                            write_server_cache=False)
    except Exception as exc:  # noqa: BLE001 - translated
        raise _connect_error(exc, datastack, server, auth_token, auth_token_file) from None
    session = CaveSession(client, datastack, server, options, (auth_token, auth_token_file))
    # the datastack's services may live elsewhere; caveclient would retry a dead one at length
    local = str(session.call(client.info.local_server, what="reading the datastack's services")).rstrip("/")
    if local and local != server:
        _probe(local, options.connect_timeout, f"the services of {datastack} announced by {server} are down or "
               "unreachable; check your network, then rerun the same command to resume")
    return session


def _connect_error(exc: BaseException, datastack: str, server: str, auth_token: str | None,
                   auth_token_file: str | None) -> BaseException:
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        code = exc.response.status_code
        if code in (401, 403):
            return _auth_error(server, auth_token, auth_token_file, code)
        if code == 404:
            return DatastackNotFoundError(datastack, _list_datastacks(server, auth_token, auth_token_file), server)
        return CaveServerError(f"datastack: {server} answered HTTP {code} for {datastack!r}: "
                               f"{_server_message(exc)}", code)
    if isinstance(exc, requests.RequestException):
        return CaveConnectionError(f"server: {server}: {_short(exc)}")
    from caveclient.base import AuthException

    if isinstance(exc, AuthException):
        return _auth_error(server, auth_token, auth_token_file, None)
    return exc


def _list_datastacks(server: str, auth_token: str | None, auth_token_file: str | None) -> list[str]:
    try:
        from caveclient import CAVEclient

        g = CAVEclient(server_address=server, auth_token=auth_token, auth_token_file=auth_token_file,
                       max_retries=0)
        return list(g.info.get_datastacks())
    except Exception:  # noqa: BLE001 - only for the message
        return []
