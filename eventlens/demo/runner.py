"""`eventlens demo`: the broker, the collector, the shop's services and the dashboard, started and stopped as one.

Order of start: broker (local, or `KAFKA_BOOTSTRAP_SERVERS`) → topics → collector (SQLite store in the work
folder, lag polling on) → services (OTLP to the collector) → dashboard. On Ctrl-C/SIGTERM, or when the traffic's
duration is over and the consumers have caught up, everything stops in reverse order, so the services' last
spans still reach the collector. Parts that are not installed fail up front with a message naming them.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType

from eventlens.demo import deprecations, outbox
from eventlens.demo.config import ServiceConfig
from eventlens.demo.processes import ManagedProcess, port_open, stop_all
from eventlens.demo.services import SERVICES
from eventlens.demo.services.payments import database as payments_database
from eventlens.demo.topics import DEFAULT_PREFIX

log = logging.getLogger("eventlens.demo.runner")

NEVER_S = 1e9
"""A schema switch that never comes (the first storefront sends v1 only)."""
INSTRUMENTATION_API = ("instrument", "processing", "capture_context", "restore_context", "send_context")


class DemoError(RuntimeError):
    """The demo cannot start or run; the message says what is missing and what to do."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """Everything `eventlens demo` can be told."""

    rate: float = 5.0
    duration_s: float = 0.0
    kafka_port: int = 9092
    bootstrap: str | None = None
    dashboard: bool = True
    dashboard_port: int = 8501
    otlp_http_port: int = 4318
    otlp_grpc_port: int = 4317
    workdir: Path = Path(".eventlens/demo")
    prefix: str = DEFAULT_PREFIX
    seed: int = 42
    schema_switch_s: float = 20.0
    burst_every_s: float = 40.0
    lag_interval_s: float = 5.0
    drain_timeout_s: float = 90.0
    keep_data: bool = False

    @property
    def store_url(self) -> str:
        """The SQLite store the collector writes and the dashboard reads."""
        return f"sqlite:///{(self.workdir / 'eventlens.db').resolve()}"

    @property
    def deprecations_path(self) -> Path:
        """The deprecations file written for the schema analysis."""
        return (self.workdir / "deprecations.yaml").resolve()

    @property
    def dashboard_url(self) -> str:
        """Where the dashboard answers."""
        return f"http://127.0.0.1:{self.dashboard_port}"

    def service_config(self, bootstrap: str) -> ServiceConfig:
        """The options every service process gets."""
        return ServiceConfig(bootstrap=bootstrap, prefix=self.prefix, workdir=self.workdir.resolve(), seed=self.seed,
                             rate=self.rate, duration_s=self.duration_s, schema_switch_s=self.schema_switch_s,
                             burst_every_s=self.burst_every_s)


def missing_parts(dashboard: bool) -> list[str]:
    """The eventlens parts the demo needs that this installation lacks, each with what it is."""
    missing = []
    try:
        import eventlens.instrumentation as instr

        absent = [name for name in INSTRUMENTATION_API if not hasattr(instr, name)]
        if absent:
            missing.append(f"the instrumentation API (eventlens.instrumentation lacks {', '.join(absent)})")
    except ImportError as exc:
        missing.append(f"the instrumentation (eventlens.instrumentation: {exc})")
    needed = [("eventlens.collector.cli", "the collector (`eventlens collector`)")]
    if dashboard:
        needed.append(("eventlens.dashboard.cli", "the dashboard (`eventlens dashboard`)"))
    for module, what in needed:
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:
            found = False
        if not found:
            missing.append(f"{what}: module {module} is not installed")
    return missing


def _check_port_free(port: int, what: str, option: str) -> None:
    if port_open(port):
        raise DemoError(f"port {port} for {what} is already in use: pass {option} with another port "
                        "(or stop what listens there)")


def _reset_workdir(workdir: Path) -> None:
    """Remove the state of a previous run (only the files the demo itself writes)."""
    for name in ("kafka", "claims", "logs"):
        shutil.rmtree(workdir / name, ignore_errors=True)
    for stem in ("eventlens.db", "payments.db", "order-view.db"):
        for suffix in ("", "-wal", "-shm", "-journal"):
            (workdir / f"{stem}{suffix}").unlink(missing_ok=True)


def _eventlens(*args: str) -> list[str]:
    return [sys.executable, "-m", "eventlens", *args]


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, *,
               alive: ManagedProcess | None = None, stop: threading.Event | None = None) -> None:
    """Poll `condition` until true; DemoError on timeout or when `alive` exits first."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if alive is not None and not alive.alive:
            raise DemoError(f"{alive.name} exited with code {alive.returncode} before {what}; "
                            f"its log ({alive.log_path}) ends with:\n{alive.log_tail()}")
        if stop is not None and stop.is_set():
            raise DemoError(f"stopped while waiting for {what}")
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.3)


def group_lags(bootstrap: str, subscriptions: Mapping[str, Sequence[str]]) -> dict[str, int] | None:
    """Total lag (end offset − committed offset, over every partition of its topics) per consumer group;
    None when the broker cannot be asked right now."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="demo-drain")
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="demo-drain")
    except (KafkaError, OSError):
        return None
    try:
        committed = admin.list_group_offsets(list(subscriptions))
        lags = {}
        for group, topics in subscriptions.items():
            tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
            ends = consumer.end_offsets(tps)
            offsets = committed.get(group, {})
            lags[group] = sum(max(0, ends[tp] - max(0, getattr(offsets.get(tp), "offset", 0) or 0)) for tp in tps)
        return lags
    except (KafkaError, OSError):
        return None
    finally:
        consumer.close()
        admin.close()


def consumers_caught_up(bootstrap: str, subscriptions: Mapping[str, Sequence[str]], outbox_db: Path) -> bool:
    """True when the outbox is empty and every group has committed up to the end of every partition it reads."""
    if outbox_db.exists():
        conn = outbox.connect(outbox_db)
        try:
            if outbox.pending_count(conn):
                return False
        finally:
            conn.close()
    lags = group_lags(bootstrap, subscriptions)
    return lags is not None and not any(lags.values())


def drain_status(bootstrap: str, subscriptions: Mapping[str, Sequence[str]], outbox_db: Path) -> str:
    """What is still behind, for the message of a drain that timed out: each lagging group and the outbox."""
    parts = []
    if outbox_db.exists():
        conn = outbox.connect(outbox_db)
        try:
            pending = outbox.pending_count(conn)
        finally:
            conn.close()
        if pending:
            parts.append(f"outbox {pending} pending")
    lags = group_lags(bootstrap, subscriptions)
    if lags is None:
        parts.append("group lag unknown (broker not answering)")
    else:
        parts.extend(f"{group} {lag} behind" for group, lag in sorted(lags.items()) if lag)
    return ", ".join(parts) or "nothing behind any more"


@dataclass
class Demo:
    """One run of the demo: `run()` blocks until stopped (signal or end of traffic) and returns an exit code."""

    options: DemoOptions
    out: Callable[[str], None] = print
    stop_event: threading.Event = field(default_factory=threading.Event)
    broker: object | None = None
    bootstrap: str = ""
    collector: ManagedProcess | None = None
    dashboard: ManagedProcess | None = None
    services: dict[str, ManagedProcess] = field(default_factory=dict)
    traffic_started: float = 0.0

    @property
    def logs(self) -> Path:
        """Where every child's log goes."""
        return self.options.workdir / "logs"

    def preflight(self) -> None:
        """Fail early, with one message, when parts are missing or ports are taken."""
        missing = missing_parts(self.options.dashboard)
        if missing:
            raise DemoError("the demo needs parts of eventlens that are not available in this installation:\n  - "
                            + "\n  - ".join(missing) + "\nInstall them with: pip install -e '.[all]' (make venv)")
        _check_port_free(self.options.otlp_http_port, "the collector's OTLP/HTTP receiver", "--otlp-http-port")
        _check_port_free(self.options.otlp_grpc_port, "the collector's OTLP/gRPC receiver", "--otlp-grpc-port")
        if self.options.dashboard:
            _check_port_free(self.options.dashboard_port, "the dashboard", "--dashboard-port")
        if self.options.bootstrap is None:
            _check_port_free(self.options.kafka_port, "the Kafka broker", "--kafka-port (or KAFKA_BOOTSTRAP_SERVERS)")

    def start_broker(self) -> None:
        """Use the given bootstrap servers, or start the local broker in the work folder."""
        if self.options.bootstrap:
            self.bootstrap = self.options.bootstrap
            self.out(f"Kafka: using {self.bootstrap}")
            return
        from eventlens.local_kafka import LocalKafka, LocalKafkaError

        self.out(f"Kafka: starting a local broker on 127.0.0.1:{self.options.kafka_port} …")
        broker = LocalKafka(workdir=(self.options.workdir / "kafka").resolve(), port=self.options.kafka_port)
        for attempt in (1, 2):  # a second try with a new cluster id (formatting rarely rejects a generated one)
            try:
                broker.start()
                break
            except LocalKafkaError as exc:
                if attempt == 2 or self.stop_event.is_set():
                    raise DemoError(f"the local Kafka broker did not start: {exc}") from exc
                self.out(f"Kafka: first start failed ({str(exc).splitlines()[0]}), trying again …")
        self.broker = broker
        self.bootstrap = broker.bootstrap

    def start_collector(self) -> None:
        """Start `eventlens collector` on the SQLite store, with lag polling, and wait for its OTLP port."""
        o = self.options
        self.collector = ManagedProcess(
            "collector",
            _eventlens("collector", "--store", o.store_url, "--http-port", str(o.otlp_http_port),
                       "--grpc-port", str(o.otlp_grpc_port), "--lag-bootstrap", self.bootstrap,
                       "--lag-interval", str(o.lag_interval_s)),
            self.logs / "collector.log", env={"EVENTLENS_DEPRECATIONS": str(o.deprecations_path)},
        ).start()
        wait_until(lambda: port_open(o.otlp_http_port), 90, "the collector's OTLP/HTTP port", alive=self.collector,
                   stop=self.stop_event)
        self.out(f"collector: OTLP/HTTP on 127.0.0.1:{o.otlp_http_port}, store {o.store_url}")

    def service_env(self, name: str) -> dict[str, str]:
        """The OpenTelemetry settings a service starts with: OTLP/HTTP to the collector, quick batches."""
        return {
            "OTEL_SERVICE_NAME": name,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self.options.otlp_http_port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_RESOURCE_ATTRIBUTES": "service.namespace=shop,deployment.environment.name=demo",
            "OTEL_BSP_SCHEDULE_DELAY": "1000",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
        }

    def _service_process(self, name: str, config: ServiceConfig) -> ManagedProcess:
        return ManagedProcess(name, [sys.executable, "-m", "eventlens.demo.services", name, *config.to_argv()],
                              self.logs / f"{name}.log", env=self.service_env(name))

    def start_services(self) -> None:
        """Start every shop service as its own process; the storefront last, once the consumers run.

        The storefront starts as the version that sends `order.placed` v1; `redeploy_storefront` replaces it.
        """
        config = self.options.service_config(self.bootstrap)
        order = [name for name in SERVICES if name != "storefront"]
        for name in order:
            self.services[name] = self._service_process(name, config).start()
        self.services["storefront"] = self._service_process(
            "storefront", replace(config, schema_switch_s=NEVER_S)).start()
        self.traffic_started = time.monotonic()
        self.out(f"services: {', '.join([*order, 'storefront'])} (logs in {self.logs})")

    def redeploy_storefront(self) -> None:
        """The schema change ships with a deployment: stop the storefront, start the version sending v2.

        A new process, as in a rolling update, so its instrumentation fingerprints the new payloads afresh.
        The legacy mobile app's share of orders keeps arriving as the deprecated v1.
        """
        o = self.options
        elapsed = time.monotonic() - self.traffic_started
        remaining = o.duration_s - elapsed if o.duration_s else 0.0
        if o.duration_s and remaining <= 1.0:
            return
        self.services["storefront"].stop(timeout_s=20)
        config = replace(o.service_config(self.bootstrap), schema_switch_s=0.0, seed=o.seed + 1,
                         duration_s=max(0.0, remaining))
        self.services["storefront"] = self._service_process("storefront", config).start()
        self.out(f"storefront redeployed after {elapsed:.0f} s: order.placed v2 (legacy app still sends v1)")

    def start_dashboard(self) -> None:
        """Start `eventlens dashboard` on the same store and wait until it answers."""
        o = self.options
        self.dashboard = ManagedProcess(
            "dashboard", _eventlens("dashboard", "--store", o.store_url, "--port", str(o.dashboard_port)),
            self.logs / "dashboard.log", env={"EVENTLENS_DEPRECATIONS": str(o.deprecations_path)},
        ).start()
        wait_until(lambda: port_open(o.dashboard_port), 120, "the dashboard's port", alive=self.dashboard,
                   stop=self.stop_event)

    def start(self) -> None:
        """Start every part, in order."""
        o = self.options
        self.preflight()
        o.workdir.mkdir(parents=True, exist_ok=True)
        if not o.keep_data:
            _reset_workdir(o.workdir)
        deprecations.write(o.deprecations_path)
        self.start_broker()
        from eventlens.demo.kafka_io import ensure_topics

        ensure_topics(self.bootstrap, o.service_config(self.bootstrap).topics.all())
        self.start_collector()
        self.start_services()
        if o.dashboard:
            self.start_dashboard()
            self.out(f"\n  eventlens dashboard: {o.dashboard_url}\n")
        traffic = f"for {o.duration_s:g} s" if o.duration_s else "until Ctrl-C"
        self.out(f"demo running: {o.rate:g} orders/s {traffic}; Ctrl-C stops everything")

    def _died(self) -> ManagedProcess | None:
        for proc in [self.collector, self.dashboard, *self.services.values()]:
            if proc is None or proc.alive:
                continue
            if proc.name == "storefront" and proc.returncode == 0 and self.options.duration_s:
                continue  # its traffic is over
            return proc
        return None

    def wait(self) -> None:
        """Block until a stop signal, the end of the traffic (and the drain), or a part dying unexpectedly;
        redeploy the storefront when the schema change is due."""
        redeployed = False
        while not self.stop_event.wait(0.5):
            if not redeployed and time.monotonic() - self.traffic_started >= self.options.schema_switch_s:
                self.redeploy_storefront()
                redeployed = True
            storefront = self.services["storefront"]
            dead = self._died()
            if dead is not None:
                raise DemoError(f"{dead.name} exited unexpectedly with code {dead.returncode}; "
                                f"its log ({dead.log_path}) ends with:\n{dead.log_tail()}")
            if self.options.duration_s and not storefront.alive:
                self.drain()
                return

    def drain(self) -> None:
        """After the traffic: wait (bounded) until every consumer group caught up and the outbox is empty."""
        self.out("traffic over: waiting for the consumers to catch up …")
        topics = self.options.service_config(self.bootstrap).topics
        groups = {topics.group(name): subscribed for name, subscribed in topics.subscriptions().items()}
        db = payments_database(self.options.workdir)
        started = time.monotonic()
        try:
            # twice in a row: a consumer may still be sending what it just consumed
            wait_until(lambda: consumers_caught_up(self.bootstrap, groups, db)
                       and consumers_caught_up(self.bootstrap, groups, db),
                       self.options.drain_timeout_s, "the consumers to catch up", stop=self.stop_event)
            self.out(f"caught up in {time.monotonic() - started:.1f} s")
        except DemoError as exc:
            self.out(f"not fully drained: {exc}; {drain_status(self.bootstrap, groups, db)}")

    def stop(self) -> None:
        """Stop services (they flush their spans), then the dashboard, the collector and the broker."""
        stop_all(list(self.services.values()), timeout_s=20)
        if self.collector is not None and self.collector.alive:
            time.sleep(1.0)  # the last span batches are in flight over loopback
        stop_all([p for p in (self.dashboard, self.collector) if p is not None], timeout_s=20)
        if self.broker is not None:
            self.broker.stop()  # type: ignore[attr-defined]
            self.broker = None

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stop_event.is_set():
            self.out("stopping now (second signal)")
            for proc in [*self.services.values(), self.dashboard, self.collector]:
                if proc is not None:
                    proc.signal(signal.SIGKILL)
            return
        self.out(f"\n{signal.Signals(signum).name}: stopping the demo …")
        self.stop_event.set()

    def run(self) -> int:
        """Start, wait, stop; returns 0 on a clean run, 1 when a part failed."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        code = 0
        try:
            self.start()
            self.wait()
        except DemoError as exc:
            self.out(f"error: {exc}")
            code = 1
        finally:
            self.stop()
            for s, handler in previous.items():
                signal.signal(s, handler)
            self.out("demo stopped")
        return code


def options_from_env(options: DemoOptions) -> DemoOptions:
    """Take the broker from `KAFKA_BOOTSTRAP_SERVERS` when set and none was given."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if options.bootstrap is None and external:
        return replace(options, bootstrap=external)
    return options
