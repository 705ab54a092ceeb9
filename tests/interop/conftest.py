"""Fixtures for the interop tests: the built Java and Node services and an OTLP capture receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from interop.build import JavaBuild, NodeBuild, build_java, build_node
from interop.otlp_capture import OtlpCapture


@pytest.fixture(scope="session")
def java_build() -> JavaBuild:
    """The Java service, built once per session (skipped when unchanged since the last build)."""
    return build_java()


@pytest.fixture(scope="session")
def node_build() -> NodeBuild:
    """The Node service, installed once per session (skipped when unchanged since the last install)."""
    return build_node()


@pytest.fixture(scope="module")
def otlp_capture() -> Iterator[OtlpCapture]:
    """An OTLP/HTTP receiver keeping what the services export."""
    capture = OtlpCapture().start()
    yield capture
    capture.stop()
