"""One place that talks to a CAVE server through ``caveclient``: connect, check, retry, translate.

* :func:`connect` probes the server first (a clear :class:`CaveConnectionError`
  within ``connect_timeout`` seconds instead of a hang or a stack trace), then
  builds the real ``caveclient.CAVEclient``. Tokens are found the way
  caveclient finds them (``~/.cloudvolume/secrets/<server>-cave-secret.json``,
  then ``cave-secret.json``) unless passed in.
* Every session of the client gets a transport (:class:`ReplyGuard`) that sets
  a timeout on each request, refuses Arrow replies without their
  end-of-stream marker (a stream cut at a record-batch boundary parses
  cleanly but lacks rows) and notes the server's row-cap warning.
* :meth:`CaveSession.call` retries idempotent reads on 5xx, 408/429,
  timeouts, dropped connections and broken replies with exponential backoff
  and jitter; other failures become errors of :mod:`ingest.cave_errors` that
  say what to do.

Examples
--------
>>> classify_failure(TruncatedReplyError("cut"))
'truncated reply'
>>> backoff_delay(3, base=0.5, cap=30.0, jitter=0.0)
2.0
"""

from __future__ import annotations

import datetime as _dt
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connectome.errors import InputError

from .cave_errors import (
    CaveAuthError,
    CaveConnectionError,
    CaveError,
    CaveServerError,
    DatastackNotFoundError,
    TableNotFoundError,
    VersionExpiredError,
)

logger = logging.getLogger(__name__)

__all__ = [
    "FetchOptions",
    "CaveSession",
    "connect",
    "TruncatedReplyError",
    "classify_failure",
    "backoff_delay",
    "parse_timestamp",
    "ARROW_EOS",
]

#: The end-of-stream marker every complete Arrow IPC stream ends with.
ARROW_EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"
_REPLY = threading.local()


@dataclass(frozen=True)
class FetchOptions:
    """How pages are fetched.

    Parameters
    ----------
    page_rows : int
        Rows asked for per request (``limit``); keep it at or below the
        server's cap (about 200,000). Pages that hit it are split.
    concurrency : int
        Requests in flight at once (a bound, not a target).
    retries : int
        Retries of one request after a transient failure.
    backoff, max_backoff : float
        First and largest wait between retries, seconds (doubling, with jitter).
    timeout : float
        Seconds to wait for a reply before it counts as a timeout.
    connect_timeout : float
        Seconds for the first probe of the server (an unreachable server fails this fast).
    id_batch : int
        Root ids per request when selecting by root ids.

    Examples
    --------
    >>> FetchOptions(page_rows=50_000).concurrency
    4
    """

    page_rows: int = 100_000
    concurrency: int = 4
    retries: int = 6
    backoff: float = 0.5
    max_backoff: float = 30.0
    timeout: float = 120.0
    connect_timeout: float = 5.0
    id_batch: int = 500

    def __post_init__(self) -> None:
        for name in ("page_rows", "concurrency", "id_batch"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"{name} must be a positive integer, not {v!r}", name)
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise InputError(f"retries must be a non-negative integer, not {self.retries!r}", "retries")
        for name in ("backoff", "max_backoff", "timeout", "connect_timeout"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0 or (name.endswith("timeout") and v == 0):
                raise InputError(f"{name} must be a positive number of seconds, not {v!r}", name)


class TruncatedReplyError(IOError):
    """An Arrow reply without its end-of-stream marker (cut short)."""


def backoff_delay(attempt: int, *, base: float, cap: float, jitter: float = 0.25) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): ``base * 2**(attempt-1)``, capped, with jitter.

    Examples
    --------
    >>> [backoff_delay(a, base=1.0, cap=5.0, jitter=0.0) for a in (1, 2, 3, 4)]
    [1.0, 2.0, 4.0, 5.0]
    """
    d = min(cap, base * (2 ** (attempt - 1)))
    return d * (1.0 + jitter * random.random())


def classify_failure(exc: BaseException) -> str | None:
    """Why a failed read is worth retrying, or ``None`` if it is not.

    Examples
    --------
    >>> classify_failure(ValueError("no")) is None
    True
    """
    import requests

    if isinstance(exc, TruncatedReplyError):
        return "truncated reply"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        code = exc.response.status_code
        if code >= 500 or code in (408, 429):
            return f"HTTP {code}"
        return None
    if isinstance(exc, (requests.Timeout,)):
        return "timeout"
    if isinstance(exc, requests.ConnectionError) and _unreachable(exc):
        return None  # refused or unresolvable: say so now; a rerun resumes
    if isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                        requests.exceptions.ContentDecodingError)):
        return f"connection error ({type(exc).__name__})"
    try:
        import pyarrow as pa

        if isinstance(exc, pa.ArrowInvalid):
            return "broken Arrow reply"
    except ImportError:  # pragma: no cover
        pass
    return None


def _unreachable(exc: BaseException) -> bool:
    text = str(exc)
    return any(s in text for s in ("NameResolutionError", "Name or service not known", "Connection refused",
                                    "Failed to establish a new connection", "nodename nor servname"))


def _guard_class():
    """The transport adapter (built lazily: requests is imported only when used)."""
    from requests.adapters import HTTPAdapter

    class ReplyGuard(HTTPAdapter):
        """Timeout on every request; Arrow replies checked for completeness; row-cap warnings noted."""

        def __init__(self, timeout: float, connect_timeout: float, pool_maxsize: int) -> None:
            super().__init__(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
            self.timeout = (connect_timeout, timeout)

        def send(self, request, **kwargs):  # type: ignore[override]
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = self.timeout
            resp = super().send(request, **kwargs)
            if "Limited query" in resp.headers.get("Warning", ""):
                _REPLY.capped = True
            if (resp.status_code == 200 and resp.headers.get("Content-Type") == "data.arrow"
                    and not kwargs.get("stream")):
                body = resp.content
                if not body.endswith(ARROW_EOS):
                    raise TruncatedReplyError(
                        f"Arrow reply of {request.url.split('?')[0]} ended without its end-of-stream marker "
                        f"({len(body)} bytes): the stream was cut short")
            return resp

    return ReplyGuard


def parse_timestamp(value: Any) -> _dt.datetime:
    """A timezone-aware UTC datetime from a datetime or ISO 8601 string; naive values are refused.

    Examples
    --------
    >>> parse_timestamp("2024-06-01T12:00:00Z").isoformat()
    '2024-06-01T12:00:00+00:00'
    >>> parse_timestamp("2024-06-01T14:00:00+02:00").isoformat()
    '2024-06-01T12:00:00+00:00'
    >>> parse_timestamp("2024-06-01 12:00")
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: timestamp: '2024-06-01 12:00' has no timezone; give it in UTC, e.g. '2024-06-01T12:00:00Z' or '...+00:00'
    """
    ts = value
    if isinstance(value, str):
        s = value.strip()
        if s.endswith(("Z", "z")):
            s = s[:-1] + "+00:00"
        try:
            ts = _dt.datetime.fromisoformat(s)
        except ValueError:
            raise InputError(f"timestamp: cannot read {value!r}; use ISO 8601 in UTC, e.g. '2024-06-01T12:00:00Z'",
                             "timestamp") from None
    if not isinstance(ts, _dt.datetime):
        raise InputError(f"timestamp must be a datetime or an ISO 8601 string, not {type(value).__name__}",
                         "timestamp")
    if ts.tzinfo is None or ts.tzinfo.utcoffset(ts) is None:
        raise InputError(f"timestamp: {value!r} has no timezone; give it in UTC, e.g. "
                         "'2024-06-01T12:00:00Z' or '...+00:00'", "timestamp")
    return ts.astimezone(_dt.timezone.utc)


def _token_hint(server: str, auth_token: str | None, auth_token_file: str | None) -> str:
    """Where caveclient looked for a token, for error messages (no network, nothing written)."""
    if auth_token:
        return "the token passed in was refused"
    try:
        from caveclient.auth import AuthClient

        ac = AuthClient(token_file=auth_token_file, server_address=server)
        where = ac._token_file  # noqa: SLF001 - only for the message
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


def _probe(server: str, connect_timeout: float) -> None:
    import requests

    url = server.rstrip("/") + "/info/version"
    t0 = time.monotonic()
    try:
        requests.get(url, timeout=(connect_timeout, connect_timeout))
    except requests.Timeout:
        raise CaveConnectionError(
            f"server: {server} did not answer within {connect_timeout:g} s; check --server and your network "
            "(or raise connect_timeout)") from None
    except requests.ConnectionError as exc:
        reason = str(exc.args[0]) if exc.args else str(exc)
        if "NameResolution" in reason or "Name or service not known" in reason or "getaddrinfo" in reason:
            why = "its host name does not resolve (offline?)"
        elif "refused" in reason.lower():
            why = "the connection was refused"
        else:
            why = type(exc).__name__
        raise CaveConnectionError(
            f"server: cannot reach {server} ({why}, after {time.monotonic() - t0:.1f} s); "
            "check --server and your network") from None
    except requests.RequestException as exc:  # invalid URL and the like
        raise CaveConnectionError(f"server: {server!r} is not a usable URL ({exc})") from None


class CaveSession:
    """A connected ``CAVEclient`` with guarded transport, retries and error translation.

    Build it with :func:`connect`. Attributes: ``client`` (the CAVEclient),
    ``datastack``, ``server``, ``options``; ``retries_done`` counts retries by reason.
    """

    def __init__(self, client: Any, datastack: str, server: str, options: FetchOptions,
                 auth: tuple[str | None, str | None]) -> None:
        self.client = client
        self.datastack = datastack
        self.server = server
        self.options = options
        self._auth = auth
        self._guarded: set[int] = set()
        self.retries_done: dict[str, int] = {}
        self._lock = threading.Lock()
        self.guard(client.info.session)

    # -- transport
    def guard(self, session: Any) -> None:
        if id(session) in self._guarded:
            return
        adapter = _guard_class()(self.options.timeout, self.options.connect_timeout,
                                 pool_maxsize=self.options.concurrency + 4)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._guarded.add(id(session))

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
        """Run an idempotent read, retrying transient failures; translate the rest."""
        import requests

        opts = self.options
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - classified below
                reason = classify_failure(exc)
                if reason is None:
                    raise self.translate(exc, what, not_found) from None
                attempt += 1
                with self._lock:
                    self.retries_done[reason] = self.retries_done.get(reason, 0) + 1
                if attempt > opts.retries:
                    status = exc.response.status_code if isinstance(exc, requests.HTTPError) else None
                    raise CaveServerError(
                        f"{what}: still failing after {opts.retries} retries ({reason}: {_short(exc)}); the server "
                        "may be overloaded: rerun the same command later to resume where it stopped, or lower "
                        "concurrency / page_rows", status) from None
                delay = backoff_delay(attempt, base=opts.backoff, cap=opts.max_backoff)
                logger.info("%s: %s, retry %d/%d in %.2f s", what, reason, attempt, opts.retries, delay)
                time.sleep(delay)

    def translate(self, exc: BaseException, what: str, not_found: Callable[[Any], Exception] | None = None) -> Exception:
        """A non-transient failure as an error of the project's tree."""
        import requests

        if isinstance(exc, CaveError) or isinstance(exc, InputError):
            return exc
        name = type(exc).__name__
        if name == "AuthException":
            return _auth_error(self.server, *self._auth, None)
        if isinstance(exc, requests.HTTPError) and exc.response is not None:
            code = exc.response.status_code
            if code in (401, 403):
                return _auth_error(self.server, *self._auth, code)
            if code in (404, 410) and not_found is not None:
                return not_found(exc)
            return CaveServerError(f"{what}: the server answered HTTP {code}: {_server_message(exc)}", code)
        if name == "ServerIncompatibilityError":
            return CaveError(f"{what}: {exc}")
        if isinstance(exc, ValueError) and "Timestamp incompatible with IDs" in str(exc):
            return InputError(f"root_ids: some ids are not valid at the timestamp ({exc}); pass ids that exist at "
                              "that moment (caveclient's chunkedgraph.suggest_latest_roots finds them)", "root_ids")
        if isinstance(exc, requests.RequestException):
            if _unreachable(exc):
                host = getattr(getattr(exc, "request", None), "url", None) or self.server
                return CaveConnectionError(
                    f"server: cannot reach {host.split('?')[0]} while {what} (refused or unresolvable); check the "
                    "server address and your network, then rerun the same command to resume")
            return CaveConnectionError(f"{what}: {_short(exc)}")
        return CaveError(f"{what}: {name}: {exc}")

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
        return self.call(lambda: mat.get_versions_metadata.__wrapped__(mat, expired=expired),
                         what="reading version metadata")

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
              select: list[str] | None, limit: int | None, merge_reference: bool, what: str):
        """One page: (DataFrame as the server sent it, whether the server capped it)."""
        mat = self.materialize

        def run():
            _REPLY.capped = False
            kw = dict(filters)
            if select is not None:
                kw["select_columns"] = select
            if timestamp is not None:
                df = mat.live_query(table, timestamp, limit=limit, split_positions=True, post_filter=False,
                                    metadata=False, merge_reference=merge_reference, log_warning=False, **kw)
            else:
                df = mat.query_table(table, materialization_version=version, limit=limit, split_positions=True,
                                     metadata=False, merge_reference=merge_reference, log_warning=False, **kw)
            return df, bool(getattr(_REPLY, "capped", False))

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


def _short(exc: BaseException, n: int = 200) -> str:
    s = f"{type(exc).__name__}: {exc}"
    return s if len(s) <= n else s[: n - 1] + "…"


def _server_message(exc: Any) -> str:
    try:
        return str(exc.response.json().get("message", exc.response.text[:200]))
    except Exception:  # noqa: BLE001
        return exc.response.text[:200]


def connect(datastack: str, server: str, *, options: FetchOptions | None = None, auth_token: str | None = None,
            auth_token_file: str | None = None) -> CaveSession:
    """A :class:`CaveSession` on ``datastack`` at ``server`` (probed first, errors translated).

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
    if not isinstance(server, str) or not server.startswith(("http://", "https://")):
        raise InputError(f"server must be an http(s) URL, not {server!r}", "server")
    server = server.rstrip("/")
    _probe(server, options.connect_timeout)
    from caveclient import CAVEclient

    attempt = 0
    while True:
        try:
            client = CAVEclient(datastack, server_address=server, auth_token=auth_token,
                                auth_token_file=auth_token_file, max_retries=0,
                                pool_maxsize=options.concurrency + 4, write_server_cache=False)
        except Exception as exc:  # noqa: BLE001 - transient failures retried, the rest translated
            reason = classify_failure(exc)
            attempt += 1
            if reason is None or attempt > options.retries:
                raise _connect_error(exc, datastack, server, auth_token, auth_token_file) from None
            delay = backoff_delay(attempt, base=options.backoff, cap=options.max_backoff)
            logger.info("connecting to %s: %s, retry %d/%d in %.2f s", server, reason, attempt, options.retries,
                        delay)
            time.sleep(delay)
            continue
        return CaveSession(client, datastack, server, options, (auth_token, auth_token_file))


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
    if type(exc).__name__ == "AuthException":
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
