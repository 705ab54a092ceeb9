"""`instrument()` one-liner and `eventlens instrument -- python app.py` with real OTLP/HTTP export."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from instr_support import Otel
from otlp_sink import otlp_sink

from eventlens.instrumentation import AIOKafkaInstrumentor, ConfluentKafkaInstrumentor, KafkaInstrumentor, instrument
from eventlens.instrumentation.setup import configure_tracing, installed_instrumentors

PLAIN_APP = textwrap.dedent("""
    import sys
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=sys.argv[1])
    producer.send(sys.argv[2], b'{"id": 1}').get(timeout=60)
    producer.close()
""")


def _env(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    env["OTEL_METRIC_EXPORT_INTERVAL"] = "500"
    return env


def test_existing_providers_are_kept(otel: Otel, monkeypatch: pytest.MonkeyPatch):
    """With an SDK provider already installed, instrument() configures nothing and only instruments."""
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")  # the session has no global meter provider
    assert configure_tracing("x") is False
    instrument(service_name="ignored", tracer_provider=otel.provider, meter_provider=otel.meter_provider)
    try:
        assert KafkaInstrumentor().is_instrumented_by_opentelemetry
        assert ConfluentKafkaInstrumentor().is_instrumented_by_opentelemetry
        assert AIOKafkaInstrumentor().is_instrumented_by_opentelemetry
    finally:
        for cls in installed_instrumentors():
            cls().uninstrument()


@pytest.mark.kafka
def test_one_liner_exports_spans_and_metrics_over_otlp_http(kafka_bootstrap, topic_name, tmp_path: Path):
    """`instrument(service_name=...)` in a fresh process exports send spans and messaging metrics via OTLP."""
    app = tmp_path / "app.py"
    app.write_text("from eventlens.instrumentation import instrument\ninstrument(service_name='svc-one')\n"
                   + PLAIN_APP)
    with otlp_sink() as sink:
        subprocess.run([sys.executable, str(app), kafka_bootstrap, topic_name], env=_env(sink.endpoint),
                       check=True, timeout=240, capture_output=True)
        sink.wait(lambda: ("svc-one", f"send {topic_name}") in sink.spans())
        sink.wait(lambda: "messaging.client.sent.messages" in sink.metric_names())
        assert "messaging.client.operation.duration" in sink.metric_names()


@pytest.mark.kafka
def test_cli_runs_unmodified_program_with_tracing(kafka_bootstrap, topic_name, tmp_path: Path):
    """`eventlens instrument --service-name S -- python app.py` traces a program that never imports OTel."""
    app = tmp_path / "app.py"
    app.write_text(PLAIN_APP)
    tool = Path(sys.executable).parent / "eventlens"
    with otlp_sink() as sink:
        done = subprocess.run([str(tool), "instrument", "--service-name", "svc-cli", "--", "python", str(app),
                               kafka_bootstrap, topic_name], env=_env(sink.endpoint), check=False, timeout=240,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        sink.wait(lambda: ("svc-cli", f"send {topic_name}") in sink.spans())


def test_cli_passes_exit_code_through(tmp_path: Path):
    """The wrapped program's exit code is eventlens instrument's exit code."""
    tool = Path(sys.executable).parent / "eventlens"
    env = {**_env("http://127.0.0.1:9"), "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}
    done = subprocess.run([str(tool), "instrument", "--", "python", "-c", "import sys; sys.exit(7)"], env=env,
                          check=False, timeout=120)
    assert done.returncode == 7


@pytest.mark.parametrize(("code", "env"), [
    ("instrument(service_name='s')", {"OTEL_TRACES_SAMPLER": "eventlens_consistent", "OTEL_TRACES_SAMPLER_ARG": "0.5"}),
    ("from eventlens.instrumentation.sampling import ConsistentProbabilitySampler as C\n"
     "instrument(service_name='s', sampler=C(0.5))", {}),
])
def test_the_consistent_sampler_is_selected_by_environment_or_argument(code, env):
    """`OTEL_TRACES_SAMPLER=eventlens_consistent` (entry point) or `instrument(sampler=…)` sets the sampler."""
    app = ("from opentelemetry import trace\nfrom eventlens.instrumentation import instrument\n" + code +
           "\nprint(trace.get_tracer_provider().sampler.get_description())\n")
    out = subprocess.run([sys.executable, "-c", app], env=_env("http://127.0.0.1:9") | env, check=True,
                         timeout=120, capture_output=True, text=True).stdout
    assert out.strip() == "ConsistentProbabilitySampler{0.500000}"
