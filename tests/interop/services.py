"""Run the Java and Node interop services as subprocesses exporting OTLP/HTTP, and read what they print.

Each service prints one JSON line per record it sent or saw (headers, the trace id current while handling,
the baggage it read). `Shape` names the OpenTelemetry configuration a Java run uses.
"""

from __future__ import annotations

import enum
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PYTHON_SERVICE = Path(__file__).resolve().parent / "python_service.py"

# Only the agent's Kafka instrumentation and its API bridge (the service reads the current span and baggage):
# the Kafka spans are the same, and the JVM starts in about half the time.
JAVA_LEAN_ENV = {
    "OTEL_INSTRUMENTATION_COMMON_DEFAULT_ENABLED": "false",
    "OTEL_INSTRUMENTATION_KAFKA_ENABLED": "true",
    "OTEL_INSTRUMENTATION_OPENTELEMETRY_API_ENABLED": "true",
}

JAVA_STABLE_ENV = {
    "OTEL_SEMCONV_STABILITY_OPT_IN": "messaging",
    "OTEL_INSTRUMENTATION_MESSAGING_EXPERIMENTAL_RECEIVE_TELEMETRY_ENABLED": "true",
}


class Shape(enum.StrEnum):
    """Which span shape a service emits: the Java agent's two, or kafkajs'."""

    JAVA_DEFAULT = "java_default"
    JAVA_STABLE = "java_stable"
    KAFKAJS = "kafkajs"
    EVENTLENS = "eventlens"


def python_command(*args: str) -> list[str]:
    """The command line running the Python (eventlens-instrumented) service with `args`."""
    return [sys.executable, str(PYTHON_SERVICE), *args]


def otel_env(endpoint: str, service_name: str, bootstrap: str, shape: Shape, timeout_s: float = 90.0) -> dict[str, str]:
    """The environment of one service run: OTLP/HTTP protobuf export of traces only, and the broker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "JAVA_TOOL_OPTIONS"))}
    env.update(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_SERVICE_NAME": service_name,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_JAVAAGENT_LOGGING": "none",
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "INTEROP_TIMEOUT_S": str(timeout_s),
            "KAFKAJS_NO_PARTITIONER_WARNING": "1",
        }
    )
    if shape in (Shape.JAVA_DEFAULT, Shape.JAVA_STABLE):
        env.update(JAVA_LEAN_ENV)
    if shape is Shape.JAVA_STABLE:
        env.update(JAVA_STABLE_ENV)
    return env


@dataclass
class Service:
    """A running service process; `wait()` collects its JSON lines and fails loudly on a bad exit."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    _stderr: Any = field(default=None, repr=False)

    def start(self) -> Service:
        """Start the process (stdout piped, stderr to a temporary file)."""
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in kill()
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=subprocess.PIPE, stderr=self._stderr)
        return self

    def wait(self, timeout_s: float = 180.0) -> list[dict[str, Any]]:
        """Wait for exit; return the printed records, or raise with stderr if the exit code is not 0."""
        assert self.proc is not None, "start() first"
        try:
            out, _ = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
            raise AssertionError(f"{self.name} did not finish in {timeout_s} s; stderr:\n{self.stderr()}") from None
        if self.proc.returncode != 0:
            raise AssertionError(f"{self.name} exited {self.proc.returncode}; stderr:\n{self.stderr()}")
        return [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]

    def stderr(self) -> str:
        """The tail of what the process wrote to stderr."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-4000:]

    def kill(self) -> None:
        """Stop the process if it still runs (used on test teardown) and release its stderr file."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def run(name: str, cmd: list[str], env: dict[str, str], timeout_s: float = 180.0) -> list[dict[str, Any]]:
    """Run a service to completion and return its printed records."""
    service = Service(name, cmd, env).start()
    try:
        return service.wait(timeout_s)
    finally:
        service.kill()
