"""A local single-node Apache Kafka (KRaft) broker run from its Maven Central jars, without Docker.

Maven resolves the broker and its dependencies once (`local_kafka_pom.xml`, cached in `~/.m2`) and copies
them into a library folder; the broker then runs as `java -cp <lib>/* kafka.Kafka server.properties`.
Used by `scripts/kafka`, `make demo`, `eventlens demo` and the test suite's session fixture.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

KAFKA_VERSION = "4.3.1"
DEFAULT_HOME = Path(os.environ.get("EVENTLENS_KAFKA_HOME", Path.home() / ".cache" / "eventlens" / "kafka"))
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"

_LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
"""


class LocalKafkaError(RuntimeError):
    """The local broker could not be resolved, started or reached; the message says why."""


@dataclass(frozen=True, slots=True)
class BrokerPaths:
    """Where one broker instance keeps its configuration, data, log and pid."""

    workdir: Path

    @property
    def config(self) -> Path:
        return self.workdir / "server.properties"

    @property
    def log4j(self) -> Path:
        return self.workdir / "log4j2.properties"

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    @property
    def log(self) -> Path:
        return self.workdir / "server.log"

    @property
    def stdout(self) -> Path:
        return self.workdir / "stdout.log"

    @property
    def pidfile(self) -> Path:
        return self.workdir / "broker.pid"

    @property
    def portfile(self) -> Path:
        return self.workdir / "broker.port"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _require(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise LocalKafkaError(f"'{tool}' was not found on PATH: {hint}")
    return path


def resolve_jars(home: Path = DEFAULT_HOME) -> Path:
    """Resolve the broker's jars with Maven into `home/lib-<version>` (once) and return that folder."""
    lib = home / f"lib-{KAFKA_VERSION}"
    marker = lib / ".complete"
    if marker.exists():
        return lib
    _require("java", "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)")
    mvn = _require("mvn", "install Maven (Debian: apt-get install maven)")
    home.mkdir(parents=True, exist_ok=True)
    pom = home / "pom.xml"
    pom.write_text(resources.files("eventlens").joinpath("local_kafka_pom.xml").read_text())
    if lib.exists():
        shutil.rmtree(lib)
    cmd = [mvn, "-q", "-B", "-f", str(pom), f"-Dkafka.version={KAFKA_VERSION}", "dependency:copy-dependencies",
           f"-DoutputDirectory={lib}", "-DincludeScope=runtime"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LocalKafkaError(f"Maven could not resolve Kafka {KAFKA_VERSION}:\n{result.stdout}\n{result.stderr}")
    marker.write_text(KAFKA_VERSION)
    return lib


def write_config(paths: BrokerPaths, port: int, controller_port: int) -> None:
    """Write a combined broker+controller KRaft configuration listening on 127.0.0.1 only."""
    paths.workdir.mkdir(parents=True, exist_ok=True)
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(paths.data),
        "num.partitions": "1",
        "num.recovery.threads.per.data.dir": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "5",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        "delete.topic.enable": "true",
    }
    paths.config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    paths.log4j.write_text(_LOG4J2.format(log=paths.log))
    paths.portfile.write_text(str(port))


def _java(lib: Path, *args: str, heap: str = "-Xmx1G") -> list[str]:
    return [_require("java", "install a Java 17+ runtime"), heap, "-Xms256m", "-cp", f"{lib}/*", *args]


def new_cluster_id() -> str:
    """A random KRaft cluster id: URL-safe base64 of a UUID, never starting with '-' (the storage tool would
    read that as an option)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def format_storage(paths: BrokerPaths, lib: Path) -> None:
    """Format KRaft storage for a fresh single-node cluster (no-op when already formatted)."""
    if (paths.data / "meta.properties").exists():
        return
    cid = new_cluster_id()
    cmd = _java(lib, f"-Dlog4j2.configurationFile={paths.log4j}", STORAGE_TOOL, "format", "--standalone",
                "-t", cid, "-c", str(paths.config), heap="-Xmx256m")
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LocalKafkaError(f"kafka-storage format failed:\n{result.stdout}\n{result.stderr}")


def wait_ready(bootstrap: str, timeout_s: float = 60.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until the broker answers a metadata request (an open port alone is not enough)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise LocalKafkaError(f"the broker exited with code {proc.returncode} before it was ready")
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000,
                                     bootstrap_timeout_ms=3000)
            try:
                admin.list_topics()
                return
            finally:
                admin.close()
        except (KafkaError, OSError, ValueError) as exc:
            last = exc
            time.sleep(0.3)
    raise LocalKafkaError(f"the broker at {bootstrap} did not answer metadata requests in {timeout_s:.0f} s: {last}")


@dataclass
class LocalKafka:
    """One local broker: `start()` resolves, formats, launches and waits; `stop()` ends it."""

    workdir: Path
    port: int = 9092
    controller_port: int | None = None
    home: Path = DEFAULT_HOME
    proc: subprocess.Popen[bytes] | None = None

    @property
    def paths(self) -> BrokerPaths:
        return BrokerPaths(self.workdir)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 90.0) -> LocalKafka:
        """Start the broker in the background and return once it answers metadata requests."""
        lib = resolve_jars(self.home)
        cport = self.controller_port or free_port()
        write_config(self.paths, self.port, cport)
        format_storage(self.paths, lib)
        env = dict(os.environ)
        env.pop("KAFKA_HEAP_OPTS", None)
        out = self.paths.stdout.open("ab")
        # Own process group so that stop() and Ctrl-C in `make demo` end the JVM cleanly.
        self.proc = subprocess.Popen(
            _java(lib, f"-Dlog4j2.configurationFile={self.paths.log4j}", MAIN_CLASS, str(self.paths.config)),
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
        out.close()
        self.paths.pidfile.write_text(str(self.proc.pid))
        try:
            wait_ready(self.bootstrap, timeout_s, self.proc)
        except LocalKafkaError:
            self.stop()
            raise
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after `timeout_s`)."""
        pid = self.proc.pid if self.proc is not None else read_pid(self.paths)
        if pid is not None:
            _terminate(pid, timeout_s)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        self.paths.pidfile.unlink(missing_ok=True)
        self.proc = None


def read_pid(paths: BrokerPaths) -> int | None:
    """The pid of a running broker started in `paths.workdir`, or None."""
    try:
        pid = int(paths.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return pid


def _terminate(pid: int, timeout_s: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    """`scripts/kafka start|stop|status|resolve`: manage the local broker in a work folder."""
    parser = argparse.ArgumentParser(prog="kafka", description=__doc__)
    parser.add_argument("action", choices=["start", "stop", "status", "resolve"])
    parser.add_argument("--port", type=int, default=int(os.environ.get("EVENTLENS_KAFKA_PORT", "9092")))
    parser.add_argument("--workdir", type=Path, default=Path(os.environ.get("EVENTLENS_KAFKA_WORKDIR",
                                                                              DEFAULT_HOME / "broker")))
    args = parser.parse_args(argv)
    broker = LocalKafka(workdir=args.workdir, port=args.port)
    try:
        if args.action == "resolve":
            started = time.monotonic()
            lib = resolve_jars()
            print(f"Kafka {KAFKA_VERSION} jars in {lib} ({time.monotonic() - started:.1f} s)")
        elif args.action == "start":
            if read_pid(broker.paths) is not None:
                print(f"already running (pid {read_pid(broker.paths)}), log: {broker.paths.log}")
                return 0
            started = time.monotonic()
            broker.start()
            print(f"Kafka {KAFKA_VERSION} ready on {broker.bootstrap} in {time.monotonic() - started:.1f} s "
                  f"(pid {broker.proc.pid if broker.proc else '?'}), log: {broker.paths.log}")
        elif args.action == "stop":
            broker.stop()
            print("stopped")
        else:
            pid = read_pid(broker.paths)
            port = broker.paths.portfile.read_text().strip() if broker.paths.portfile.exists() else args.port
            state = f"running (pid {pid}) on 127.0.0.1:{port}" if pid else "not running"
            print(f"{state}; log: {broker.paths.log}")
            return 0 if pid else 3
    except LocalKafkaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
