"""Logs that never carry secrets: query-string credentials are redacted from access-log lines.

Tokens are accepted only in the ``Authorization`` header, but a client may
still put one in a URL (``?token=…``); uvicorn's access log would then keep
it. :func:`install_log_redaction` adds a filter to the access logger that
replaces the values of credential-like query parameters with ``REDACTED``.

Examples
--------
>>> redact_query("/v1/datasets?token=cx_secret&limit=5")
'/v1/datasets?token=REDACTED&limit=5'
>>> redact_query("/v1/jobs?access_token=abc&api_key=k&x=1")
'/v1/jobs?access_token=REDACTED&api_key=REDACTED&x=1'
>>> redact_query("/v1/health")
'/v1/health'
"""

from __future__ import annotations

import logging
import re

__all__ = ["redact_query", "install_log_redaction", "RedactFilter"]

_SECRET = re.compile(r"(?i)([?&;](?:[a-z_]*token|api[_-]?key|key|auth[a-z_]*|password|secret|sig[a-z]*)=)[^&;#\s]*")
_TOKEN = re.compile(r"\bcx_[A-Za-z0-9_-]{8,}")


def redact_query(text: str) -> str:
    """``text`` with credential-like query values (and bare ``cx_`` tokens) replaced by ``REDACTED``."""
    return _TOKEN.sub("cx_REDACTED", _SECRET.sub(r"\1REDACTED", text))


class RedactFilter(logging.Filter):
    """A logging filter that redacts secrets from the message and its string arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_query(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_query(record.msg)
        return True


def install_log_redaction(names: tuple[str, ...] = ("uvicorn.access", "uvicorn.error")) -> None:
    """Add :class:`RedactFilter` to the server's loggers and their handlers (once)."""
    for name in names:
        log = logging.getLogger(name)
        targets = [log, *log.handlers]
        for t in targets:
            if not any(isinstance(f, RedactFilter) for f in t.filters):
                t.addFilter(RedactFilter())
