"""A header read timeout for uvicorn: connections that never finish their request headers are closed.

uvicorn bounds idle keep-alive connections but not a client that sends its
request line and headers one byte at a time (slowloris). Such connections never
reach the application, so no middleware can see them. :func:`protocol_class`
wraps uvicorn's HTTP protocol (httptools, else h11): from the moment a
connection opens, or a new request starts arriving on a kept-alive one, its
headers must be complete within ``header_timeout_s``; otherwise the server
answers ``408`` and closes the connection. The body has its own bound in
:class:`connectome.api.limits.LimitsMiddleware`.

Examples
--------
>>> cls = protocol_class(10.0)
>>> cls.__name__.startswith("HeaderTimeout"), cls.header_timeout_s
(True, 10.0)
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["protocol_class"]

_408 = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
        b"content-length: %d\r\n\r\n%s")
_BODY = (b'{"error":{"code":"header_timeout","message":"the request headers did not arrive in time",'
         b'"field":null}}')


def _base() -> type:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools not installed
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol


def protocol_class(header_timeout_s: float) -> type:
    """uvicorn's HTTP protocol with a header read timeout of ``header_timeout_s`` seconds."""
    base = _base()

    class HeaderTimeoutProtocol(base):  # type: ignore[valid-type, misc]
        _cx_timer: Any = None

        def _cx_waiting_for_headers(self) -> bool:
            cycle = getattr(self, "cycle", None)
            return cycle is None or cycle.response_complete

        def _cx_arm(self) -> None:
            if self._cx_timer is None:
                self._cx_timer = self.loop.call_later(header_timeout_s, self._cx_expired)

        def _cx_disarm(self) -> None:
            if self._cx_timer is not None:
                self._cx_timer.cancel()
                self._cx_timer = None

        def _cx_expired(self) -> None:
            self._cx_timer = None
            if self._cx_waiting_for_headers() and not self.transport.is_closing():
                client = "%s:%d" % self.client if getattr(self, "client", None) else "a client"
                logger.warning("closing the connection of %s: request headers not complete within %g s", client,
                               header_timeout_s)
                self.transport.write(_408 % (len(_BODY), _BODY))
                self.transport.close()

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._cx_arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._cx_waiting_for_headers():
                self._cx_arm()
            else:
                self._cx_disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cx_disarm()
            super().connection_lost(exc)

    HeaderTimeoutProtocol.__name__ = f"HeaderTimeout{base.__name__}"
    HeaderTimeoutProtocol.header_timeout_s = header_timeout_s  # type: ignore[attr-defined]
    return HeaderTimeoutProtocol
