"""`FastOTLPSpanExporter`: OTLP/HTTP protobuf span export with eventlens' lean encoder and a kept-alive connection.

Configured like the standard exporter from `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_EXPORTER_OTLP_HEADERS` / `..._TRACES_HEADERS`, `..._TIMEOUT` and `..._COMPRESSION` (gzip or none). The
body is byte-for-byte the protobuf message the standard exporter sends; only encoding is cheaper.
"""

from __future__ import annotations

import gzip
import http.client
import logging
import os
import random
import threading
import time
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from eventlens import __version__
from eventlens.instrumentation._otlp_encode import encode_spans

_LOG = logging.getLogger("eventlens.instrumentation")
_RETRYABLE = {429, 502, 503, 504}
DEFAULT_ENDPOINT = "http://localhost:4318/v1/traces"


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value.strip()
    return None


def _endpoint_from_env() -> str:
    specific = _env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if specific:
        return specific
    base = _env("OTEL_EXPORTER_OTLP_ENDPOINT")
    return base.rstrip("/") + "/v1/traces" if base else DEFAULT_ENDPOINT


def parse_headers(raw: str | None) -> dict[str, str]:
    """`k1=v1,k2=v2` (percent-encoded values, as in OTEL_EXPORTER_OTLP_HEADERS) to a dict."""
    headers: dict[str, str] = {}
    for item in (raw or "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            headers[unquote(key.strip()).lower()] = unquote(value.strip())
    return headers


class FastOTLPSpanExporter(SpanExporter):
    """Exports spans over OTLP/HTTP (protobuf) with a direct encoder; retries 429/5xx within the timeout.

    It also takes eventlens' own `FastSpan`s (`eventlens_fast_spans`), so a provider whose only processor
    feeds this exporter gets eventlens' cheaper span recording (see docs/instrumentation.md).
    """

    eventlens_fast_spans = True

    def __init__(self, endpoint: str | None = None, headers: dict[str, str] | None = None,
                 timeout: float | None = None, compression: str | None = None) -> None:
        self.endpoint = endpoint or _endpoint_from_env()
        url = urlsplit(self.endpoint)
        self._https = url.scheme == "https"
        self._host = url.hostname or "localhost"
        self._port = url.port or (443 if self._https else 80)
        self._path = (url.path or "/v1/traces") + (f"?{url.query}" if url.query else "")
        env_timeout = _env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
        self.timeout = timeout if timeout is not None else (float(env_timeout) / 1000 if env_timeout else 10.0)
        chosen = compression or _env("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION")
        self.gzip = (chosen or "").lower() == "gzip"
        self.headers = {"Content-Type": "application/x-protobuf",
                        "User-Agent": f"eventlens-instrumentation/{__version__}",
                        **parse_headers(_env("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")),
                        **(headers or {})}
        if self.gzip:
            self.headers["Content-Encoding"] = "gzip"
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._shutdown = False

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self.timeout)
        return self._conn

    def _post(self, body: bytes) -> int:
        conn = self._connection()
        try:
            conn.request("POST", self._path, body=body, headers=self.headers)
            response = conn.getresponse()
            response.read()
            if response.getheader("connection", "").lower() == "close":
                conn.close()
                self._conn = None
            return response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            self._conn = None
            raise

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Encode and POST one batch; FAILURE after the timeout or on a non-retryable answer."""
        if self._shutdown:
            return SpanExportResult.FAILURE
        try:
            body = encode_spans(spans)
        except Exception as exc:
            _LOG.warning("eventlens exporter could not encode %d spans: %r", len(spans), exc)
            return SpanExportResult.FAILURE
        if self.gzip:
            body = gzip.compress(body)
        deadline = time.monotonic() + self.timeout
        delay = 0.5
        with self._lock:
            while True:
                try:
                    status = self._post(body)
                    if 200 <= status < 300:
                        return SpanExportResult.SUCCESS
                    if status not in _RETRYABLE:
                        _LOG.warning("OTLP endpoint %s answered %d; %d spans dropped", self.endpoint, status,
                                     len(spans))
                        return SpanExportResult.FAILURE
                except (OSError, http.client.HTTPException) as exc:
                    _LOG.debug("OTLP export to %s failed: %r", self.endpoint, exc)
                if self._shutdown or time.monotonic() + delay > deadline:
                    _LOG.warning("OTLP export to %s failed within %.0f s; %d spans dropped", self.endpoint,
                                 self.timeout, len(spans))
                    return SpanExportResult.FAILURE
                time.sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter, not security
                delay = min(delay * 2, 8.0)

    def shutdown(self) -> None:
        """Close the connection; later exports fail fast."""
        self._shutdown = True
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered here (the span processor batches)."""
        return True


def default_span_exporter() -> SpanExporter:
    """The span exporter `instrument()` installs: eventlens' OTLP/HTTP exporter unless told otherwise.

    `EVENTLENS_EXPORTER=otlp` selects the standard `opentelemetry-exporter-otlp-proto-http` exporter instead.
    """
    if os.environ.get("EVENTLENS_EXPORTER", "").strip().lower() == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    return FastOTLPSpanExporter()
