"""Run the real service in a subprocess on 127.0.0.1 — for tests, benchmarks and notebooks.

:class:`ServiceProcess` starts ``connectome serve`` (uvicorn, a real HTTP
server) on a free loopback port with its own data root, waits until
``/v1/health`` answers, issues tokens straight into its database, and stops it
gracefully (SIGTERM) or kills it with its whole process group (SIGKILL: the
server and its Dask workers die at once, as in a crash).

Examples
--------
>>> port = free_port()
>>> 1024 < port < 65536
True
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["ServiceProcess", "free_port"]


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
    """

    def __init__(self, data_root: str | Path, *, cluster: str = "local", workers: int = 2, port: int | None = None,
                 env: dict[str, str] | None = None, log: str | Path | None = None) -> None:
        self.data_root = Path(data_root)
        self.cluster = cluster
        self.workers = workers
        self.port = port or free_port()
        self.env = {**os.environ, **(env or {})}
        self.log = Path(log) if log else self.data_root.parent / f"server-{self.port}.log"
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
               self.cluster, "--workers", str(self.workers), "--uvicorn-log-level", "warning", "--no-access-log"]
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
                pass
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
            pass

    def stop(self, timeout: float = 30.0) -> int | None:
        """Graceful stop (SIGTERM to the server), then clean up its process group."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
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
        from .service import Service
        from .settings import Settings

        svc = Service(Settings(data_root=self.data_root)).open(lock=False)
        try:
            return svc.tokens.create(user, admin=admin).token
        finally:
            svc.close()

    def service(self) -> Any:
        """An admin handle on this server's database (close it after use)."""
        from .service import Service
        from .settings import Settings

        return Service(Settings(data_root=self.data_root)).open(lock=False)

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
