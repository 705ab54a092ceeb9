"""The public surface of `eventlens.instrumentation`: exactly these names, each resolving to what the docs say,
and the `opentelemetry_instrumentor` entry points naming classes their modules export."""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import entry_points

import pytest
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

import eventlens.instrumentation as package

PUBLIC = {
    "AIOKafkaInstrumentor",
    "ConfluentKafkaInstrumentor",
    "KafkaInstrumentor",
    "capture_context",
    "instrument",
    "processing",
    "restore_context",
    "send_context",
}
"""What users import from `eventlens.instrumentation` (README, docs/instrumentation.md)."""

INSTRUMENTORS = {"AIOKafkaInstrumentor", "ConfluentKafkaInstrumentor", "KafkaInstrumentor"}

ENTRY_POINTS = {
    "eventlens_kafka": "eventlens.instrumentation:KafkaInstrumentor",
    "eventlens_confluent_kafka": "eventlens.instrumentation.confluent_kafka:ConfluentKafkaInstrumentor",
    "eventlens_aiokafka": "eventlens.instrumentation.aiokafka:AIOKafkaInstrumentor",
}


def test_all_names_exactly_the_public_surface() -> None:
    """`__all__` lists these names and no others (a new public name is a deliberate change of this test)."""
    assert set(package.__all__) == PUBLIC
    assert len(package.__all__) == len(PUBLIC)


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_each_public_name_resolves(name: str) -> None:
    """Every exported name is an attribute of the package (the optional clients' instrumentors load lazily)."""
    assert getattr(package, name) is not None


def test_star_import_gives_exactly_the_public_names() -> None:
    """`from eventlens.instrumentation import *` binds the public names and nothing else."""
    namespace: dict[str, object] = {}
    exec("from eventlens.instrumentation import *", namespace)  # noqa: S102 - a fixed statement
    assert set(namespace) - {"__builtins__"} == PUBLIC


@pytest.mark.parametrize("name", sorted(INSTRUMENTORS))
def test_instrumentors_are_opentelemetry_instrumentors(name: str) -> None:
    """Each instrumentor is a `BaseInstrumentor`, as `opentelemetry-instrument` expects."""
    cls = getattr(package, name)
    assert inspect.isclass(cls) and issubclass(cls, BaseInstrumentor)


def test_callables_are_callable() -> None:
    """The one-line setup and the pattern helpers are functions."""
    for name in PUBLIC - INSTRUMENTORS:
        assert callable(getattr(package, name)), name


def test_unknown_names_raise_attribute_error() -> None:
    """The lazy loader does not invent names."""
    with pytest.raises(AttributeError):
        _ = package.NoSuchInstrumentor  # type: ignore[attr-defined]


@pytest.mark.parametrize(("name", "target"), ENTRY_POINTS.items())
def test_entry_points_load_exported_instrumentors(name: str, target: str) -> None:
    """Each installed entry point names a class its module lists in `__all__`, the same as the package's."""
    (found,) = [ep for ep in entry_points(group="opentelemetry_instrumentor") if ep.name == name]
    assert found.value == target
    module_name, _, attr = target.partition(":")
    assert attr in importlib.import_module(module_name).__all__
    assert found.load() is getattr(package, attr)
