"""Run `eventlens collector` as a subprocess on free ports with a SQLite store, as a user would."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

_LISTENING = re.compile(r"listening http=(\d+)")


@dataclass
class CollectorProcess:
    """A running collector: its OTLP/HTTP endpoint and store URL; `stop()` ends it gracefully."""

    store_url: str
    proc: subprocess.Popen[str]
    http_port: int
    log: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        """`OTEL_EXPORTER_OTLP_ENDPOINT` for the services."""
        return f"http://127.0.0.1:{self.http_port}"

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM, then wait (kill if it does not stop)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_collector(workdir: Path, timeout_s: float = 60.0) -> CollectorProcess:
    """Start `python -m eventlens collector --store sqlite:///<workdir>/eventlens.db` on free ports."""
    store_url = f"sqlite:///{workdir / 'eventlens.db'}"
    cmd = [sys.executable, "-m", "eventlens", "collector", "--store", store_url, "--host", "127.0.0.1",
           "--http-port", "0", "--grpc-port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log: list[str] = []
    port: list[int] = []

    def reader() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line.rstrip())
            match = _LISTENING.search(line)
            if match and not port:
                port.append(int(match[1]))

    threading.Thread(target=reader, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while not port:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("eventlens collector did not start:\n" + "\n".join(log[-40:]))
        time.sleep(0.05)
    return CollectorProcess(store_url=store_url, proc=proc, http_port=port[0], log=log)
