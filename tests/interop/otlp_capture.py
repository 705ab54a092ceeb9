"""A tiny OTLP/HTTP receiver that keeps every trace export it gets, and turns them into OTLP/JSON.

Used to capture the payloads the Java agent and the kafkajs instrumentation really send (the fixtures in
`fixtures/`). OTLP/JSON differs from protobuf's generic JSON mapping: trace and span ids are lowercase hex,
not base64, and enums are integers.
"""

from __future__ import annotations

import base64
import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _hex_ids(obj: Any) -> Any:
    """Rewrite base64 id fields (json_format's mapping of bytes) to OTLP/JSON's hex, recursively."""
    if isinstance(obj, dict):
        return {
            k: (base64.b64decode(v).hex() if k in _ID_FIELDS and isinstance(v, str) else _hex_ids(v))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_hex_ids(v) for v in obj]
    return obj


def to_otlp_json(request: ExportTraceServiceRequest) -> dict[str, Any]:
    """An ExportTraceServiceRequest as an OTLP/JSON object (camelCase, hex ids, integer enums)."""
    return _hex_ids(json_format.MessageToDict(request, use_integers_for_enums=True))  # type: ignore[no-any-return]


def merge(requests: list[ExportTraceServiceRequest]) -> ExportTraceServiceRequest:
    """One request holding the resource spans of all `requests`, in order."""
    merged = ExportTraceServiceRequest()
    for req in requests:
        merged.resource_spans.extend(req.resource_spans)
    return merged


class OtlpCapture:
    """An OTLP/HTTP server on 127.0.0.1 (protobuf or JSON bodies on /v1/traces) keeping decoded requests."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self._lock = threading.Lock()
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self._body()
                req = ExportTraceServiceRequest()
                if "json" in (self.headers.get("Content-Type") or ""):
                    json_format.Parse(body, req, ignore_unknown_fields=True)
                else:
                    req.ParseFromString(body)
                if self.path.rstrip("/").endswith("/v1/traces"):
                    with capture._lock:
                        capture.requests.append(req)
                payload = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            break
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    body = b"".join(chunks)
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
                    body = gzip.decompress(body)
                return body

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        """The OTLP base endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> OtlpCapture:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def take(self) -> list[ExportTraceServiceRequest]:
        """The requests received so far, clearing the list."""
        with self._lock:
            taken, self.requests = self.requests, []
        return taken

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """(resource attributes, span) for every span received so far, without clearing."""
        with self._lock:
            requests = list(self.requests)
        out = []
        for req in requests:
            for rs in req.resource_spans:
                res = {a.key: json_format.MessageToDict(a.value) for a in rs.resource.attributes}
                for ss in rs.scope_spans:
                    out.extend((res, span) for span in ss.spans)
        return out
