"""Run `eventlens collector` as a subprocess and learn its ports from the line it prints on start."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

_LISTENING = re.compile(r"eventlens collector listening http=(\S+) grpc=(\S+)")


class CollectorProcess:
    """A collector child process; its stderr goes to a log file."""

    def __init__(self, *args: str, log: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log
        self.log = log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "eventlens.cli", "collector", *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        self.http_port: int | None = None
        self.grpc_port: int | None = None
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.write(line)
            self.log.flush()
            match = _LISTENING.search(line.decode(errors="replace"))
            if match:
                http, grpc = match.groups()
                self.http_port = None if http == "None" else int(http)
                self.grpc_port = None if grpc == "None" else int(grpc)
                self._ready.set()

    def wait_ready(self, timeout: float = 60.0) -> CollectorProcess:
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"collector did not start; log:\n{self.log_path.read_text(errors='replace')}")
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait(30)

    def terminate(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(60)
        finally:
            self.log.close()


def children(pid: int) -> list[int]:
    """Live child processes of `pid` (a collector's ingest workers and their helpers)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid and stat[0] != "Z":
                out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    """True while process `pid` runs (a zombie counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
