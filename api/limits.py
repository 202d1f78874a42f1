"""Limits that keep a shared server up: body size, requests in flight, compute queue.

- :class:`LimitsMiddleware` (pure ASGI) answers ``413`` to bodies above
  ``max_body_bytes`` (by ``Content-Length`` or while streaming), ``408`` to a
  body that takes longer than ``body_timeout_s`` to arrive, ``429`` with
  ``Retry-After`` to a token with more than ``max_inflight_per_token``
  requests in flight, and ``503`` with ``Retry-After`` when more than
  ``max_inflight`` requests are being handled.
- :mod:`connectome.api.http_timeouts` closes connections whose headers do not arrive in time.
- :class:`ComputePool` runs uncached computations on a bounded thread pool:
  identical requests share one computation, a full queue answers ``503`` with
  ``Retry-After``, and a request whose time budget runs out answers ``503``
  (``still_computing``) while the computation goes on and lands in the cache.
- The bound on concurrent jobs per token lives in :mod:`connectome.api.jobs` (``429``).

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


class _BodyTimeout(Exception):
    pass


class LimitsMiddleware:
    """ASGI middleware: request body size and read time, requests in flight (in all and per token).

    It runs inside :class:`connectome.api.deps.AuthMiddleware`, so it knows the caller:
    one token's requests beyond ``max_inflight_per_token`` are refused at once
    (429), and never use up the capacity others need. A body must arrive
    within ``body_timeout_s`` (408 otherwise), so slow senders free their
    slot.

    Parameters
    ----------
    app : ASGI app
    max_body_bytes : int
        Largest request body (413 ``body_too_large`` above it).
    max_inflight : int
        Requests handled at once (503 ``overloaded`` with ``Retry-After`` above it).
    max_inflight_per_token : int, optional
        Requests of one token handled at once (429 ``too_many_requests`` with
        ``Retry-After`` above it). Default: no bound of its own.
    body_timeout_s : float, optional
        Seconds a request body may take to arrive, from the first read
        (408 ``body_timeout``). Default: no bound.
    """

    def __init__(self, app: Any, max_body_bytes: int, max_inflight: int, max_inflight_per_token: int | None = None,
                 body_timeout_s: float | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_inflight = max_inflight
        self.max_inflight_per_token = max_inflight_per_token
        self.body_timeout_s = body_timeout_s
        self.inflight = 0
        self.per_token: dict[str, int] = {}

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
        principal = scope.get("state", {}).get("principal")
        token = getattr(principal, "token_id", None)
        if token is not None and self.max_inflight_per_token is not None and \
                self.per_token.get(token, 0) >= self.max_inflight_per_token:
            await self._send_json(send, 429, error_body(
                "too_many_requests", f"this token already has {self.per_token[token]} requests in flight (limit "
                f"{self.max_inflight_per_token}); wait for them to finish"), retry_after(1))
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
        refused: str | None = None  # "size" or "time" once we interrupted the app's read
        body_done = False
        deadline: float | None = None
        loop = asyncio.get_running_loop()

        async def guarded_receive() -> dict:
            nonlocal received, refused, body_done, deadline
            if body_done or self.body_timeout_s is None:
                message = await receive()
            else:
                if deadline is None:
                    deadline = loop.time() + self.body_timeout_s
                try:
                    message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
                except asyncio.TimeoutError:
                    refused = "time"
                    raise _BodyTimeout() from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if received > limit:
                    refused = "size"
                    raise _BodyTooLarge()
            return message

        async def refusal() -> None:
            if refused == "time":
                await self._send_json(send, 408, error_body(
                    "body_timeout", f"the request body did not arrive within {self.body_timeout_s:g} s", "body"),
                    {"Connection": "close"})
            else:
                await self._send_json(send, 413, error_body(
                    "body_too_large", f"request body is larger than the limit of {limit} bytes", "body"))

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if refused:  # the app turned our interruption into its own error: answer ours instead
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await refusal()
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        self.inflight += 1
        if token is not None:
            self.per_token[token] = self.per_token.get(token, 0) + 1
        try:
            await self.app(scope, guarded_receive, tracking_send)
        except (_BodyTooLarge, _BodyTimeout):
            if not started:
                await refusal()
        finally:
            self.inflight -= 1
            if token is not None:
                left = self.per_token.get(token, 1) - 1
                if left > 0:
                    self.per_token[token] = left
                else:
                    self.per_token.pop(token, None)


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
                           f"the result was not ready within {budget_s:g} s; it is still being computed, "
                           "and its result or its final error will be kept: retry after Retry-After seconds", headers=retry_after(min(30.0, max(1.0, budget_s))),
                           ) from None

    def close(self) -> None:
        """Stop accepting work; running computations finish in the background."""
        self._executor.shutdown(wait=False, cancel_futures=True)
