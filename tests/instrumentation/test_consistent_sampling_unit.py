"""Consistent probability sampling (`ot=th:…;rv:…`): the specification's examples, the sampler, its fast path."""

from __future__ import annotations

import random

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags, TraceState

from eventlens.instrumentation import _consistent as c
from eventlens.instrumentation._sampling import FastSampling
from eventlens.instrumentation.patterns import send_context
from eventlens.instrumentation.sampling import ConsistentProbabilitySampler, consistent_sampler
from eventlens.instrumentation.setup import sampler_from_env

# The specification's table "1-in-N probability sampling", precision 3, 4 and 5.
SPEC_TABLE = [
    (1.0, ("0", "0", "0")),
    (0.5, ("8", "8", "8")),
    (1 / 3, ("aab", "aaab", "aaaab")),
    (0.25, ("c", "c", "c")),
    (0.2, ("ccd", "cccd", "ccccd")),
    (0.125, ("e", "e", "e")),
    (0.1, ("e66", "e666", "e6666")),
    (0.0625, ("f", "f", "f")),
    (0.01, ("fd71", "fd70a", "fd70a4")),
    (0.001, ("ffbe7", "ffbe77", "ffbe76d")),
    (0.0001, ("fff972", "fff9724", "fff97247")),
    (0.00001, ("ffff584", "ffff583a", "ffff583a5")),
    (0.000001, ("ffffef4", "ffffef39", "ffffef391")),
]


@pytest.mark.parametrize(("probability", "expected"), SPEC_TABLE)
def test_threshold_for_probability_matches_the_specification_table(probability, expected):
    """`th` for 1-in-N sampling at precision 3, 4 and 5 is the specification's table's."""
    assert tuple(c.th_for_probability(probability, precision) for precision in (3, 4, 5)) == expected


@pytest.mark.parametrize(("th", "adjusted"), [("0", 1.0), ("8", 2.0), ("c", 4.0), ("e", 8.0), ("f", 16.0),
                                              ("e666", 9.99938968568813), ("fd70a", 99.99771123402633),
                                              ("fd70a4", 100.00009536752259)])
def test_adjusted_count_of_a_threshold(th, adjusted):
    """Adjusted count = 2^56 / (2^56 - T), as in the specification's table."""
    threshold = c.parse_th(th)
    assert threshold is not None
    assert c.adjusted_count(threshold) == pytest.approx(adjusted, rel=1e-12)
    assert c.probability(threshold) == pytest.approx(1 / adjusted, rel=1e-12)


def test_th_is_zero_extended_to_56_bits_and_formatted_without_trailing_zeros():
    """`th:fd70a4` is 0xfd70a400000000 (the specification's 1% example) and formats back to `fd70a4`."""
    assert c.parse_th("fd70a4") == 0xfd70a400000000
    assert c.parse_th("fd70a4") == 71337018784743424
    assert c.format_th(0xfd70a400000000) == "fd70a4"
    assert c.format_th(0) == "0" and c.parse_th("0") == 0


@pytest.mark.parametrize("bad", ["", "123456789abcdef", "g", "C0", "-1"])
def test_malformed_th_is_rejected(bad):
    """Only 1 to 14 lowercase hex digits are a threshold."""
    assert c.parse_th(bad) is None


@pytest.mark.parametrize(("rv", "expected"), [("c0000000000000", 0xc0000000000000), ("c000000000000", None),
                                              ("c00000000000000", None), ("x0000000000000", None)])
def test_rv_is_exactly_14_hex_digits(rv, expected):
    """`rv` carries 56 bits as exactly 14 hex digits."""
    assert c.parse_rv(rv) == expected


@pytest.mark.parametrize(("rv", "th", "keep"), [
    ("c0000000000000", "c", True), ("bfffffffffffff", "c", False), ("00000000000000", "0", True),
    ("ffffffffffffff", "ffffffffffffff", True), ("fd70a3ffffffff", "fd70a4", False),
    ("fd70a400000000", "fd70a4", True)])
def test_kept_iff_randomness_at_least_threshold(rv, th, keep):
    """The decision: keep iff R >= T (th:0 keeps everything)."""
    assert c.kept(c.parse_rv(rv), c.parse_th(th)) is keep


def test_randomness_is_rv_else_the_trace_ids_low_56_bits():
    """Explicit `rv` overrides the trace id; otherwise the least significant 7 bytes of the trace id count."""
    trace_id = 0x0123456789abcdef_0011223344556677
    assert c.randomness(trace_id, None) == 0x11223344556677
    assert c.randomness(trace_id, TraceState([("ot", "th:8")])) == 0x11223344556677
    assert c.randomness(trace_id, TraceState([("ot", "rv:ab000000000000;th:8")])) == 0xab000000000000


def test_ot_sub_keys_and_other_vendors_are_kept():
    """Rewriting `th` keeps other `ot` sub-keys and other vendors' entries; `ot` moves to the front."""
    state = TraceState([("vendor", "v1"), ("ot", "th:8;foo:bar;rv:11223344556677")])
    ot = c.ot_of(state)
    assert ot == c.OtValue(th=0x80000000000000, rv=0x11223344556677, rest=(("foo", "bar"),))
    updated = c.with_ot(state, c.OtValue(th=0xc0000000000000, rv=ot.rv, rest=ot.rest))
    assert list(updated.items()) == [("ot", "rv:11223344556677;th:c;foo:bar"), ("vendor", "v1")]
    assert list(c.with_ot(state, c.OtValue()).items()) == [("vendor", "v1")]


def test_fan_in_randomness_is_the_largest_input_randomness():
    """A trace started from several inputs takes the largest of their randomness values."""
    inputs = [SpanContext(0x10 << 64 | 0x05, 1, True), SpanContext(0x20 << 64 | 0x30, 2, True),
              SpanContext(7, 3, True, trace_state=TraceState([("ot", "rv:00000000000009")]))]
    assert c.fan_in_randomness(inputs) == 0x30
    assert c.fan_in_randomness([trace.INVALID_SPAN_CONTEXT]) is None


def _ctx(sc: SpanContext):
    return trace.set_span_in_context(NonRecordingSpan(sc))


def _parent(sampled: bool, trace_id: int, state: TraceState | None = None) -> SpanContext:
    return SpanContext(trace_id, 0x1234, is_remote=True, trace_flags=TraceFlags(0x03 if sampled else 0x02),
                       trace_state=state or TraceState([("vendor", "x")]))


SAMPLER = ConsistentProbabilitySampler(0.25)  # th:c


def test_root_is_kept_iff_trace_randomness_reaches_the_threshold_and_records_th():
    """A root: kept iff the trace id's low 56 bits >= T, with `ot=th:c` in the kept span's trace state."""
    kept = SAMPLER.should_sample(None, 0xc0000000000000, "x")
    dropped = SAMPLER.should_sample(None, 0xbfffffffffffff, "x")
    assert kept.decision.is_sampled() and kept.trace_state is not None and kept.trace_state.get("ot") == "th:c"
    assert not dropped.decision.is_sampled() and not dropped.trace_state


def test_children_follow_the_parent_and_keep_its_trace_state():
    """Parent-based: the parent's sampled flag decides; th, rv and other vendors propagate unchanged."""
    state = TraceState([("ot", "rv:f0000000000000;th:c"), ("vendor", "x")])
    kept = SAMPLER.should_sample(_ctx(_parent(True, 5, state)), 5, "x")
    assert kept.decision.is_sampled() and kept.trace_state == state
    dropped = SAMPLER.should_sample(_ctx(_parent(False, 0xf0000000000000, state)), 1, "x")
    assert not dropped.decision.is_sampled() and dropped.trace_state == state


def test_an_inconsistent_parent_threshold_is_erased():
    """A sampled parent whose th its randomness does not reach: the child keeps the flag but drops `th`."""
    state = TraceState([("ot", "th:c;foo:bar")])
    result = SAMPLER.should_sample(_ctx(_parent(True, 0x01, state)), 0x01, "x")
    assert result.decision.is_sampled() and result.trace_state is not None
    assert result.trace_state.get("ot") == "foo:bar"


def test_a_root_linking_inputs_takes_their_largest_randomness_as_rv():
    """Fan-in: a new root with links is kept iff the largest link randomness >= T, and carries it as `rv`."""
    low, high = SpanContext(0x01, 1, True), SpanContext(0xd0000000000000, 2, True)
    kept = SAMPLER.should_sample(None, 0x01, "batch", links=[Link(low), Link(high)])
    assert kept.decision.is_sampled() and kept.trace_state is not None
    assert kept.trace_state.get("ot") == "rv:d0000000000000;th:c"
    dropped = SAMPLER.should_sample(None, 0xffffffffffffff, "batch", links=[Link(low)])
    assert not dropped.decision.is_sampled() and dropped.trace_state is not None
    assert dropped.trace_state.get("ot") == "rv:00000000000001"


def test_fan_in_keeps_the_output_whenever_an_input_at_the_same_or_lower_rate_was_kept():
    """For random inputs kept at 25% or 10%, the 25% fan-in output is kept exactly when one of them was."""
    rng = random.Random(3)
    low_rate = ConsistentProbabilitySampler(0.1)
    for _ in range(500):
        inputs = [SpanContext(rng.getrandbits(128) or 1, 1, True) for _ in range(rng.randint(1, 8))]
        out = SAMPLER.should_sample(None, rng.getrandbits(128), "b", links=[Link(sc) for sc in inputs])
        any_kept = any(SAMPLER.should_sample(None, sc.trace_id, "x").decision.is_sampled() for sc in inputs)
        assert out.decision.is_sampled() is any_kept
        if any(low_rate.should_sample(None, sc.trace_id, "x").decision.is_sampled() for sc in inputs):
            assert out.decision.is_sampled()


@pytest.mark.parametrize("options", [{"dead_letter": True}, {"retry_attempt": 2}, {"reason": "bad payload"}])
def test_dead_letter_retry_and_error_sends_are_always_kept(options):
    """Under an unsampled parent, a dead-letter, retry or error send is kept with `th:0` (adjusted count 1)."""
    parent = _ctx(_parent(False, 0x01))
    with send_context(**options):
        result = SAMPLER.should_sample(parent, 0x01, "send t", kind=SpanKind.PRODUCER)
        other = SAMPLER.should_sample(parent, 0x01, "process t", kind=SpanKind.CONSUMER)
    assert result.decision.is_sampled() and result.trace_state is not None
    assert result.trace_state.get("ot") == "th:0" and result.trace_state.get("vendor") == "x"
    assert not other.decision.is_sampled()


def test_a_send_while_handling_an_exception_is_kept():
    """An error known at send time (an exception being handled) keeps the send."""
    try:
        raise ValueError("boom")
    except ValueError:
        result = SAMPLER.should_sample(None, 0x01, "send t", kind=SpanKind.PRODUCER)
    assert result.decision.is_sampled()
    assert not SAMPLER.should_sample(None, 0x01, "send t", kind=SpanKind.PRODUCER).decision.is_sampled()


def test_always_keep_rules_can_be_turned_off():
    """keep_dead_letters/keep_retries/keep_errors=False: those sends follow the probability rule."""
    sampler = ConsistentProbabilitySampler(0.25, keep_dead_letters=False, keep_retries=False, keep_errors=False)
    with send_context(dead_letter=True, retry_attempt=1, reason="x"):
        assert not sampler.should_sample(None, 0x01, "send t", kind=SpanKind.PRODUCER).decision.is_sampled()


def _fast(sampler: ConsistentProbabilitySampler) -> tuple[trace.Tracer, FastSampling]:
    tracer = TracerProvider(sampler=sampler).get_tracer("t")
    fast = FastSampling.for_tracer(tracer)
    assert fast is not None
    return tracer, fast


def test_fast_path_agrees_with_the_sdk_for_children():
    """eventlens' own decision gives the SDK's flags and trace state under random parents."""
    tracer, fast = _fast(SAMPLER)
    rng = random.Random(11)
    for _ in range(300):
        ot = rng.choice(["th:c", "rv:e0000000000000;th:c", "th:0", None])
        state = TraceState([("ot", ot)] if ot else [("vendor", "x")])
        parent = _parent(rng.random() < 0.5, rng.getrandbits(128) or 1, state)
        for send in (False, True):
            with send_context(dead_letter=rng.random() < 0.3):
                ids = fast.decide(parent, send)
                sdk = tracer.start_span("x", context=_ctx(parent),
                                        kind=SpanKind.PRODUCER if send else SpanKind.CONSUMER)
            assert ids is not None
            theirs = sdk.get_span_context()
            assert (ids[0], ids[2], ids[3]) == (theirs.trace_id, int(theirs.trace_flags), theirs.trace_state)


def test_fast_path_roots_agree_with_the_sdk():
    """A root decided by eventlens is kept iff the SDK, given the same trace id, keeps it; same trace state."""
    fast = _fast(SAMPLER)[1]
    kept = 0
    for _ in range(300):
        ids = fast.decide(trace.INVALID_SPAN_CONTEXT)
        assert ids is not None
        result = SAMPLER.should_sample(None, ids[0], "x")
        assert bool(ids[2] & 0x01) is result.decision.is_sampled() and ids[3] == result.trace_state
        kept += bool(ids[2] & 0x01)
    assert 30 < kept < 130


def test_entry_point_builds_the_sampler_from_the_environment(monkeypatch):
    """`OTEL_TRACES_SAMPLER=eventlens_consistent` and `OTEL_TRACES_SAMPLER_ARG=0.01` select it at 1%."""
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "eventlens_consistent")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.01")
    sampler = sampler_from_env()
    assert isinstance(sampler, ConsistentProbabilitySampler)
    assert sampler.threshold == c.parse_th("fd70a")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    assert sampler_from_env() is None


def test_factory_falls_back_to_always_for_a_missing_or_bad_argument():
    """No or an invalid `OTEL_TRACES_SAMPLER_ARG` gives ratio 1.0, as the SDK's ratio samplers do."""
    assert consistent_sampler(None).threshold == 0
    assert consistent_sampler("nope").threshold == 0
    assert consistent_sampler("0.5").threshold == 0x80000000000000


def test_a_cloudevents_origin_link_is_not_an_input():
    """A link marked `eventlens.link.kind` (a CloudEvent's origin) gives no randomness; record links do."""
    origin = Link(SpanContext(0xf0000000000000, 1, True), {"eventlens.link.kind": "cloudevents.origin"})
    record = Link(SpanContext(0x01, 2, True), {"messaging.kafka.offset": 3})
    result = SAMPLER.should_sample(None, 0xffffffffffffff, "process t", links=[origin, record])
    assert not result.decision.is_sampled()
    assert result.trace_state is not None and result.trace_state.get("ot") == "rv:00000000000001"


def test_fast_path_link_only_process_spans_take_the_records_randomness_like_the_sdk():
    """A process span that only links to its record (process_parent=False): the fast decision uses the
    record's randomness, as the SDK hook does with the link it is handed."""
    fast = _fast(SAMPLER)[1]
    rng = random.Random(5)
    for _ in range(200):
        creation = SpanContext(rng.getrandbits(128) or 1, 7, True, trace_flags=TraceFlags(0x03))
        ids = fast.decide(trace.INVALID_SPAN_CONTEXT, False, creation)
        assert ids is not None
        result = SAMPLER.should_sample(None, ids[0], "process t", links=[Link(creation)])
        assert bool(ids[2] & 0x01) is result.decision.is_sampled() and ids[3] == result.trace_state


def test_batch_randomness_from_headers_matches_the_parsed_contexts():
    """The header shortcut gives the largest randomness of the records' parsed creation contexts, skipping
    records without a valid context and honouring `rv` in a tracestate."""
    from types import SimpleNamespace

    from eventlens.instrumentation._propagation import batch_randomness, extract_parts

    rng = random.Random(9)
    variants = [
        lambda t: [("traceparent", b"00-%032x-00f067aa0ba902b7-01" % t)],
        lambda t: [("traceparent", b"00-%032x-00f067aa0ba902b7-00" % t),
                   ("tracestate", b"ot=rv:%014x" % (t & 0xffff))],
        lambda t: [("traceparent", b"00-%032x-0000000000000000-01" % t)],  # invalid span id
        lambda t: [("traceparent", b"garbage")],
        lambda t: [],
        lambda t: [("traceparent", f"00-{t:032x}-00f067aa0ba902b7-01".encode()), ("baggage", b"k=v")],
    ]
    for _ in range(200):
        records = [SimpleNamespace(headers=rng.choice(variants)(rng.getrandbits(128) or 1))
                   for _ in range(rng.randint(1, 6))]
        expected = c.fan_in_randomness(extract_parts(r.headers)[0] for r in records)
        assert batch_randomness(records) == expected


def test_batch_randomness_skips_a_malformed_traceparent_whose_trace_id_sorts_highest():
    """Only the largest canonical trace id is checked on the shortcut: when it is malformed (non-hex digits,
    zero span id, version ff) the valid records below it still give the answer."""
    from types import SimpleNamespace

    from eventlens.instrumentation._propagation import batch_randomness

    def record(traceparent: bytes) -> SimpleNamespace:
        return SimpleNamespace(headers=[("traceparent", traceparent)])

    valid = record(b"00-%032x-00f067aa0ba902b7-01" % 0x1234)
    for malformed in (b"00-" + b"0" * 18 + b"zzzzzzzzzzzzzz-00f067aa0ba902b7-01",
                      b"00-%032x-0000000000000000-01" % (c.MASK - 1),
                      b"ff-%032x-00f067aa0ba902b7-01" % (c.MASK - 1)):
        assert batch_randomness([record(malformed), valid, record(malformed)]) == 0x1234
    assert batch_randomness([record(b"00-" + b"0" * 18 + b"zzzzzzzzzzzzzz-00f067aa0ba902b7-01")]) is None


def test_a_batch_randomness_is_read_once_even_after_its_poll_span_keeps_its_links(monkeypatch):
    """The poll span's decision reads the batch; keeping the links its span computed does not make the send
    after it read the records again."""
    from types import SimpleNamespace

    from eventlens.instrumentation import _batch, _propagation

    records = [SimpleNamespace(headers=[("traceparent", b"00-%032x-00f067aa0ba902b7-01" % 0x42)],
                               partition=0, offset=0)]
    _batch.open_batch(records)
    try:
        assert _batch.pending_batch_randomness() == 0x42
        _batch.keep_batch_links(_batch.batch_links(records))
        monkeypatch.setattr(_propagation, "batch_randomness", lambda _records: pytest.fail("read twice"))
        monkeypatch.setattr(_batch, "fan_in_randomness", lambda _contexts: pytest.fail("read twice"))
        assert _batch.pending_batch_randomness() == 0x42
    finally:
        _batch.open_batch(None)
