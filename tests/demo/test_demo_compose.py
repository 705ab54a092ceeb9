"""docker-compose.yml and the Dockerfile: valid against the Compose Specification's JSON schema, and the services
reference each other consistently (broker address, OTLP endpoint, store, ports, volumes, dependencies).

No Docker engine runs here, so this is how the file is kept honest.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from eventlens.demo.config import ServiceConfig
from eventlens.demo.services import SERVICES

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
_VAR = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def _interpolate(value: Any) -> Any:
    """Compose's `${VAR:-default}` interpolation, with every variable unset (its default is used)."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: m.group(2) or "", value)
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return _interpolate(doc)


def _validator() -> jsonschema.Draft201909Validator:
    """The schema declares draft 2019-09 (under a URI jsonschema does not know): use that draft explicitly."""
    schema = json.loads((FIXTURES / "compose-spec.json").read_text())
    jsonschema.Draft201909Validator.check_schema(schema)
    return jsonschema.Draft201909Validator(schema)


def _option(command: list[str], flag: str) -> str:
    assert flag in command, f"{flag} missing from {command}"
    return command[command.index(flag) + 1]


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    return env if isinstance(env, dict) else dict(item.split("=", 1) for item in env)


def test_compose_file_is_valid_against_the_compose_specification(compose) -> None:
    """The file (anchors merged, variables at their defaults) validates against the vendored compose-spec schema."""
    validator = _validator()
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_check_rejects_an_invalid_file() -> None:
    """The schema is not vacuous: an unknown service key and a malformed depends_on are reported."""
    bad = {"services": {"a": {"image": "x", "dependz_on": ["b"]}, "b": {"image": "y", "depends_on": {"a": {}}}}}
    assert len(list(_validator().iter_errors(bad))) >= 2


def test_the_broker_is_the_official_image_in_kraft_mode(compose) -> None:
    """Kafka runs from apache/kafka as a combined broker+controller with a single-node quorum."""
    kafka = compose["services"]["kafka"]
    env = _env(kafka)
    assert kafka["image"].startswith("apache/kafka:")
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert "CONTROLLER://:9093" in env["KAFKA_LISTENERS"]
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"


def test_every_depends_on_names_a_defined_service(compose) -> None:
    """No service waits for one that does not exist, and waiting for health needs a healthcheck."""
    services = compose["services"]
    for name, service in services.items():
        for target, spec in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            if spec.get("condition") == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}'s health, which has no check"


def test_every_kafka_client_uses_the_brokers_internal_advertised_listener(compose) -> None:
    """Collector (lag) and shop services connect to an address the broker advertises on the compose network."""
    services = compose["services"]
    advertised = _env(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    internal = {item.split("://", 1)[1] for item in advertised.split(",")}
    assert _option(services["collector"]["command"], "--lag-bootstrap") in internal
    for name in SERVICES:
        assert _option(services[name]["command"], "--bootstrap") in internal
        assert services[name]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_every_shop_service_runs_once_with_its_own_service_name(compose) -> None:
    """Each of the demo's services is a container running that service, named the same in OpenTelemetry."""
    services = compose["services"]
    for name in SERVICES:
        service = services[name]
        assert service["entrypoint"] == ["python", "-m", "eventlens.demo.services"]
        assert service["command"][0] == name
        assert _env(service)["OTEL_SERVICE_NAME"] == name
        cfg = ServiceConfig.from_argv(service["command"][1:])
        assert cfg.rate == 5.0


def test_shop_services_export_to_the_collectors_otlp_http_port(compose) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT names the collector service and the port its receiver listens on."""
    services = compose["services"]
    collector = services["collector"]["command"]
    assert _option(collector, "--host") == "0.0.0.0"
    endpoint = f"http://collector:{_option(collector, '--http-port')}"
    for name in SERVICES:
        env = _env(services[name])
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == endpoint
        assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
        assert "collector" in services[name]["depends_on"]


def test_collector_and_dashboard_share_one_store_on_one_volume(compose) -> None:
    """The dashboard reads the SQLite file the collector writes: same URL, same volume, same mount point."""
    services = compose["services"]
    store = _option(services["collector"]["command"], "--store")
    assert store == _option(services["dashboard"]["command"], "--store")
    path = store.removeprefix("sqlite:///")
    mounts = {name: services[name]["volumes"] for name in ("collector", "dashboard")}
    assert mounts["collector"] == mounts["dashboard"]
    volume, target = mounts["collector"][0].split(":", 1)
    assert volume in compose["volumes"]
    assert path.startswith(target + "/")


def test_services_sharing_local_state_mount_it_where_their_workdir_is(compose) -> None:
    """payments and its relay share the outbox; shipping and notifications the claim-check folder."""
    services = compose["services"]
    for pair in (("payments", "payments-relay"), ("shipping", "notifications")):
        workdirs = {_option(services[n]["command"], "--workdir") for n in pair}
        assert len(workdirs) == 1
        mounts = [dict(v.split(":", 1)[::-1] for v in services[n]["volumes"]) for n in pair]
        workdir = workdirs.pop()
        assert mounts[0][workdir] == mounts[1][workdir]
        assert mounts[0][workdir] in compose["volumes"]


def test_published_ports_are_on_loopback_and_match_what_the_processes_listen_on(compose) -> None:
    """Dashboard 8501, collector 4318/4317, Kafka's host listener: published on 127.0.0.1 only, same port inside."""
    services = compose["services"]
    expected = {
        "dashboard": {_option(services["dashboard"]["command"], "--port")},
        "collector": {_option(services["collector"]["command"], "--http-port"),
                      _option(services["collector"]["command"], "--grpc-port")},
        "kafka": {"29092"},
    }
    for name, ports in expected.items():
        published = services[name]["ports"]
        assert all(p.startswith("127.0.0.1:") for p in published)
        assert {p.split(":")[2] for p in published} == ports
        assert {p.split(":")[1] for p in published} == ports
    assert "HOST://127.0.0.1:29092" in _env(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    assert _option(services["dashboard"]["command"], "--address") == "0.0.0.0"


def test_the_image_is_built_from_every_package_folder() -> None:
    """The Dockerfile copies each folder pyproject maps into the namespace, and runs the `eventlens` command."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    folders = set(re.findall(r'"eventlens(?:\.\w+)?" = "(\w+)"', pyproject))
    assert folders == {"eventlens", "instrumentation", "collector", "dashboard"}
    for folder in folders:
        assert f"COPY {folder} ./{folder}" in dockerfile
    assert 'pip install ".[all]"' in dockerfile
    assert 'ENTRYPOINT ["eventlens"]' in dockerfile
    assert "EVENTLENS_DEPRECATIONS=" in dockerfile


def _flags(module: str) -> set[str]:
    import importlib

    import typer.main

    command = typer.main.get_command(importlib.import_module(module).app)
    return {opt for param in command.params for opt in param.opts}


def test_the_collector_command_uses_only_options_the_collector_has(compose) -> None:
    """Every `--flag` of the collector container is an option of `eventlens collector` (and so is the runner's)."""
    command = compose["services"]["collector"]["command"]
    assert command[0] == "collector"
    used = {arg for arg in command[1:] if arg.startswith("--")}
    assert used <= _flags("eventlens.collector.cli")
    assert {"--store", "--http-port", "--grpc-port", "--lag-bootstrap", "--lag-interval"} <= used


def test_the_dashboard_command_uses_only_options_the_dashboard_has(compose) -> None:
    """Every `--flag` of the dashboard container is an option of `eventlens dashboard`."""
    command = compose["services"]["dashboard"]["command"]
    assert command[0] == "dashboard"
    used = {arg for arg in command[1:] if arg.startswith("--")}
    assert used <= _flags("eventlens.dashboard.cli")
    assert {"--store", "--port", "--address"} <= used
