"""W3C trace context in Kafka header lists: injection that replaces, extraction that never raises.

Header lists are kafka-python's `list[tuple[str, bytes | None]]`. Injection removes any header of the same
name before appending (as the Java agent does), so a reused list never carries two `traceparent`s and the
other headers keep their bytes and order. Extraction reads the last header of a name (Java's `lastHeader`),
and treats a null, non-UTF-8 or malformed value as absent. `baggage` values are written and read with
RFC 3986 percent-encoding, as the Java agent and kafkajs do (a space is `%20`, a bare `+` is a plus).
"""

from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

from opentelemetry import baggage, propagate
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace import (
    INVALID_SPAN_CONTEXT,
    NonRecordingSpan,
    Span,
    SpanContext,
    TraceFlags,
    TraceState,
    get_current_span,
    set_span_in_context,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from eventlens.instrumentation import _sdk_compat
from eventlens.instrumentation._consistent import context_randomness, fan_in_randomness
from eventlens.instrumentation._safety import log_once

Headers = list[tuple[str, bytes | None]]


def header_value(headers: Sequence[Any] | None, name: str) -> bytes | None:
    """The bytes of the last header called `name` (None when absent, null or the list is malformed)."""
    if not headers:
        return None
    try:
        for item in reversed(headers):
            if item[0] == name:
                value = item[1]
                return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else None
    except (TypeError, IndexError):
        return None
    return None


def header_text(headers: Sequence[Any] | None, name: str) -> str | None:
    """The last header called `name` decoded as UTF-8; None when absent, null or not valid UTF-8."""
    raw = header_value(headers, name)
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def header_attribute(headers: Sequence[Any] | None, name: str, max_chars: int) -> str | None:
    """The last header called `name` as text for a span attribute, cut to `max_chars` characters.

    Only the first `max_chars * 4` bytes are decoded (a UTF-8 character is at most 4 bytes; a character cut
    at that boundary is left out), so a 1 MiB header costs no more than a short one. None when absent, null,
    empty or not valid UTF-8 in the part read.
    """
    raw = header_value(headers, name)
    if not raw:
        return None
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(raw[:max_chars * 4], final=len(raw) <= max_chars * 4)
    except UnicodeDecodeError:
        return None
    return text[:max_chars] or None


BAGGAGE = "baggage"
MAX_BAGGAGE_BYTES = 8192
"""W3C baggage's limit per header (the SDK propagator's `_MAX_HEADER_LENGTH`): a longer one counts as absent."""
_LOG = logging.getLogger("eventlens.instrumentation")
_oversized_logged: list[bool] = []


def _oversized_baggage(size: int) -> None:
    """Say once (with the size only, never the value) that an oversized baggage header was ignored."""
    if not _oversized_logged:
        _oversized_logged.append(True)
        _LOG.warning("eventlens ignored a baggage header of %d bytes (limit %d; logged once, later ones silently)",
                     size, MAX_BAGGAGE_BYTES)


def baggage_to_wire(value: str) -> str:
    """A `baggage` value as Java, Node and Go read it: a space is `%20`, never `+`.

    OpenTelemetry Python's W3C baggage propagator encodes with `quote_plus`, so every `+` it writes stands
    for a space (a literal plus is already `%2B`); the other SDKs only percent-decode and would read a `+`.
    """
    return value.replace("+", "%20")


def baggage_from_wire(value: str) -> str:
    """A `baggage` value read as Java, Node and Go read it: a bare `+` is a plus, not a space.

    Java writes a literal `+` unencoded; Python's propagator decodes with `unquote_plus`, so escape it first.
    """
    return value.replace("+", "%2B")


class KafkaHeadersGetter(Getter[Sequence[Any]]):
    """Reads the last header of a name as text; anything unreadable counts as absent."""

    def get(self, carrier: Sequence[Any], key: str) -> list[str] | None:
        """The value of the last `key` header as a one-element list, or None.

        A `baggage` header over MAX_BAGGAGE_BYTES counts as absent: the SDK's propagator would log it whole.
        """
        if key == BAGGAGE:
            return _baggage(carrier)
        text = header_text(carrier, key)
        return None if text is None else [text]

    def keys(self, carrier: Sequence[Any]) -> list[str]:
        """The header names present (string names only)."""
        try:
            return [item[0] for item in carrier if isinstance(item[0], str)]
        except (TypeError, IndexError):
            return []


def _baggage(carrier: Sequence[Any]) -> list[str] | None:
    raw = header_value(carrier, BAGGAGE)
    if raw is None:
        return None
    if len(raw) > MAX_BAGGAGE_BYTES:
        _oversized_baggage(len(raw))
        return None
    try:
        text = baggage_from_wire(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None
    if len(text.encode("utf-8")) > MAX_BAGGAGE_BYTES:  # (`+` → `%2B` grows it)
        _oversized_baggage(len(text.encode("utf-8")))
        return None
    return [text]


class KafkaHeadersSetter(Setter[Headers]):
    """Sets a header by replacing every header of the same name, appending the new one last."""

    def set(self, carrier: Headers, key: str, value: str) -> None:
        """Replace header `key` in the list (in place) with the UTF-8 bytes of `value`."""
        for item in carrier:
            if item[0] == key:
                carrier[:] = [h for h in carrier if h[0] != key]
                break
        if key == BAGGAGE:
            value = baggage_to_wire(value)
        carrier.append((key, value.encode("utf-8")))


GETTER = KafkaHeadersGetter()
SETTER = KafkaHeadersSetter()
_TRACECONTEXT = TraceContextTextMapPropagator()


def inject(headers: Headers, context: Context | None = None) -> None:
    """Write the global propagator's fields (traceparent, tracestate, baggage) into `headers`, replacing."""
    propagate.inject(headers, context=context, setter=SETTER)


_W3C_DEFAULT: dict[int, tuple[object, Any]] = {}
_TRACEPARENT_RE: Any = None
"""The W3C propagator's own traceparent pattern; None turns the direct paths off (see `bind`)."""


def bind(pattern: Any) -> None:
    """Use the direct W3C paths with the propagator's `pattern`, or only the OpenTelemetry API when None."""
    global _TRACEPARENT_RE  # noqa: PLW0603 (rebound once per runtime build, read per message)
    _TRACEPARENT_RE = pattern
    _W3C_DEFAULT.clear()


def _w3c_baggage(textmap: object) -> Any:
    """The W3C baggage propagator when the global propagator is the SDK default (W3C tracecontext then W3C
    baggage) and the direct paths are on; else None."""
    hit = _W3C_DEFAULT.get(id(textmap))
    if hit is not None and hit[0] is textmap:
        return hit[1]
    from opentelemetry.baggage.propagation import W3CBaggagePropagator

    inner = _sdk_compat.composite_members(textmap) if _TRACEPARENT_RE is not None else None
    answer = (inner[1] if type(textmap).__name__ == "CompositePropagator" and inner is not None and len(inner) == 2
              and type(inner[0]) is TraceContextTextMapPropagator and type(inner[1]) is W3CBaggagePropagator
              else None)
    _W3C_DEFAULT.clear()
    _W3C_DEFAULT[id(textmap)] = (textmap, answer)
    return answer


def _is_w3c_default(textmap: object) -> bool:
    """True when the global propagator is the SDK default and the direct paths are on (see `_w3c_baggage`)."""
    hit = _W3C_DEFAULT.get(id(textmap))
    if hit is not None and hit[0] is textmap:
        return hit[1] is not None
    return _w3c_baggage(textmap) is not None


def inject_span(headers: Headers, span: Span) -> None:
    """Inject `span`'s context (plus the current baggage) into `headers`, replacing existing headers.

    With the default W3C propagators the traceparent is formatted directly (same bytes, less work);
    any other configured propagator is used through the OpenTelemetry API.
    """
    textmap = propagate.get_global_textmap()
    if not _is_w3c_default(textmap):
        inject(headers, set_span_in_context(span))
        return
    _inject_w3c(headers, span.get_span_context(), textmap)


def inject_span_context(headers: Headers, sc: SpanContext) -> None:
    """Inject a span context that has no span object (a span eventlens dropped itself), as `inject_span`."""
    textmap = propagate.get_global_textmap()
    if not _is_w3c_default(textmap):
        inject(headers, set_span_in_context(NonRecordingSpan(sc)))
        return
    _inject_w3c(headers, sc, textmap)


def inject_ids(headers: Headers, trace_id: int, span_id: int, flags: int, trace_state: TraceState | None, *,
               with_baggage: bool | None = None) -> None:
    """Inject the context of a span given as ids (no span context object needed), as `inject_span`.

    `with_baggage` says whether the current context carries baggage (None: look it up).
    """
    textmap = propagate.get_global_textmap()
    w3c_baggage = _w3c_baggage(textmap)
    if w3c_baggage is None:
        inject_span_context(headers, SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(flags),
                                                 trace_state=trace_state))
        return
    value = b"00-%032x-%016x-%02x" % (trace_id, span_id, flags)
    for item in headers:
        if item[0] == "traceparent":
            headers[:] = [h for h in headers if h[0] != "traceparent"]
            break
    headers.append(("traceparent", value))
    if trace_state:
        SETTER.set(headers, "tracestate", trace_state.to_header())
    if with_baggage if with_baggage is not None else baggage.get_all():
        w3c_baggage.inject(headers, setter=SETTER)


def _inject_w3c(headers: Headers, sc: SpanContext, textmap: Any) -> None:
    if not sc.is_valid:
        return
    SETTER.set(headers, "traceparent", f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{sc.trace_flags:02x}")
    if sc.trace_state:
        SETTER.set(headers, "tracestate", sc.trace_state.to_header())
    if baggage.get_all():
        _w3c_baggage(textmap).inject(headers, setter=SETTER)


def _has_header(headers: Sequence[Any], name: str) -> bool:
    try:
        return any(item[0] == name for item in headers)
    except (TypeError, IndexError):
        return True  # malformed: let the full path decide


def extract(headers: Sequence[Any] | None) -> Context:
    """The context carried by `headers` (an empty context when there is none or it cannot be read).

    With the default W3C propagators and no `baggage` header only the trace-context propagator runs
    (the baggage propagator would return the context unchanged).
    """
    if not headers:
        return Context()
    try:
        textmap = propagate.get_global_textmap()
        if _is_w3c_default(textmap) and not _has_header(headers, BAGGAGE):
            return _TRACECONTEXT.extract(headers, getter=GETTER)
        return propagate.extract(headers, getter=GETTER)
    except Exception as exc:  # a third-party propagator failing must not reach user code
        log_once("extract", exc)
        return Context()


_MAX_TRACESTATE = 512  # the W3C limit the SDK's propagator applies
_ZERO_TRACE = "0" * 32
_ZERO_TRACE_B = b"0" * 32
_ZERO_SPAN_B = b"0" * 16
# the usual form, 55 ASCII bytes: parsed without decoding (anything else goes through the propagator's pattern)
_CANONICAL = re.compile(rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_CANONICAL_LEN = 55
_ZERO_SPAN = "0" * 16
_BYTES = (bytes, bytearray, memoryview)


class _Unusual(Exception):
    """A header list the direct parser leaves to the propagators (baggage present, malformed items)."""


def _text(item: Any) -> str | None:
    """The UTF-8 text of a header item's value, None when null, not bytes or not valid UTF-8."""
    if item is None:
        return None
    value = item[1]
    if not isinstance(value, _BYTES):
        return None
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _w3c_remote(headers: Sequence[Any]) -> SpanContext:
    """The remote span context of `headers` parsed as the SDK's W3C propagator would, without a Context."""
    traceparent = tracestate = None
    for item in headers:
        name = item[0]
        if name == "traceparent":
            traceparent = item
        elif name == "tracestate":
            tracestate = item
        elif name == BAGGAGE:
            raise _Unusual
    value = traceparent[1] if traceparent is not None else None
    canonical = _CANONICAL.fullmatch(value) if type(value) is bytes and len(value) == _CANONICAL_LEN else None
    if canonical is not None:  # plain ASCII, so it decodes to a string the propagator's pattern matches the same
        version, trace_id, span_id, flags = canonical.group(1, 2, 3, 4)
        if trace_id == _ZERO_TRACE_B or span_id == _ZERO_SPAN_B or version == b"ff":
            return INVALID_SPAN_CONTEXT
    else:
        text = _text(traceparent)
        if text is None:
            return INVALID_SPAN_CONTEXT
        match = _TRACEPARENT_RE.search(text)
        if not match:
            return INVALID_SPAN_CONTEXT
        version, trace_id, span_id, flags = match.group(1, 2, 3, 4)
        if (trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN or version == "ff"
                or (version == "00" and match.group(5))):
            return INVALID_SPAN_CONTEXT
    state_text = _text(tracestate)
    state = None
    if state_text is not None:
        if len(state_text) > _MAX_TRACESTATE:
            return span_context_of(_TRACECONTEXT.extract(headers, getter=GETTER))  # (the SDK warns; let it)
        state = TraceState.from_header([state_text])
    return SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=TraceFlags(int(flags, 16)),
                       trace_state=state)


def extract_parts(headers: Sequence[Any] | None) -> tuple[SpanContext, Context | None]:
    """The creation span context in `headers`, and the extracted context when it holds more than that.

    The second item is None when the context `extract` would return holds nothing but the creation span
    (the default W3C propagators and no `baggage` header: then the traceparent is parsed directly, with
    the propagator's own pattern and rules, and no Context is built).
    """
    if not headers:
        return INVALID_SPAN_CONTEXT, None
    if _is_w3c_default(propagate.get_global_textmap()):
        try:
            return _w3c_remote(headers), None
        except (_Unusual, TypeError, IndexError):
            pass
        except Exception as exc:
            log_once("extract", exc)
            return INVALID_SPAN_CONTEXT, None
    context = extract(headers)
    return span_context_of(context), context


def batch_randomness(records: Iterable[Any]) -> int | None:
    """The largest consistent-sampling randomness among records' creation contexts (`rv`, else the trace id's
    low 56 bits); None when none carries a valid context. The answer of `fan_in_randomness` over their
    `extract_parts` contexts, read straight from canonical `traceparent`s (with no `tracestate`) without
    parsing each one: their trace ids' last 14 hex digits compare as bytes like the numbers they spell, so
    only the largest is checked and converted (all of them when it is malformed); other records are parsed."""
    if not _is_w3c_default(propagate.get_global_textmap()):
        return _parsed_randomness(records)
    top_key = b""
    top: bytes | None = None
    best = -1
    for record in records:
        headers = record.headers
        value = _lone_traceparent(headers) if headers else None
        if type(value) is bytes and len(value) == _CANONICAL_LEN:
            key = value[21:35]  # the trace id's last 14 hex digits: its low 56 bits
            if key > top_key:
                top_key, top = key, value
        elif value is not None:  # a tracestate, an unusual form or malformed headers: the full parse
            creation = extract_parts(headers)[0]
            if creation.is_valid:
                best = max(best, context_randomness(creation))
    if top is not None:
        if _valid_canonical(top):
            best = max(best, int(top_key, 16))
        else:  # the largest is malformed: the next ones may be valid, so check them all
            return _parsed_randomness(records)
    return best if best >= 0 else None


_UNUSUAL = object()


def _lone_traceparent(headers: Sequence[Any]) -> Any:
    """The last `traceparent` value of headers without a `tracestate` (None when absent); `_UNUSUAL` when
    they hold a `tracestate` or are malformed (the full parse decides)."""
    value: Any = None
    try:
        for item in headers:
            name = item[0]
            if name == "traceparent":
                value = item[1]
            elif name == "tracestate":
                return _UNUSUAL
    except (TypeError, IndexError):
        return _UNUSUAL
    return value


def _valid_canonical(value: bytes) -> bool:
    """Whether a 55-byte traceparent is a valid canonical one (lower-case hex, non-zero ids, not version ff)."""
    return (_CANONICAL.fullmatch(value) is not None and value[3:35] != _ZERO_TRACE_B
            and value[36:52] != _ZERO_SPAN_B and value[:2] != b"ff")


def _parsed_randomness(records: Iterable[Any]) -> int | None:
    """`batch_randomness` from every record's parsed creation context (the exact, slower reading)."""
    return fan_in_randomness(extract_parts(record.headers)[0] for record in records)


def span_context_of(context: Context) -> SpanContext:
    """The remote span context held by an extracted context (invalid when none)."""
    return get_current_span(context).get_span_context()


def parse_traceparent(value: str | None) -> SpanContext:
    """Parse one W3C traceparent string (e.g. a CloudEvents `ce_traceparent`); invalid when malformed."""
    if not value:
        return INVALID_SPAN_CONTEXT
    try:
        return span_context_of(_TRACECONTEXT.extract({"traceparent": value}))
    except Exception:
        return INVALID_SPAN_CONTEXT


bind(_sdk_compat.traceparent_pattern())
_sdk_compat.on_probe(lambda: bind(_sdk_compat.traceparent_pattern()))
