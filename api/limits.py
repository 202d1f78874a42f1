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
  It is shared fairly between tokens: a token holds at most its share of the
  threads and of the queue (``429`` beyond it), the next computation comes
  from the token with the fewest running (round-robin among equals), and
  cheap work has threads of its own.
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
import collections
import concurrent.futures
import contextvars
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectome.validate import check_int
from .errors import ApiError, error_body

logger = logging.getLogger(__name__)

__all__ = ["LimitsMiddleware", "ComputePool", "current_token", "retry_after"]


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
        as_token = current_token.set(token)  # the compute pool shares its threads by it
        try:
            await self.app(scope, guarded_receive, tracking_send)
        except (_BodyTooLarge, _BodyTimeout):
            if not started:
                await refusal()
        finally:
            current_token.reset(as_token)
            self.inflight -= 1
            if token is not None:
                left = self.per_token.get(token, 1) - 1
                if left > 0:
                    self.per_token[token] = left
                else:
                    self.per_token.pop(token, None)


#: The token of the request being handled (set by :class:`LimitsMiddleware`); :meth:`ComputePool.run` shares
#: the pool between tokens by it. ``None`` outside a request (all such work shares one share).
current_token: contextvars.ContextVar[str | None] = contextvars.ContextVar("connectome_api_token", default=None)


@dataclass(eq=False)
class _Task:
    key: Any
    fn: Callable[[], Any]
    token: str | None
    cheap: bool
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


class ComputePool:
    """A bounded thread pool for uncached computations, single flight per key, shared fairly between tokens.

    The fairness rule: a token may have at most ``threads_per_token``
    computations running and ``waiting_per_token`` running or queued (429
    ``too_many_requests`` above it, to that token only); the whole pool holds
    at most ``max_waiting`` (503 ``overloaded``). When a thread frees, the next
    computation comes from the waiting token with the fewest running, ties to
    the one served least recently (round-robin), so one token's queue never delays another token's
    request by more than the computations already running. ``cheap_threads``
    more threads run only work its route declares cheap (``cheap=True``), so
    a cheap read is never queued behind heavy work, even from several tokens.
    Joining a computation already running or queued (an identical request)
    costs no slot.

    Parameters
    ----------
    threads : int
        Computations running at once (cheap ones aside).
    max_waiting : int
        Computations running or queued; above it new ones are refused (503).
    threads_per_token : int, optional
        Computations of one token running at once (default: ``threads``).
    waiting_per_token : int, optional
        Computations of one token running or queued (default: ``max_waiting``).
    cheap_threads : int
        Threads kept for cheap work (default 0).

    Examples
    --------
    >>> import asyncio
    >>> pool = ComputePool(threads=2, max_waiting=8, threads_per_token=1, waiting_per_token=2, cheap_threads=1)
    >>> asyncio.run(pool.run("k", lambda: 6 * 7, budget_s=5, token="alice"))
    42
    >>> asyncio.run(pool.run("k2", lambda: "cheap", budget_s=5, token="bob", cheap=True))
    'cheap'
    >>> pool.close()
    """

    def __init__(self, threads: int, max_waiting: int, threads_per_token: int | None = None,
                 waiting_per_token: int | None = None, cheap_threads: int = 0) -> None:
        check_int(threads, "threads", low=1)
        check_int(max_waiting, "max_waiting", low=1)
        check_int(cheap_threads, "cheap_threads", low=0)
        self.threads = threads
        self.max_waiting = max_waiting
        self.threads_per_token = min(threads + cheap_threads, check_int(
            threads if threads_per_token is None else threads_per_token, "threads_per_token", low=1))
        self.waiting_per_token = check_int(max_waiting if waiting_per_token is None else waiting_per_token,
                                           "waiting_per_token", low=1)
        self.cheap_threads = cheap_threads
        self._executor = concurrent.futures.ThreadPoolExecutor(threads + cheap_threads,
                                                               thread_name_prefix="cx-compute")
        self._flights: dict[Any, _Task] = {}
        self._queues: dict[str | None, collections.deque[_Task]] = {}  # tokens with queued work
        self._served: dict[str | None, int] = {}  # per token with work: the turn it was last served
        self._turns = 0
        self._running: dict[str | None, int] = {}  # per token
        self._owned: dict[str | None, int] = {}  # per token: running + queued
        self._running_all = 0
        self._running_heavy = 0
        self._closed = False
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        """Computations running or queued."""
        with self._lock:
            return len(self._flights)

    def pending_of(self, token: str | None) -> int:
        """Computations of ``token`` running or queued."""
        with self._lock:
            return self._owned.get(token, 0)

    # ------------------------------------------------------------------ scheduling (under self._lock)
    def _fits(self, task: _Task) -> bool:
        if self._running_all >= self.threads + self.cheap_threads:
            return False
        return task.cheap or self._running_heavy < self.threads

    def _next(self) -> _Task | None:
        # the waiting token with the fewest running, then the one served least recently (round-robin)
        best: _Task | None = None
        rank: tuple[int, int] | None = None
        for token, queue in self._queues.items():
            mine = (self._running.get(token, 0), self._served.get(token, 0))
            if mine[0] >= self.threads_per_token or (rank is not None and mine >= rank):
                continue
            task = next((t for t in queue if self._fits(t)), None)
            if task is not None:
                best, rank = task, mine
        if best is None:
            return None
        queue = self._queues[best.token]
        queue.remove(best)
        if not queue:
            del self._queues[best.token]
        self._turns += 1
        self._served[best.token] = self._turns
        return best

    def _dispatch(self) -> list[_Task]:
        started: list[_Task] = []
        while not self._closed:
            task = self._next()
            if task is None:
                break
            self._running_all += 1
            self._running_heavy += not task.cheap
            self._running[task.token] = self._running.get(task.token, 0) + 1
            started.append(task)
        return started

    def _submit(self, started: list[_Task]) -> None:
        for task in started:
            try:
                self._executor.submit(self._work, task)
            except RuntimeError:  # closed meanwhile
                task.future.cancel()

    def _work(self, task: _Task) -> None:
        try:
            if task.future.set_running_or_notify_cancel():
                try:
                    value = task.fn()
                except BaseException as exc:
                    task.future.set_exception(exc)
                else:
                    task.future.set_result(value)
        finally:
            with self._lock:
                self._running_all -= 1
                self._running_heavy -= not task.cheap
                self._release(task, "_running")
                self._release(task, "_owned")
                if self._flights.get(task.key) is task:
                    del self._flights[task.key]
                started = self._dispatch()
            self._submit(started)

    def _release(self, task: _Task, counter: str) -> None:
        counts: dict[str | None, int] = getattr(self, counter)
        left = counts.get(task.token, 1) - 1
        if left > 0:
            counts[task.token] = left
        else:
            counts.pop(task.token, None)
            if counter == "_owned":  # nothing left: forget its turn
                self._served.pop(task.token, None)

    def _start(self, key: Any, fn: Callable[[], Any], token: str | None, cheap: bool) -> concurrent.futures.Future:
        with self._lock:
            known = self._flights.get(key)
            if known is not None:
                return known.future
            if self._closed:
                raise ApiError(503, "overloaded", "the server is shutting down; retry shortly",
                               headers=retry_after(2))
            if len(self._flights) >= self.max_waiting:
                raise ApiError(503, "overloaded",
                               f"{len(self._flights)} computations are queued; retry shortly",
                               headers=retry_after(2))
            mine = self._owned.get(token, 0)
            if mine >= self.waiting_per_token:
                raise ApiError(429, "too_many_requests",
                               f"this token already has {mine} computations running or queued (limit "
                               f"{self.waiting_per_token}, compute_queue_per_token); wait for them to finish",
                               headers=retry_after(2))
            task = _Task(key, fn, token, cheap)
            self._flights[key] = task
            self._owned[token] = mine + 1
            self._queues.setdefault(token, collections.deque()).append(task)
            started = self._dispatch()
        self._submit(started)
        return task.future

    async def run(self, key: Any, fn: Callable[[], Any], budget_s: float, *, token: str | None = None,
                  cheap: bool = False) -> Any:
        """Run ``fn()`` (or join the running computation of ``key``) for at most ``budget_s``.

        Parameters
        ----------
        key : hashable
            Identical requests have the same key and share one computation.
        fn : callable
            The computation (runs in a pool thread).
        budget_s : float
            Seconds to wait for it.
        token : str, optional
            Whose work it is (default: the token of the request being handled, :data:`current_token`).
        cheap : bool
            The route declares this work cheap (small and bounded): it may also use the cheap threads.

        Raises
        ------
        ApiError
            503 ``overloaded`` when the pool is full; 429 ``too_many_requests``
            when the token's share of the queue is full; 503 ``still_computing``
            (with ``Retry-After``) when the budget ran out first.
        """
        fut = self._start(key, fn, token if token is not None else current_token.get(), cheap)
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(fut)), budget_s)
        except asyncio.TimeoutError:
            raise ApiError(503, "still_computing",
                           f"the result was not ready within {budget_s:g} s; it is still being computed, "
                           "and its result or its final error will be kept: retry after Retry-After seconds", headers=retry_after(min(30.0, max(1.0, budget_s))),
                           ) from None

    def close(self) -> None:
        """Stop accepting work; queued computations are cancelled, running ones finish in the background."""
        with self._lock:
            self._closed = True
            queued = [t for q in self._queues.values() for t in q]
            self._queues.clear()
            for t in queued:
                self._release(t, "_owned")
                if self._flights.get(t.key) is t:
                    del self._flights[t.key]
        for t in queued:
            t.future.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
