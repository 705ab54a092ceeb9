"""Names vulture reports as unused that a framework or protocol reads (run `vulture`; config in pyproject.toml).

Each line names the object and who uses it; a name that becomes truly dead is deleted, not added here.
"""

# ruff: noqa: B018, F821

_.describe  # prometheus_client custom collector protocol (collector/lag/metrics.py)
_.disconnected  # uvicorn's RequestResponseCycle: set to drop what the handler sends later (http_guard.py)
_.exc_text  # logging.LogRecord: the formatter reuses it (collector/redact.py)
_.should_exit  # uvicorn.Server: read by its serve loop (collector/service.py, tests' servers)
__getattr__  # PEP 562 module attribute hook: lazy instrumentors (instrumentation/__init__.py)
exc_type  # __exit__ signature (instrumentation/_fastspan.py)
exc_tb  # __exit__ signature (instrumentation/_fastspan.py)
_.instrumentation_dependencies  # BaseInstrumentor's abstract method, called by opentelemetry-instrument
timeout_millis  # SpanExporter.force_flush signature (instrumentation/exporter.py)
_.get_description  # opentelemetry Sampler interface (tests' samplers)
empty_store_url  # a pytest fixture requested for its side effect (tests/dashboard/test_empty_states.py)
