"""Helpers for tests (not fixtures)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: int = 300):
    """Run the installed `connectome` command in a subprocess."""
    exe = Path(sys.executable).with_name("connectome")
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=timeout)


def run_python(code_or_file: str, *args: str, env: dict | None = None, timeout: int = 300,
               cwd: Path | None = None):
    """Run a Python file (or -c code) with this interpreter."""
    full_env = {**os.environ, **(env or {})}
    cmd = [sys.executable, code_or_file, *args] if code_or_file.endswith(".py") else [
        sys.executable, "-c", code_or_file, *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout, cwd=cwd)


def api_client(server, user: str = "alice", timeout: float = 120):
    """An httpx client of ``server`` (a ``ServiceProcess``) at ``/v1``, with ``user``'s token."""
    import httpx

    return httpx.Client(base_url=server.url + "/v1", headers={"Authorization": f"Bearer {server.token(user)}"},
                        timeout=timeout)


class InProcessServer:
    """The service app under uvicorn on 127.0.0.1, in a thread of this process (so a test can replace a call).

    ``with InProcessServer(settings) as srv:`` starts it and waits until it listens; ``srv.client(token)``
    is an httpx client with that bearer token.
    """

    def __init__(self, settings, join_s: float = 60) -> None:
        import uvicorn

        from connectome.api.app import create_app
        from connectome.api.testing import free_port

        self.port = free_port()
        self.app = create_app(settings)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.join_s = join_s

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def service(self):
        return self.app.state.service

    def client(self, token: str, timeout: float = 120):
        import httpx

        return httpx.Client(base_url=self.url, timeout=timeout, headers={"Authorization": f"Bearer {token}"})

    def __enter__(self) -> InProcessServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(self.join_s)
