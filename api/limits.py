"""Limits that keep a shared server up: body size, requests in flight, compute queue.

- :class:`LimitsMiddleware` (pure ASGI) answers ``413`` to bodies above
  ``max_body_bytes`` (by ``Content-Length`` or while streaming) and ``503`` with
  ``Retry-After`` when more than ``max_inflight`` requests are being handled.
- :class:`ComputePool` runs uncached computations on a bounded thread pool:
  identical requests share one computation, a full queue answers ``503`` with
  ``Retry-After``, and a request whose time budget runs out answers ``503``
  (``still_computing``) while the computation goes on and lands in the cache.
- The bound on concurrent jobs per token lives in :mod:`api.jobs` (``429``).

Examples
--------
>>> import asyncio
>>> pool = ComputePool(threads=1, max_waiting=2)
>>> asyncio.run(pool.run("k", lambda: 6 * 7, budget_s=5))
42
>>> pool.close()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from .errors import ApiError, error_body

logger = logging.getLogger(__name__)

__all__ = ["LimitsMiddleware", "ComputePool", "retry_after"]


def retry_after(seconds: float) -> dict[str, str]:
    """A ``Retry-After`` header (whole seconds, at least 1).

    Examples
    --------
    >>> retry_after(0.2)
    {'Retry-After': '1'}
    """
    return {"Retry-After": str(max(1, int(round(seconds))))}


class _BodyTooLarge(Exception):
    pass


class LimitsMiddleware:
    """ASGI middleware: request body size and requests in flight.

    Parameters
    ----------
    app : ASGI app
    max_body_bytes : int
        Largest request body (413 ``body_too_large`` above it).
    max_inflight : int
        Requests handled at once (503 ``overloaded`` with ``Retry-After`` above it).
    """

    def __init__(self, app: Any, max_body_bytes: int, max_inflight: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_inflight = max_inflight
        self.inflight = 0

    @staticmethod
    async def _send_json(send: Any, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
        hdrs += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": hdrs})
        await send({"type": "http.response.body", "body": raw})

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.inflight >= self.max_inflight:
            await self._send_json(send, 503, error_body(
                "overloaded", f"the server is handling {self.inflight} requests; retry shortly"), retry_after(1))
            return
        length = None
        for k, v in scope.get("headers", ()):
            if k == b"content-length":
                try:
                    length = int(v)
                except ValueError:
                    await self._send_json(send, 400, error_body("invalid_header", "Content-Length is not an integer",
                                                                "Content-Length"))
                    return
        limit = self.max_body_bytes
        if length is not None and length > limit:
            await self._send_json(send, 413, error_body(
                "body_too_large", f"request body of {length} bytes is larger than the limit of {limit} bytes",
                "body"))
            return

        received = 0
        started = False
        too_large = False

        async def counting_receive() -> dict:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge()
            return message

        async def too_large_response() -> None:
            await self._send_json(send, 413, error_body(
                "body_too_large", f"request body is larger than the limit of {limit} bytes", "body"))

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if too_large:  # the app turned our interruption into its own error: answer 413 instead
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await too_large_response()
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        self.inflight += 1
        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await too_large_response()
        finally:
            self.inflight -= 1


class ComputePool:
    """A bounded thread pool for uncached computations, with single flight per key.

    Parameters
    ----------
    threads : int
        Computations running at once.
    max_waiting : int
        Computations running or queued; above it new ones are refused (503).
    """

    def __init__(self, threads: int, max_waiting: int) -> None:
        self.threads = threads
        self.max_waiting = max_waiting
        self._executor = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="cx-compute")
        self._flights: dict[Any, concurrent.futures.Future] = {}
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        """Computations running or queued."""
        with self._lock:
            return len(self._flights)

    def _start(self, key: Any, fn: Callable[[], Any]) -> concurrent.futures.Future:
        with self._lock:
            fut = self._flights.get(key)
            if fut is not None:
                return fut
            if len(self._flights) >= self.max_waiting:
                raise ApiError(503, "overloaded",
                               f"{len(self._flights)} computations are queued; retry shortly",
                               headers=retry_after(2))
            fut = self._executor.submit(fn)
            self._flights[key] = fut

        def done(_: concurrent.futures.Future) -> None:
            with self._lock:
                if self._flights.get(key) is fut:
                    del self._flights[key]

        fut.add_done_callback(done)
        return fut

    async def run(self, key: Any, fn: Callable[[], Any], budget_s: float) -> Any:
        """Run ``fn()`` (or join the running computation of ``key``) for at most ``budget_s``.

        Raises
        ------
        ApiError
            503 ``overloaded`` when the queue is full; 503 ``still_computing``
            (with ``Retry-After``) when the budget ran out first.
        """
        fut = self._start(key, fn)
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(fut)), budget_s)
        except asyncio.TimeoutError:
            raise ApiError(503, "still_computing",
                           f"the result was not ready within {budget_s:g} s; it is still being computed "
                           "and will be cached: retry later", headers=retry_after(min(30.0, max(1.0, budget_s))),
                           ) from None

    def close(self) -> None:
        """Stop accepting work; running computations finish in the background."""
        self._executor.shutdown(wait=False, cancel_futures=True)
