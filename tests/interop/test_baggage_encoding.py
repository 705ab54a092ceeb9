"""eventlens reads and writes `baggage` header values as the Java agent and kafkajs do (RFC 3986 percent-encoding)."""

from __future__ import annotations

from opentelemetry import baggage
from opentelemetry.context import Context

from eventlens.instrumentation._propagation import extract, inject


def _sent(values: dict[str, str]) -> bytes | None:
    ctx = Context()
    for k, v in values.items():
        ctx = baggage.set_baggage(k, v, context=ctx)
    headers: list[tuple[str, bytes | None]] = []
    inject(headers, context=ctx)
    return dict(headers).get("baggage")


def test_a_space_is_written_as_percent_20() -> None:
    """A space in a baggage value goes on the wire as `%20`, which Java and kafkajs decode to a space."""
    assert _sent({"note": "a b"}) == b"note=a%20b"


def test_a_plus_is_written_as_percent_2b() -> None:
    """A literal `+` goes on the wire as `%2B`, read back as `+` everywhere."""
    assert _sent({"expr": "x+y"}) == b"expr=x%2By"


def test_a_bare_plus_reads_as_a_plus() -> None:
    """`k=x+y` (as the Java agent writes `x+y`) reads as `x+y`, not `x y`."""
    assert baggage.get_all(extract([("baggage", b"k=x+y")])) == {"k": "x+y"}


def test_percent_encoded_values_still_decode() -> None:
    """`%20` and `%2F` still decode to a space and a slash."""
    assert baggage.get_all(extract([("baggage", b"u=a%20b,p=a%2Fb")])) == {"u": "a b", "p": "a/b"}
