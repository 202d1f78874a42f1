"""Where Dask work runs: synchronous, threads, a LocalCluster, or a scheduler address.

The scheduler is chosen, in order, by the ``scheduler=`` argument of a call,
by :func:`use_scheduler` / :func:`set_scheduler`, by the environment variable
``CONNECTOME_SCHEDULER``, and otherwise is ``"threads"``. Accepted values:

``"sync"``
    Dask's synchronous scheduler (one thread; easiest to debug).
``"threads"``
    Dask's threaded scheduler (the default).
``"local"``
    A ``dask.distributed.LocalCluster`` with process workers, started once per
    Python process on first use (``CONNECTOME_WORKERS`` workers, default 2).
``"tcp://host:port"``
    An existing distributed scheduler.
a ``distributed.Client`` or ``LocalCluster``
    Used as given.

Examples
--------
>>> import dask
>>> with use_scheduler("sync"):
...     compute(dask.delayed(sum)([1, 2]))
(3,)
"""

from __future__ import annotations

import atexit
import contextvars
import logging
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import DependencyError, InputError, SchedulerError

logger = logging.getLogger(__name__)

__all__ = ["use_scheduler", "set_scheduler", "get_scheduler", "compute", "local_cluster", "scheduler_name",
           "owned_cluster", "close_client",
           "close_clients", "share"]

ENV = "CONNECTOME_SCHEDULER"
_current: contextvars.ContextVar[Any] = contextvars.ContextVar("connectome_scheduler", default=None)
_global: list[Any] = [None]
_clients: dict[str, Any] = {}
_lock = threading.Lock()
#: LocalClusters started by :func:`local_cluster`, by their client (see :func:`owned_cluster`).
_owned: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

_NAMED = {"sync": "sync", "synchronous": "sync", "single-threaded": "sync",
          "threads": "threads", "threading": "threads"}


def set_scheduler(spec: Any) -> None:
    """Set the process-wide default scheduler (``None`` resets it).

    Examples
    --------
    >>> set_scheduler("sync"); scheduler_name()
    'sync'
    >>> set_scheduler(None)
    """
    if spec is not None:
        _validate(spec)
    _global[0] = spec


@contextmanager
def use_scheduler(spec: Any) -> Iterator[None]:
    """Use ``spec`` as the scheduler inside a ``with`` block."""
    _validate(spec)
    token = _current.set(spec)
    try:
        yield
    finally:
        _current.reset(token)


def _validate(spec: Any) -> None:
    if isinstance(spec, str):
        s = spec.strip().lower()
        if s in _NAMED or s == "local" or "://" in s or ":" in s:
            return
        raise InputError(
            f"scheduler: unknown value {spec!r}; use 'sync', 'threads', 'local' or an address "
            "such as 'tcp://127.0.0.1:8786'",
            "scheduler",
        )
    if _is_client(spec) or _is_cluster(spec):
        return
    raise InputError(
        f"scheduler: expected a name, an address, a distributed Client or LocalCluster, not {type(spec).__name__}",
        "scheduler",
    )


def _is_client(obj: Any) -> bool:
    return type(obj).__name__ == "Client" and hasattr(obj, "get") and hasattr(obj, "scheduler_info")


def _is_cluster(obj: Any) -> bool:
    return hasattr(obj, "scheduler_address") and hasattr(obj, "workers")


def _spec(spec: Any = None) -> Any:
    if spec is not None:
        return spec
    cur = _current.get()
    if cur is not None:
        return cur
    if _global[0] is not None:
        return _global[0]
    env = os.environ.get(ENV, "").strip()
    return env or "threads"


def scheduler_name(spec: Any = None) -> str:
    """A short description of the scheduler that would be used.

    Examples
    --------
    >>> scheduler_name("threads")
    'threads'
    """
    s = _spec(spec)
    if isinstance(s, str):
        return _NAMED.get(s.strip().lower(), s)
    if _is_client(s):
        return f"distributed:{s.scheduler.address}"
    return f"distributed:{s.scheduler_address}"


def _probe(address: str, timeout: float = 3.0) -> None:
    """Fail fast, with a clear message, when nothing listens at a tcp:// address."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address)
    if parts.scheme != "tcp" or not parts.hostname or not parts.port:
        return  # other protocols: let distributed decide
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout):
            pass
    except OSError as exc:
        raise SchedulerError(
            f"scheduler: cannot reach the Dask scheduler at {address!r} ({exc.strerror or exc}); start it, "
            f"fix the address, or unset {ENV}"
        ) from None


def _connect(address: str) -> Any:
    from distributed import Client

    with _lock:
        client = _clients.get(address)
        if client is not None and client.status == "running":
            return client
        _probe(address)
        try:
            client = Client(address, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise SchedulerError(
                f"scheduler: cannot reach the Dask scheduler at {address!r} ({exc}); start it, "
                f"fix the address, or unset {ENV}"
            ) from None
        _clients[address] = client
        return client


def _security(security: Any) -> Any:
    """A ``distributed.security.Security`` (or ``None``) from ``security``.

    ``True`` makes a temporary one (a self-signed certificate in memory,
    which needs the ``cryptography`` package); ``None``/``False`` means none;
    anything else is used as given.
    """
    if security is None or security is False:
        return None
    if security is True:
        try:
            from distributed.security import Security

            return Security.temporary()
        except ImportError as exc:
            raise DependencyError(f"security: a TLS-secured LocalCluster needs the 'cryptography' package ({exc}); "
                                  "install it (pip install cryptography) or pass security=None") from None
    return security


class _NoWorkerHttp:
    """A worker plugin that closes the worker's HTTP listener (its status pages and metrics).

    Registered on the scheduler, it runs on every worker, including workers
    started later (a restarted worker gets it too). The ``WorkerPlugin``
    subclass, :class:`NoWorkerHttp`, is made on first use (module
    ``__getattr__``), so importing this module imports no ``distributed``.
    """

    name = "connectome-no-worker-http"
    idempotent = True

    def setup(self, worker: Any) -> None:
        server = getattr(worker, "http_server", None)
        if server is not None:
            server.stop()


def __getattr__(name: str) -> Any:
    if name == "NoWorkerHttp":
        from distributed.diagnostics.plugin import WorkerPlugin

        cls = type("NoWorkerHttp", (_NoWorkerHttp, WorkerPlugin), {"__module__": __name__})
        globals()["NoWorkerHttp"] = cls  # found by reference when workers unpickle it
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def local_cluster(n_workers: int | None = None, threads_per_worker: int = 1, *, security: Any = None,
                  dashboard: bool | str = False, **kwargs: Any) -> Any:
    """Start a ``LocalCluster`` with process workers and return a Client to it.

    Call it under ``if __name__ == "__main__":`` in scripts: process workers
    re-import the main module. Close it with ``client.close(); cluster.close()``
    or use it as a context manager (``with local_cluster() as client: ...``).

    Parameters
    ----------
    n_workers : int, optional
        Process workers (default ``CONNECTOME_WORKERS`` or 2).
    threads_per_worker : int
        Threads of each worker.
    security : bool or distributed.security.Security, optional
        ``True``: the scheduler, the workers and the returned client speak TLS
        with a temporary certificate held in memory, so nobody else on the
        machine can connect (needs ``cryptography``; the HTTP service always
        does this). ``None`` (default) or ``False``: plain TCP, reachable by
        every local user, who can then run code in this cluster's processes,
        and by a second process of yours that knows only the address. A
        ``Security``: used as given. The client's ``security`` attribute holds
        what a second client must pass to connect.
    dashboard : bool or str
        ``False`` (default): no HTTP listener at all (Dask otherwise serves
        status pages on 127.0.0.1:8787 even with ``dashboard_address=None``).
        ``True``: Dask's pages on ``127.0.0.1:8787``; a string: on that address.
    **kwargs
        Passed to ``LocalCluster``.
    """
    import dask
    from distributed import Client, LocalCluster

    n = n_workers or int(os.environ.get("CONNECTOME_WORKERS", "2"))
    sec = _security(security)
    if sec is not None:
        kwargs["security"] = sec
        kwargs.setdefault("host", "127.0.0.1")
    if dashboard:
        address = dashboard if isinstance(dashboard, str) else "127.0.0.1:8787"
        config: dict[str, Any] = {}
    else:  # no routes, on a free loopback port (never 8787), and the listener is closed once started
        address = "127.0.0.1:0"
        kwargs["scheduler_kwargs"] = {**kwargs.get("scheduler_kwargs", {}), "dashboard": False}
        config = {"distributed.scheduler.http.routes": [], "distributed.worker.http.routes": []}
    try:
        with dask.config.set(config):
            cluster = LocalCluster(n_workers=n, threads_per_worker=threads_per_worker, processes=True,
                                   dashboard_address=address, **kwargs)
    except Exception as exc:  # Nanny failures surface as various exception types
        raise SchedulerError(
            f"could not start a LocalCluster with {n} process workers ({exc}). In a script, "
            "start it under `if __name__ == '__main__':`"
        ) from exc
    client = Client(cluster, set_as_default=False, security=sec)
    _owned[client] = cluster  # closed with the client (close_client)
    if not dashboard:
        _close_http(cluster, client)
    return client


def _close_http(cluster: Any, client: Any) -> None:
    """Close the HTTP listeners Dask starts even without a dashboard (scheduler and workers)."""

    async def stop_scheduler_http() -> None:
        server = getattr(cluster.scheduler, "http_server", None)
        if server is not None:
            server.stop()

    try:
        cluster.sync(stop_scheduler_http)
        client.register_plugin((globals().get("NoWorkerHttp") or __getattr__("NoWorkerHttp"))())
    except Exception as exc:  # pragma: no cover - the routes are empty anyway
        logger.warning("could not close Dask's HTTP listeners: %s", exc)


def _shared_local() -> Any:
    with _lock:
        client = _clients.get("local")
        if client is not None and client.status == "running":
            return client
    client = local_cluster()
    with _lock:
        _clients["local"] = client
    return client


def get_scheduler(spec: Any = None) -> Any:
    """Resolve ``spec`` to something ``dask.compute(scheduler=...)`` accepts."""
    s = _spec(spec)
    _validate(s)
    if isinstance(s, str):
        low = s.strip().lower()
        if low in _NAMED:
            return _NAMED[low]
        if low == "local":
            return _shared_local()
        address = s.strip() if "://" in s else f"tcp://{s.strip()}"
        return _connect(address)
    if _is_cluster(s):
        return _connect(s.scheduler_address)
    return s


def share(obj: Any, sched: Any) -> Any:
    """A handle that passes ``obj`` to many tasks: scattered once to every worker on a
    distributed scheduler (``sched`` from :func:`get_scheduler`), a delayed value otherwise.

    Examples
    --------
    >>> import dask
    >>> h = share([1, 2, 3], "sync")
    >>> dask.compute(dask.delayed(sum)(h), scheduler="sync")
    (6,)
    """
    import dask

    if isinstance(sched, str):
        return dask.delayed(obj, pure=True)
    return sched.scatter(obj, broadcast=True, hash=False)


def is_distributed(spec: Any = None) -> bool:
    """True when work would go to a distributed scheduler."""
    s = get_scheduler(spec)
    return not isinstance(s, str)


def compute(*collections: Any, scheduler: Any = None) -> tuple:
    """``dask.compute`` on the chosen scheduler."""
    import dask

    sched = get_scheduler(scheduler)
    return dask.compute(*collections, scheduler=sched)


def owned_cluster(client: Any) -> Any:
    """The LocalCluster that :func:`local_cluster` started for ``client`` (``None`` for any other client)."""
    return _owned.get(client)


def close_client(client: Any) -> None:
    """Close ``client`` and, when :func:`local_cluster` started it, its LocalCluster."""
    cluster = _owned.pop(client, None)
    client.close()
    if cluster is not None:
        cluster.close()


@atexit.register
def close_clients() -> None:
    """Close the clients (and LocalClusters) this module opened; called at exit."""
    for client in list(_clients.values()):
        try:
            close_client(client)
        except Exception as exc:  # at exit: report, and go on closing the others
            logger.debug("closing a Dask client at exit failed: %s", exc)
    _clients.clear()
