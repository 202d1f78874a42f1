"""Every error as JSON with a stable code: ``{"error": {"code", "message", "field", ...}}``.

The project's exception tree (:mod:`connectome.errors`) maps to HTTP statuses
and codes in one table (:data:`ERROR_CODES`); request validation, unknown
routes, the service's own refusals (:class:`ApiError`) and unexpected failures
go through the same handlers, so a client parses one shape.

=========================  ======  ======================================
exception                  status  code
=========================  ======  ======================================
QuerySyntaxError           400     ``query_syntax`` (+ ``line``, ``column``)
QueryMemoryError           422     ``query_too_large`` (+ ``estimate``, ``limit``: bytes)
QueryTooLargeError         400     ``query_too_large``
QueryTimeoutError          422     ``query_timeout``
other QueryError           400     ``invalid_query`` (unknown attribute, ...)
NullModelError             422     ``null_model``
ColumnError                400     ``unknown_column``
PairBudgetError            400     ``too_many_pairs`` (+ ``estimate``, ``limit``)
other InputError           400     ``invalid_input``
DatasetNotFoundError       404     ``dataset_not_found``
SourceNotFoundError        404     ``not_found`` (e.g. an unknown state id)
SchedulerError             503     ``cluster_unavailable``
DependencyError            501     ``not_available``
OSError ENOSPC / EDQUOT    507     ``disk_full`` (also when it caused another error)
other ConnectomeError      500     ``internal``
=========================  ======  ======================================

Messages never show the server's folders: the data root, the data home and
the project checkout are replaced by ``<data root>``, ``<data home>`` and
``<server>`` (:func:`redact_paths`), other absolute paths by their last name and
network addresses (``tls://…``, ``host:port``) by ``<address>``
(:func:`public_message`, also for job error messages); nor do replies that carry a store's
provenance (:func:`hide_paths`: a source file by its name only). The library
writes its messages for Python callers (``pass shortest=True``,
``cx.ids_of(c, ...)``); :func:`http_message` rewrites them for HTTP clients as
the command line does for its flags: a request field as JSON (``pass
"shortest": true``), advice only Python can follow left out.

Examples
--------
>>> from connectome.errors import QuerySyntaxError
>>> status, body = error_from_exception(QuerySyntaxError("unexpected '->'", line=2, column=5))
>>> status, body["error"]["code"], body["error"]["field"], body["error"]["line"]
(400, 'query_syntax', 'query', 2)
>>> status, body = error_from_exception(ApiError(403, "forbidden", "no access to dataset 'x'", field="name"))
>>> status, body["error"]["message"]
(403, "no access to dataset 'x'")
"""

from __future__ import annotations

import errno
import logging
import re
from collections.abc import Iterable
from typing import Any

from connectome import errors as cxe

logger = logging.getLogger(__name__)

__all__ = ["ApiError", "ERROR_CODES", "error_body", "error_from_exception", "install_handlers", "redact_paths",
           "set_redactions", "disk_full_cause", "http_message", "hide_paths", "public_message"]

#: (folder, placeholder) pairs replaced in every error message (see :func:`set_redactions`).
_REDACTIONS: list[tuple[str, str]] = []
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def set_redactions(pairs: Iterable[tuple[Any, str]]) -> None:
    """Folders (longest first) that error messages must not show, and what replaces them."""
    clean = [(str(folder).rstrip("/"), label) for folder, label in pairs if str(folder).strip("/")]
    _REDACTIONS[:] = sorted(set(clean), key=lambda p: -len(p[0]))


def redact_paths(text: str) -> str:
    """``text`` without the server's folders (see :func:`set_redactions`).

    Examples
    --------
    >>> set_redactions([("/srv/cx", "<data root>")])
    >>> redact_paths("cannot write /srv/cx/states/ab.json (No space left on device)")
    'cannot write <data root>/states/ab.json (No space left on device)'
    >>> set_redactions([])
    """
    for folder, label in _REDACTIONS:
        text = re.sub(re.escape(folder) + r"(?=/|\b|$)", label, text)
    return text


def hide_paths(value: Any, files: bool = False) -> Any:
    """``value`` (JSON-like: a store's provenance, a summary) with every server file path shown by its name only.

    Absolute paths, ``file://`` addresses and the values of ``*_file`` /
    ``files`` / ``path`` keys keep their last part; the server's folders are
    replaced in any other text (:func:`redact_paths`). URLs stay as they are.

    Parameters
    ----------
    value : dict, list or scalar
        What a reply will carry.
    files : bool
        ``value`` holds file names (it sits under such a key), even relative ones.

    Examples
    --------
    >>> hide_paths({"kind": "release-file", "edges_file": "/srv/imports/edges.csv", "files": {"cells": [
    ...     "exports/cells.csv", "DataFrame"]}, "volume": "precomputed://file:///data/seg", "url": "https://x.org/a"})
    {'kind': 'release-file', 'edges_file': 'edges.csv', 'files': {'cells': ['cells.csv', 'DataFrame']}, \
'volume': 'precomputed://file://seg', 'url': 'https://x.org/a'}
    """
    if isinstance(value, dict):
        return {k: hide_paths(v, files or bool(re.search(r"(^|_)(file|files|path|paths)$", str(k))))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [hide_paths(v, files) for v in value]
    if not isinstance(value, str):
        return value

    def name(path: str) -> str:
        return re.split(r"[\\/]", path.rstrip("/\\"))[-1] or "<server path>"

    text = re.sub(r"file://[^\s'\"]+", lambda m: "file://" + name(m.group(0)[len("file://"):]), value)
    if text == value and (value.startswith(("/", "~/")) or re.match(r"[A-Za-z]:[\\/]", value) or (
            files and "://" not in value and re.search(r"[\\/]", value))):
        return name(value)
    return redact_paths(text)


#: Network addresses a message must not show: ``tls://``, ``tcp://``, ``inproc://``, ``ucx://``, ``ws(s)://``
#: addresses (Dask workers and schedulers) and bare ``host:port`` pairs.
_ADDRESS = re.compile(r"\b(?:tls|tcp|inproc|ucx|wss?)://[^\s'\",;)>\]]+"
                      r"|(?<![\w.:/-])(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]|localhost"
                      r"|[A-Za-z][\w-]*(?:\.[A-Za-z][\w-]*)+):\d{1,5}\b")
#: An absolute path left after :func:`redact_paths` (outside the known folders): shown by its last name.
#: Routes (``/v1/...``) and the parts of URLs stay.
_STRAY_PATH = re.compile(r"(?<![\w:/.>~%-])/(?!v1/)[\w.@+~-]+(?:/[\w.@+~-]+)+/?")


def public_message(message: str) -> str:
    """The one rendering of an error message a client sees: HTTP replies and job records alike.

    Written for HTTP clients (:func:`http_message`), without the server's folders
    (:func:`redact_paths`), any other absolute path shown by its last name, and without
    network addresses (``tls://…``, ``tcp://…``, ``inproc://…`` and ``host:port`` pairs
    become ``<address>``).

    Examples
    --------
    >>> public_message("KilledWorker: ('run_job-1', <WorkerState 'tls://10.0.0.7:41234', name: 0>) "
    ...                "at scheduler.internal:8786")
    "KilledWorker: ('run_job-1', <WorkerState '<address>', name: 0>) at <address>"
    >>> public_message("'/home/svc/data/stores/alice_priv.access.json' is a file; poll GET /v1/jobs/job_1")
    "'alice_priv.access.json' is a file; poll GET /v1/jobs/job_1"
    """
    text = redact_paths(http_message(str(message)))
    text = _ADDRESS.sub("<address>", text)
    return _STRAY_PATH.sub(lambda m: re.split(r"/", m.group(0).rstrip("/"))[-1], text)


def http_message(message: str) -> str:
    """A message written for Python callers, rewritten for HTTP clients.

    ``name=value`` becomes JSON (``"name": value``) where the name is a field of
    a request body, or where it states a fact (``no node has cell_type='AVAL'``);
    advice that only Python can follow is left out (``pass allow_empty=True``:
    no request has that field; ``cx.ids_of(c, ...)``), as
    :func:`connectome.cli.render_error` does for the command line.

    Examples
    --------
    >>> http_message("weight: only shortest paths have a weighted length; pass shortest=True or weight=None")
    'weight: only shortest paths have a weighted length; pass "shortest": true or "weight": null'
    >>> print(http_message("cell_type: no node has cell_type='AVAL'; close values of cell_type: 'AVA'; "
    ...                    "pass allow_empty=True to accept an empty result"))
    cell_type: no node has "cell_type": "AVAL"; close values of cell_type: 'AVA'
    >>> http_message("sources: 1 id(s) not in d: 1; check the ids (cx.ids_of(c, ...)) and the dataset version")
    'sources: 1 id(s) not in d: 1; check the ids and the dataset version'
    """
    if len(message) > 4000:  # a long list of values: its advice is left as written (rewriting is not linear)
        return message
    import ast
    import json

    import pydantic

    from connectome.cli import render_error  # lazy: the command line's parser is not needed to serve

    from . import schemas  # lazy: the request models (their fields are what a client can send)

    fields = {name for obj in vars(schemas).values()  # request bodies refuse unknown fields; replies do not
              if isinstance(obj, type) and issubclass(obj, pydantic.BaseModel)
              and obj.model_config.get("extra") == "forbid" for name in obj.model_fields}

    def as_json(m: re.Match) -> str:
        name, raw = m.group(1), m.group(2)
        clause = re.split(r"[;.(]\s", message[max(0, m.start() - 300):m.start()])[-1]  # its clause, so far
        advice = re.search(r"\b(pass|use|set|give|leave|try)\b", clause, re.IGNORECASE)
        if advice and name not in fields:
            return f"{name}=(...)"  # Python-only advice, spelled so that render_error leaves its clause out
        if not raw:
            return json.dumps(name)
        try:
            literal = int(raw.replace(",", "")) if re.fullmatch(r"\d{1,3}(,\d{3})+", raw) else ast.literal_eval(raw)
            return f"{json.dumps(name)}: {json.dumps(literal)}"
        except Exception:  # not a literal (a call, an ellipsis ...): left as it is
            return m.group(0)

    value = (r"'[^']*'|\"[^\"]*\"|\[[^\[\]]*\]|\([^()]*\)|\{[^{}]*\}|[A-Za-z_][\w.]*\([^()]*\)|\d{1,3}(?:,\d{3})+"
             r"|-?[\w.+]*\w|")
    text = re.sub(r"(?<![\w.\-/?&'\"])([A-Za-z_]\w*)=(?!=)(" + value + r")(?![\w(])", as_json, message)
    # a parenthesis holding only a Python call, e.g. "(cx.ids_of(c, ...))"
    text = re.sub(r"\s*\((?:cx|pd|np|pandas|numpy)\.\w+\([^()]*\)\)", "", text)
    return render_error(text, {})


def disk_full_cause(exc: BaseException | None) -> OSError | None:
    """The ``OSError`` (no space, quota) behind ``exc`` — itself, its cause or context — if any.

    SQLite's "database or disk is full" (``SQLITE_FULL``, a :class:`sqlite3.OperationalError`)
    counts too: it is returned as an ``OSError`` with ``errno.ENOSPC``.

    Examples
    --------
    >>> disk_full_cause(OSError(errno.ENOSPC, "No space left on device")).errno == errno.ENOSPC
    True
    >>> import sqlite3
    >>> disk_full_cause(sqlite3.OperationalError("database or disk is full")).errno == errno.ENOSPC
    True
    >>> disk_full_cause(ValueError("x")) is None
    True
    """
    import sqlite3

    seen = 0
    while exc is not None and seen < 16:
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
            return exc
        if isinstance(exc, sqlite3.OperationalError) and (
                getattr(exc, "sqlite_errorcode", None) == 13 or "database or disk is full" in str(exc)):  # SQLITE_FULL
            return OSError(errno.ENOSPC, "No space left on device (the service database)")
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


class ApiError(Exception):
    """A refusal by the service itself (auth, limits, state), with its HTTP status.

    Parameters
    ----------
    status : int
        HTTP status.
    code : str
        Stable machine-readable code.
    message : str
        What went wrong and how to fix it.
    field : str, optional
        The request field at fault.
    headers : dict, optional
        Extra response headers (``Retry-After``, ``WWW-Authenticate``).
    extra : dict, optional
        Extra members of the error object.
    """

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}
        self.extra = extra


#: (exception class, HTTP status, code) — the first matching row wins.
ERROR_CODES: list[tuple[type[BaseException], int, str]] = [
    (cxe.QuerySyntaxError, 400, "query_syntax"),
    (cxe.QueryMemoryError, 422, "query_too_large"),
    (cxe.QueryTooLargeError, 400, "query_too_large"),
    (cxe.QueryTimeoutError, 422, "query_timeout"),
    (cxe.QueryError, 400, "invalid_query"),
    (cxe.NullModelError, 422, "null_model"),
    (cxe.ColumnError, 400, "unknown_column"),
    (cxe.PairBudgetError, 400, "too_many_pairs"),
    (cxe.InputError, 400, "invalid_input"),
    (cxe.DatasetNotFoundError, 404, "dataset_not_found"),
    (cxe.SourceNotFoundError, 404, "not_found"),
    (cxe.SchedulerError, 503, "cluster_unavailable"),
    (cxe.DependencyError, 501, "not_available"),
]


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    """The JSON body of an error response.

    Examples
    --------
    >>> error_body("invalid_input", "limit: must be at most 1000", "limit")
    {'error': {'code': 'invalid_input', 'message': 'limit: must be at most 1000', 'field': 'limit'}}
    """
    err: dict[str, Any] = {"code": code, "message": message, "field": field}
    err.update({k: v for k, v in extra.items() if v is not None})
    return {"error": err}


def error_from_exception(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """HTTP status and JSON body for an exception of the project's tree (or :class:`ApiError`).

    The message is rendered by :func:`public_message` (written for HTTP clients, no server path,
    no network address).
    """
    if isinstance(exc, ApiError):
        return exc.status, error_body(exc.code, public_message(exc.message), exc.field, **exc.extra)
    if disk_full_cause(exc) is not None:
        return 507, error_body("disk_full", "the server's disk is full; nothing was written. Retry later (the "
                               "operator must free space)", None, retryable=True)
    for cls, status, code in ERROR_CODES:
        if isinstance(exc, cls):
            field = getattr(exc, "parameter", None)
            extra: dict[str, Any] = {}
            if isinstance(exc, cxe.QueryError) and field is None:
                field = "query"
            if isinstance(exc, cxe.QuerySyntaxError):
                extra = {"line": exc.line, "column": exc.column}
            if isinstance(exc, cxe.ColumnError):
                extra = {"value": exc.column}
                field = exc.column if field in (None, "nodes", "edges") else field
            if isinstance(exc, cxe.DatasetNotFoundError):
                field = "name"
            if isinstance(exc, cxe.PairBudgetError):
                extra = {"estimate": exc.estimate, "limit": exc.limit}
            if isinstance(exc, cxe.QueryMemoryError):
                extra = {"estimate": exc.estimate_bytes, "limit": exc.limit_bytes}
            return status, error_body(code, public_message(str(exc)), field, **extra)
    return 500, error_body("internal", "internal error; the server log has the details")


def install_handlers(app: Any) -> None:
    """Register the exception handlers on a FastAPI app."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    def respond(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        status, body = error_from_exception(exc)
        return respond(status, body, exc.headers)

    @app.exception_handler(cxe.ConnectomeError)
    async def _connectome_error(request: Request, exc: cxe.ConnectomeError) -> JSONResponse:
        status, body = error_from_exception(exc)
        if status >= 500:
            logger.error("%s %s failed: %s", request.method, request.url.path, exc, exc_info=exc)
        headers = {"Retry-After": "5"} if status == 503 else None
        return respond(status, body, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        first = errs[0] if errs else {}
        loc = [str(p) for p in first.get("loc", ())]
        where = loc[0] if loc else "body"
        field = ".".join(loc[1:]) or where
        kind = first.get("type", "")
        if kind == "json_invalid":
            return respond(400, error_body("invalid_json", f"request body is not valid JSON: {first.get('msg')}",
                                           "body"))
        msg = http_message(str(first.get("msg", "invalid value")))  # a validator may raise a library error
        more = f" (and {len(errs) - 1} more problem{'s' if len(errs) > 2 else ''})" if len(errs) > 1 else ""
        return respond(400, error_body("invalid_parameter", f"{field}: {msg}{more}", field, location=where))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large", 401: "unauthenticated",
                 403: "forbidden", 429: "too_many_requests", 503: "unavailable"}
        code = codes.get(exc.status_code, f"http_{exc.status_code}")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.method} {request.url.path}; see /openapi.json"
        return respond(exc.status_code, error_body(code, detail, None), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if disk_full_cause(exc) is not None:
            logger.error("%s %s: disk full: %s", request.method, request.url.path, exc)
            status, body = error_from_exception(exc)
            return respond(status, body, {"Retry-After": "60"})
        logger.error("%s %s failed unexpectedly", request.method, request.url.path, exc_info=exc)
        return respond(500, error_body("internal", "internal error; the server log has the details"))
