"""Property: whatever header list a user sends, every client's send wrapper passes it on intact plus one
`traceparent`, and never raises, on the sampled and the unsampled path.

Driven without a broker (stub send calls), for kafka-python's `send`, confluent-kafka's `produce` (headers as
a list and as a dict) and aiokafka's `send`. A user's own `traceparent` is replaced (injection replaces);
every other header keeps its name, value and place.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.future import Future
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON
from test_headers_property import header_lists

from eventlens.instrumentation import _aiokafka, _confluent, _kafka_python, _safety
from eventlens.instrumentation._runtime import Options, Runtime

RUNTIMES = {name: Runtime.build(TracerProvider(sampler=sampler), None, Options(metrics=False))
            for name, sampler in (("sampled", ALWAYS_ON), ("unsampled", ALWAYS_OFF))}


def _expected_prefix(headers: list[tuple[str, bytes | None]]) -> list[tuple[str, bytes | None]]:
    return [h for h in headers if h[0] != "traceparent"]


def _check(user: list[tuple[str, bytes | None]], sent: list[tuple[str, bytes | None]]) -> None:
    assert sent[:-1] == _expected_prefix(user)
    name, value = sent[-1]
    assert name == "traceparent" and value is not None and len(value.split(b"-")) == 4


def _kafka_python_send(runtime: Runtime, headers: list[tuple[str, bytes | None]]) -> list[tuple[str, bytes | None]]:
    seen: dict[str, Any] = {}

    def wrapped(*args: Any, **kwargs: Any) -> Future:
        seen["headers"] = list(kwargs["headers"])
        return Future()

    _kafka_python.make_send_wrapper(runtime)(wrapped, SimpleNamespace(config={}), ("t", b"v"),
                                             {"headers": list(headers)})
    return seen["headers"]


def _confluent_produce(runtime: Runtime, headers: Any) -> list[tuple[str, bytes | None]]:
    seen: dict[str, Any] = {}

    def parent(_instance: Any, _topic: str, _value: Any, _key: Any, **call: Any) -> None:
        seen["headers"] = list(call["headers"])

    _confluent.produce(runtime, SimpleNamespace(), parent, ("t", b"v"), {"headers": headers})
    return seen["headers"]


def _aiokafka_send(runtime: Runtime, headers: list[tuple[str, bytes | None]]) -> list[tuple[str, bytes | None]]:
    seen: dict[str, Any] = {}

    async def run() -> None:
        async def wrapped(*_args: Any, **kwargs: Any) -> asyncio.Future[Any]:
            seen["headers"] = list(kwargs["headers"])
            return asyncio.get_running_loop().create_future()

        await _aiokafka.make_send_wrapper(runtime)(wrapped, SimpleNamespace(client=None), ("t", b"v"),
                                                   {"headers": list(headers)})

    asyncio.run(run())
    return seen["headers"]


@pytest.mark.parametrize("path", sorted(RUNTIMES))
@settings(max_examples=40, deadline=None)
@given(headers=header_lists)
def test_send_passes_any_header_list_on_with_one_traceparent(path: str, headers: list[tuple[str, bytes | None]]):
    """Every client's send hands the client the user's headers (own `traceparent` replaced) plus one
    `traceparent`, with no internal error."""
    errors_before = set(_safety._logged)
    runtime = RUNTIMES[path]
    for send in (_kafka_python_send, _confluent_produce, _aiokafka_send):
        _check(headers, send(runtime, headers))
    assert set(_safety._logged) == errors_before, "the instrumentation hit an internal error"


@pytest.mark.parametrize("path", sorted(RUNTIMES))
@settings(max_examples=40, deadline=None)
@given(headers=st.dictionaries(st.text(max_size=12), st.none() | st.binary(max_size=40), max_size=6))
def test_confluent_produce_takes_any_header_dict(path: str, headers: dict[str, bytes | None]):
    """confluent-kafka's `produce` with headers as a dict: its pairs, in order, plus one `traceparent`."""
    errors_before = set(_safety._logged)
    _check(list(headers.items()), _confluent_produce(RUNTIMES[path], dict(headers)))
    assert set(_safety._logged) == errors_before, "the instrumentation hit an internal error"
