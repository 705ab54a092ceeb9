"""What the adversarial tests share: starting a collector process, posting to it, reading its store back.

(A module of its own, not conftest.py: test modules import it by name, and `conftest` is ambiguous across the
test tree.)"""

from __future__ import annotations

import http.client
import os
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "integration" / "ingest"))
sys.path.insert(0, str(HERE.parent / "collector" / "ingest"))

from collector_proc import CollectorProcess  # noqa: E402
from otlp_builders import body, span  # noqa: E402

from eventlens.collector.storage.protocol import Store  # noqa: E402

PB = "application/x-protobuf"
JSON = "application/json"


@dataclass
class Answer:
    """An HTTP answer: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    content: bytes


def post(port: int, path: str, data: bytes, content_type: str = PB, *, headers: dict[str, str] | None = None,
         timeout: float = 60.0) -> Answer:
    """One POST on a fresh connection (a hostile request may leave a connection unusable)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=data, headers={"Content-Type": content_type, **(headers or {})})
        resp = conn.getresponse()
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def start_collector(store: str, tmp: Path, *args: str) -> CollectorProcess:
    """A collector process on `store` with free ports (cwd kept off sys.path, so PYTHONPATH decides which
    eventlens it runs: how these tests were checked against the code before the fix)."""
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    return CollectorProcess("--store", store, "--http-port", "0", "--grpc-port", "0", "--retention-interval",
                            "3600", *args, log=tmp / "collector.log", env=env).wait_ready()


@dataclass
class Running:
    """A running collector and a reader of its store."""

    proc: CollectorProcess
    store: Store

    @property
    def port(self) -> int:
        assert self.proc.http_port is not None
        return self.proc.http_port

    def post(self, data: bytes, content_type: str = PB, **kw: object) -> Answer:
        """POST /v1/traces."""
        return post(self.port, "/v1/traces", data, content_type, **kw)  # type: ignore[arg-type]

    def alive(self) -> bool:
        return self.proc.proc.poll() is None

    def good_request_is_stored(self) -> bool:
        """A fresh valid request is acknowledged and its span can be read back from the store."""
        s = span("good")
        answer = self.post(body([s]))
        return answer.status == 200 and self.store.get_span(s.trace_id.hex(), s.span_id.hex()) is not None


