"""Child processes of the demo runner: each in its own process group, logged to a file, stopped without orphans.

Every child gets its own session (so Ctrl-C in the terminal reaches only the runner, which then stops the children
in order) and, on Linux, a parent-death signal, so even a runner killed with SIGKILL leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _parent_death_signal() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name, use_errno=True)

    def _set() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return _set


_PREEXEC = _parent_death_signal()


@dataclass
class ManagedProcess:
    """One child: its command, environment additions, log file; `start()`, `alive`, `stop()`."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        """Launch in a new session with stdout and stderr appended to the log file."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        with self.log_path.open("ab") as log:
            # preexec only sets the parent-death signal (one FFI call, no Python locks taken)
            self.proc = subprocess.Popen(
                list(self.argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True, preexec_fn=_PREEXEC)  # noqa: PLW1509
        return self

    @property
    def pid(self) -> int | None:
        """The child's pid (also its process group id), once started."""
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        """True while the child runs."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit code once the child ended."""
        return self.proc.poll() if self.proc is not None else None

    def signal(self, signum: int) -> None:
        """Send a signal to the child's whole process group."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signum)

    def wait(self, timeout_s: float) -> bool:
        """Wait for the child to end; True when it did within the timeout."""
        if self.proc is None:
            return True
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM the group, SIGKILL it after `timeout_s`; returns the exit code."""
        if self.proc is None:
            return None
        self.signal(signal.SIGTERM)
        if not self.wait(timeout_s):
            self.signal(signal.SIGKILL)
            self.wait(10.0)
        # the leader may be gone while others in its group linger: make sure none is left
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.returncode

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the child's log (for error messages)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def stop_all(processes: Sequence[ManagedProcess], timeout_s: float = 15.0) -> None:
    """SIGTERM every process at once, then wait for each (SIGKILL those past the timeout)."""
    for p in processes:
        p.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for p in processes:
        p.stop(max(0.1, deadline - time.monotonic()))


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0
