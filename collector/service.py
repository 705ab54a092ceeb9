"""The collector service: store + ingest pipeline + receivers + query API + /metrics + background loops.

`Collector(config).start()` brings everything up (ports are known after `start`, also when 0 asked for a free
one); `stop()` shuts down in order: receivers stop taking requests, the queue is written out, background loops
end, the store is closed.
"""

from __future__ import annotations

import importlib
import logging
import os
import resource
import socket
import ssl
import threading
import time
import uuid
from typing import Any, Protocol

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from eventlens.collector.budget import DECODE_EXPANSION, RAW_EXPANSION, MemoryBudget, resident_bytes
from eventlens.collector.config import CollectorConfig, is_loopback
from eventlens.collector.http_api import QueryApi
from eventlens.collector.ingest import Ingest
from eventlens.collector.metrics import CollectorMetrics
from eventlens.collector.model import NS_PER_S
from eventlens.collector.otlp import SpanLimits, set_span_limits
from eventlens.collector.pipeline import IngestPipeline
from eventlens.collector.receivers.http import HttpReceiver
from eventlens.collector.receivers.http_guard import ClientLimits, guarded_protocol
from eventlens.collector.redact import public_error, redact_url
from eventlens.collector.storage.protocol import AlertStore, DeadLetterStore, Store, open_store
from eventlens.collector.workers import BYTES_PER_SPAN, WorkerPool

log = logging.getLogger(__name__)
NS_PER_HOUR = 3600 * NS_PER_S


class Startable(Protocol):
    """A background component (lag poller, Kafka receiver)."""

    def start(self) -> Any: ...

    def stop(self) -> Any: ...


def build_app(ingest: Ingest, store: Store, config: CollectorConfig) -> Starlette:
    """The Starlette app on the HTTP port: OTLP/HTTP receiver, `/api/...`, `/metrics`."""
    receiver = HttpReceiver(ingest, max_body_bytes=config.max_body_bytes, token=config.token_value,
                            retry_after_s=config.retry_after_s)

    def health() -> dict[str, Any]:
        out: dict[str, Any] = {"queue_spans": ingest.pipeline.queued_spans,
                               "queue_capacity": ingest.pipeline.max_queue_spans}
        if ingest.pool is not None:
            out.update(ingest_workers=ingest.pool.workers, queue_bytes=ingest.pool.queued_bytes,
                       queue_capacity_bytes=ingest.pool.max_queue_bytes)
        return out

    api = QueryApi(store, token=config.token_value, health=health)
    registry = ingest.metrics.registry

    async def metrics_endpoint(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    routes: list[BaseRoute] = [*receiver.routes(), *api.routes(), Route("/metrics", metrics_endpoint)]
    app = Starlette(routes=routes, exception_handlers={Exception: internal_error})
    app.state.store = store  # the analysis and lag parts' routes read the store from here
    app.state.exact_counts = ingest.exact  # the sampling check's exact counts (/api/sampling)
    if "*" not in config.host_allow_list:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=config.host_allow_list, www_redirect=False)
    return app


async def internal_error(request: Request, exc: Exception) -> Response:
    """Any unexpected error: logged with an id, answered 500 with that id only (never the error's text)."""
    error_id, message = public_error(log, f"{request.method} {request.url.path}", exc)
    return JSONResponse({"error": message, "error_id": error_id}, 500)


class _Uvicorn:
    """uvicorn serving an app on a socket we bind ourselves (so port 0 resolves before serving)."""

    def __init__(self, app: Starlette, config: CollectorConfig) -> None:
        family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((config.host, config.http_port))
        self.sock.listen(2048)
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]
        limits = ClientLimits(header_timeout_s=config.header_timeout_s, body_timeout_s=config.body_timeout_s,
                              max_header_bytes=config.max_header_bytes,
                              max_connections=min(config.max_connections, connection_budget()))
        # No uvicorn `limit_concurrency`: it answers 503 to everyone once the cap is reached, silent sockets
        # included; the guarded protocol drops the stalest waiting connection instead (receivers/http_guard.py).
        uv_config = uvicorn.Config(app, log_level=config.log_level.lower(), access_log=False, lifespan="off",
                                   http=guarded_protocol(limits), timeout_keep_alive=config.idle_timeout_s,  # type: ignore[arg-type]
                                   ssl_certfile=config.tls_cert, ssl_keyfile=config.tls_key,
                                   ssl_ca_certs=config.tls_client_ca,
                                   ssl_cert_reqs=ssl.CERT_REQUIRED if config.tls_client_ca else ssl.CERT_NONE)
        self.server = uvicorn.Server(uv_config)
        self.thread = threading.Thread(target=self._run, name="eventlens-http", daemon=True)

    def _run(self) -> None:
        self.server.run(sockets=[self.sock])

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the OTLP/HTTP server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()


def connection_budget(reserve: int = 256) -> int:
    """HTTP connections the process can hold: the open-file soft limit less `reserve` for the store, gRPC and logs."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    return max(64, soft - reserve)


class RetentionLoop:
    """Applies the store's retention every `interval_s` seconds on a daemon thread.

    It runs even when both retentions are 0 (keep forever): the store's retention pass also turns consumptions
    whose producer span never arrived into partial edges."""

    def __init__(self, store: Store, config: CollectorConfig) -> None:
        self.store = store
        self.interval_s = config.retention_interval_s
        self.spans_max_age_ns = int(config.span_retention_h * NS_PER_HOUR)
        self.rollups_max_age_ns = int(config.rollup_retention_h * NS_PER_HOUR)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="eventlens-retention", daemon=True)

    def run_once(self, now_ns: int) -> int:
        """Delete what is past retention now; 0 means keep forever (a huge age is passed to the store)."""
        forever = 1 << 62
        return self.store.apply_retention(now_ns, spans_max_age_ns=self.spans_max_age_ns or forever,
                                          rollups_max_age_ns=self.rollups_max_age_ns or forever)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                deleted = self.run_once(time.time_ns())
                log.info("retention removed %d rows", deleted)
            except Exception:
                log.exception("retention run failed; will retry")

    def start(self) -> None:
        """Start the loop (first run after one interval)."""
        self._thread.start()

    def stop(self) -> None:
        """End the loop."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)


def lag_poller(store: Store, config: CollectorConfig) -> Startable | None:
    """The lag part's poller when that part is installed and a lag bootstrap is configured."""
    if not config.lag_bootstrap:
        return None
    try:
        module = importlib.import_module("eventlens.collector.lag.poller")
    except ModuleNotFoundError as exc:
        if exc.name and "eventlens.collector.lag.poller".startswith(exc.name):
            log.warning("lag bootstrap given but the lag poller is not available in this build")
            return None
        raise
    poller: Startable = module.LagPoller(config.lag_bootstrap, store, interval_s=config.lag_interval_s)
    return poller


def alert_loop(store: Store, config: CollectorConfig) -> Startable | None:
    """The alert evaluation loop over `--alert-rules` (or the built-in rules); None when disabled or when the store
    keeps no alerts. An invalid rules file raises `RulesError` (the collector does not start)."""
    if not config.alert_interval_s or not isinstance(store, AlertStore):
        return None
    from eventlens.collector.alerts.evaluator import EvaluationLoop, Evaluator
    from eventlens.collector.alerts.rules import default_rules, load_rules
    from eventlens.collector.alerts.sender import Sender

    rules = load_rules(config.alert_rules) if config.alert_rules else default_rules()
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    sender = Sender(store, rules.receivers) if rules.receivers else None
    return EvaluationLoop(Evaluator(store, rules, holder=holder), config.alert_interval_s, sender)


class Collector:
    """The whole collector in one process."""

    def __init__(self, config: CollectorConfig, *, store: Store | None = None) -> None:
        self.config = config
        self.store: Store = store if store is not None else open_store(config.store)
        self.metrics = CollectorMetrics()
        self.metrics.queue_capacity.set(config.queue_spans)
        limits = SpanLimits(config.max_span_attributes, config.max_attribute_value_length, config.max_span_links)
        set_span_limits(limits)
        self.pipeline = IngestPipeline(self.store, max_queue_spans=config.queue_spans,
                                       max_batch_spans=config.batch_spans, max_queue_bytes=config.queue_bytes,
                                       observer=self.metrics)
        self.pool = WorkerPool(config.store, config.ingest_workers,
                               max_queue_bytes=min(config.queue_spans * BYTES_PER_SPAN, config.queue_bytes),
                               max_batch_bytes=config.batch_spans * BYTES_PER_SPAN,
                               observer=self.metrics, limits=limits) if config.ingest_workers else None
        budget = MemoryBudget(config.memory_limit_mib << 20, baseline_bytes=resident_bytes(),
                              expansion=RAW_EXPANSION if config.ingest_workers else DECODE_EXPANSION) \
            if config.memory_limit_mib else None
        if budget is not None:
            self.metrics.memory_reserved.set_function(lambda: budget.reserved)
        self.ingest = Ingest(self.pipeline, self.metrics, self.pool, budget)
        self.app = build_app(self.ingest, self.store, config)
        self.http: _Uvicorn | None = None
        self.grpc: Any = None
        self.kafka: Startable | None = None
        self.lag: Startable | None = None
        self.alerts: Startable | None = None
        self.retention = RetentionLoop(self.store, config)
        self._register_lag_metrics()

    def _register_lag_metrics(self) -> None:
        try:
            module = importlib.import_module("eventlens.collector.lag.metrics")
        except ModuleNotFoundError:
            return
        register = getattr(module, "register_lag_metrics", None)
        if register is not None:
            register(self.metrics.registry, self.store, time.time_ns)

    @property
    def http_port(self) -> int | None:
        """The bound OTLP/HTTP + API port, once started (None when disabled)."""
        return self.http.port if self.http else None

    @property
    def grpc_port(self) -> int | None:
        """The bound OTLP/gRPC port, once started (None when disabled)."""
        return int(self.grpc.port) if self.grpc else None

    def start(self) -> Collector:
        """Bring every configured component up."""
        self.pipeline.start()
        try:
            if self.pool is not None:
                self.pool.start()
            if self.config.http_port >= 0:
                self.http = _Uvicorn(self.app, self.config)
                self.http.start()
            if self.config.grpc_port >= 0:
                from eventlens.collector.receivers.grpc import GrpcReceiver, GrpcTransport

                self.grpc = GrpcReceiver(self.ingest, host=self.config.host, port=self.config.grpc_port,
                                         max_message_bytes=self.config.max_body_bytes,
                                         token=self.config.token_value,
                                         transport=GrpcTransport.from_config(self.config)).start()
            if self.config.kafka_bootstrap:
                from eventlens.collector.receivers.kafka import KafkaReceiver

                self.kafka = KafkaReceiver(self.ingest, bootstrap=self.config.kafka_bootstrap,
                                           topic=self.config.kafka_topic, group=self.config.kafka_group,
                                           dead_letters=self.store if isinstance(self.store, DeadLetterStore)
                                           else None)
                self.kafka.start()
            self.lag = lag_poller(self.store, self.config)
            if self.lag is not None:
                self.lag.start()
            self.alerts = alert_loop(self.store, self.config)
            if self.alerts is not None:
                self.alerts.start()
            self.retention.start()
        except BaseException:
            self.stop()
            raise
        log.info("collector up: http=%s grpc=%s kafka=%s lag=%s store=%s", self.http_port, self.grpc_port,
                 bool(self.kafka), bool(self.lag), redact_url(self.config.store))
        if self.config.token_value and not self.config.tls and not is_loopback(self.config.host):
            log.warning("the bearer token crosses the network in clear text on %s: serve TLS (--tls-cert, "
                        "--tls-key) or put a TLS proxy in front", self.config.host)
        return self

    def stop(self) -> None:
        """Stop receivers, write out the queue, stop loops, close the store."""
        for name, component in (("http", self.http), ("grpc", self.grpc), ("kafka", self.kafka)):
            if component is not None:
                try:
                    component.stop()
                except Exception:
                    log.exception("stopping the %s receiver failed", name)
        self.http = None
        self.grpc = None
        self.kafka = None
        self.pipeline.stop()
        if self.pool is not None:
            self.pool.stop()
        for component in (self.lag, self.alerts, self.retention):
            if component is not None:
                try:
                    component.stop()
                except Exception:
                    log.exception("stopping a background loop failed")
        self.lag = None
        self.alerts = None
        self.store.close()
