"""Run the real service in a subprocess on 127.0.0.1 — for tests, benchmarks and notebooks.

:class:`ServiceProcess` starts ``connectome serve`` (uvicorn, a real HTTP
server) on a free loopback port with its own data root, waits until
``/v1/health`` answers, issues tokens straight into its database, and stops it
gracefully (SIGTERM) or kills it with its whole process group (SIGKILL: the
server and its Dask workers die at once, as in a crash).

:func:`run_load` drives a server with many concurrent HTTP clients (asyncio +
httpx, one connection each, loopback only) for a bounded number of requests and
time, and reports latency percentiles, throughput and errors.

Examples
--------
>>> port = free_port()
>>> 1024 < port < 65536
True
>>> r = LoadResult(latencies_s=[0.001, 0.002, 0.003, 0.004], errors=0, statuses={200: 4}, wall_s=0.01, clients=2)
>>> round(r.p50_ms, 2), r.requests, round(r.rps)
(2.5, 4, 400)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .service import Service
from .settings import Settings

__all__ = ["ServiceProcess", "free_port", "LoadResult", "run_load", "wait_job", "TERMINAL"]

#: Job states a job never leaves.
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


def wait_job(client: Any, job_id: str, until: Any = TERMINAL, timeout: float = 180.0) -> dict:
    """Poll ``/v1/jobs/{job_id}`` with an httpx client until its state is in ``until``; the last record.

    Raises ``AssertionError`` (with the last record) when ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    j: dict = {}
    while time.monotonic() < deadline:
        j = client.get(f"/v1/jobs/{job_id}").json()
        if j["state"] in until:
            return j
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not in {set(until)} after {timeout} s: {j}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """``connectome serve`` in a subprocess (its own process group).

    Parameters
    ----------
    data_root : path
        The service's data root.
    cluster : str
        ``local`` (LocalCluster with process workers), ``threads`` or an address.
    workers : int
        LocalCluster workers.
    env : dict, optional
        Extra environment (``CONNECTOME_API_*`` limits, ``CONNECTOME_HOME``).
    log : path, optional
        Where the server's output goes (default ``<data_root>/../server-<port>.log``).
    verbose : bool
        Log every request (uvicorn's access log) and the service's INFO messages.
    args : sequence of str
        More ``connectome serve`` flags (e.g. ``["--init"]`` or ``["--dashboard"]``).
    """

    def __init__(self, data_root: str | Path, *, cluster: str = "local", workers: int = 2, port: int | None = None,
                 env: dict[str, str] | None = None, log: str | Path | None = None, verbose: bool = False,
                 args: Sequence[str] = ()) -> None:
        self.data_root = Path(data_root)
        self.cluster = cluster
        self.workers = workers
        self.port = port or free_port()
        self.env = {**os.environ, **(env or {})}
        self.log = Path(log) if log else self.data_root.parent / f"server-{self.port}.log"
        self.verbose = verbose
        self.args = list(args)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> ServiceProcess:
        """Start the server and wait until ``/v1/health`` says ``ok``."""
        import httpx

        exe = Path(sys.executable).with_name("connectome")
        cmd = [str(exe), "serve", "--port", str(self.port), "--data-root", str(self.data_root), "--cluster",
               self.cluster, "--workers", str(self.workers)]
        if self.verbose:  # every request logged, and the service's own INFO messages
            cmd = [str(exe), "--log-level", "INFO", *cmd[1:], "--uvicorn-log-level", "info"]
        else:
            cmd += ["--uvicorn-log-level", "warning", "--no-access-log"]
        cmd += self.args
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            try:
                r = httpx.get(self.url + "/v1/health", timeout=2.0)
                if r.status_code == 200 and r.json().get("status") == "ok":
                    return self
            except httpx.HTTPError:
                pass  # not listening yet: poll again until the deadline (then the error says why)
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"server did not become healthy within {timeout} s:\n{self.log_text()[-3000:]}")

    def log_text(self) -> str:
        """The server's output so far."""
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def _signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass  # the group is already gone: nothing left to signal

    def stop(self, timeout: float = 30.0) -> int | None:
        """Graceful stop (SIGTERM to the server), then clean up its process group."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass  # no graceful exit in time: the SIGKILL below ends it
        self._signal_group(signal.SIGKILL)  # workers left behind, if any
        self.proc.wait(10)
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        """Kill the server and its workers at once (SIGKILL to the process group), as a crash would."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def token(self, user: str, *, admin: bool = False) -> str:
        """Issue a token for ``user`` in this server's database (works while it runs)."""
        svc = Service(Settings(data_root=self.data_root)).open(lock=False)
        try:
            return svc.tokens.create(user, admin=admin).token
        finally:
            svc.close()

    def service(self) -> Any:
        """An admin handle on this server's database (close it after use)."""
        return Service(Settings(data_root=self.data_root)).open(lock=False)

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@dataclass
class LoadResult:
    """What a load run measured (latencies of successful and failed requests alike)."""

    latencies_s: list[float]
    errors: int
    statuses: dict[int, int]
    wall_s: float
    clients: int
    samples: list[str] = field(default_factory=list)
    missing_retry_after: int = 0  # 429/503 answers without a Retry-After header

    @property
    def requests(self) -> int:
        return len(self.latencies_s)

    def percentile_ms(self, q: float) -> float:
        """Latency percentile ``q`` (0-100) in milliseconds (linear interpolation)."""
        import numpy as np

        return float(np.percentile(np.asarray(self.latencies_s) * 1000.0, q)) if self.latencies_s else float("nan")

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(50)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)

    @property
    def rps(self) -> float:
        return self.requests / self.wall_s if self.wall_s > 0 else float("nan")

    def summary(self) -> str:
        return (f"{self.requests} requests from {self.clients} clients in {self.wall_s:.2f} s: "
                f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, {self.rps:.0f} req/s, {self.errors} errors")


def run_load(base_url: str, token: str, requests: Sequence[tuple[str, str, Any]], *, clients: int = 50,
             total: int = 2000, max_seconds: float = 60.0, timeout: float = 30.0) -> LoadResult:
    """``clients`` concurrent HTTP clients send ``total`` requests (cycling through ``requests``).

    Parameters
    ----------
    base_url : str
        A loopback URL (``http://127.0.0.1:PORT``); other hosts are refused.
    token : str
        Bearer token.
    requests : list of (method, path, json body or None)
        What to send, in turn.
    clients : int
        Concurrent clients, each with its own connection.
    total : int
        Requests in all (bounded).
    max_seconds : float
        Stop sending after this long (bounded in time).

    Returns
    -------
    LoadResult
        An error is a response that is not 2xx, or a failed request.
    """
    import asyncio
    import urllib.parse

    import httpx

    host = urllib.parse.urlsplit(base_url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"base_url: load runs only against loopback, not {host!r}")
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    samples: list[str] = []
    errors = 0
    missing_retry_after = 0
    counter = iter(range(total))

    async def client(i: int, c: Any, deadline: float) -> None:
        nonlocal errors, missing_retry_after
        for n in counter:
            if time.monotonic() > deadline:
                break
            method, path, body = requests[(n + i) % len(requests)]
            t0 = time.perf_counter()
            try:
                r = await c.request(method, path, json=body)
                code = r.status_code
            except httpx.HTTPError as exc:
                code = 0
                if len(samples) < 5:
                    samples.append(f"{method} {path}: {type(exc).__name__}: {exc}")
            latencies.append(time.perf_counter() - t0)
            statuses[code] = statuses.get(code, 0) + 1
            if code in (429, 503) and "retry-after" not in r.headers:
                missing_retry_after += 1
            if not 200 <= code < 300:
                errors += 1
                if code and len(samples) < 5:
                    samples.append(f"{method} {path}: {code} {r.text[:200]}")

    async def main() -> float:
        headers = {"Authorization": f"Bearer {token}"}
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        # clients are made before the clock starts (making one costs milliseconds of CPU)
        pool = [httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout, limits=limits, verify=False)
                for _ in range(clients)]
        try:
            t0 = time.monotonic()
            deadline = t0 + max_seconds
            await asyncio.gather(*(client(i, c, deadline) for i, c in enumerate(pool)))
            return time.monotonic() - t0
        finally:
            for c in pool:
                await c.aclose()

    wall = asyncio.run(main())
    return LoadResult(latencies, errors, statuses, wall, clients, samples, missing_retry_after)
