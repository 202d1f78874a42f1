"""Helpers for tests (not fixtures)."""

from __future__ import annotations

import os
import subprocess
import sys
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
