"""The server in a child process on a free loopback port, as ``make serve`` runs it.

What the tests, the audit and the benchmark start: ``kennisbank serve`` with a site
folder, a database of its own, rate limiting off (unless told otherwise) and
nothing else from the environment changed.

A test harness, so it lives with the tests and not in the ``kennisbank`` package
that is deployed. Standard library only: ``audit/run.py`` and ``bench/receiver.py``
import it too, with ``tests/`` on their path.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO


class LocalServerError(RuntimeError):
    """The server exited or did not answer; the message carries what it printed."""


def children(pid: int) -> list[int]:
    """The child processes of ``pid``, whichever of its threads started them.

    ``/proc/PID/task/TID/children`` lists only the children thread TID started: the server
    starts its outbox worker from a thread of its own, so every thread is read."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            pass  # a thread that ended meanwhile
    return sorted(found)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalServer:
    def __init__(self, site_dir: Path, database: Path, *, output: IO | int = subprocess.PIPE, **env: str):
        self.environment = {
            **os.environ,
            "HOST": "127.0.0.1",
            "SITE_DIR": str(site_dir),
            "DATABASE_URL": f"sqlite:///{database}",
            "RATE_LIMIT": "off",
            **env,
        }
        self.output = output
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 60) -> str:
        """Start it and wait until it answers; its base URL."""
        port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kennisbank.cli", "serve"],
            env={**self.environment, "PORT": str(port)},
            stdout=self.output,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                printed = self.process.stdout.read() if self.process.stdout else "(see its log)"
                raise LocalServerError(f"kennisbank serve exited with {self.process.returncode}:\n{printed}")
            try:
                urllib.request.urlopen(self.url + "/", timeout=1).close()
                return self.url
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise LocalServerError(f"kennisbank serve did not answer within {timeout:.0f} s")

    def kill(self) -> None:
        """SIGKILL: no chance to clean up (durability tests)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
