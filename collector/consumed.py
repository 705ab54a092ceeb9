"""Which produced messages a consumer span stands for, and how many; pure.

One rule for the rollups (so topology and coupling) and for lineage, so that they count a batch alike. A
consumer span's creation contexts are its parent when that is a send, plus every link naming a consumed
record; a CloudEvents origin link (`eventlens.link.kind = cloudevents.origin`) names where the event's story
began, not a record consumed, so it is not one. The span handled one message per creation context, or
`messaging.batch.message_count` messages when that is larger (records that carried no context), and at
least one: a batch `process` span linking three sends (confluent-kafka `consume()`, aiokafka `getmany`,
Spring batch listeners, the Java agent) is three messages, one per producer. A CONSUMER span with no
messaging attribute and no link (upstream confluent-kafka's empty `recv`) is no consumer span at all.
"""

from __future__ import annotations

from eventlens.collector.model import Messaging, SpanRecord
from eventlens.instrumentation.attributes import LINK_KIND

SpanKey = tuple[str, str]
"""(trace id, span id)."""

NOT_AN_INPUT_LINK_KINDS = frozenset({"cloudevents.origin"})
"""`eventlens.link.kind` values of links that do not name a consumed record."""


_NO_MESSAGING = Messaging()


def consumes_nothing(span: SpanRecord) -> bool:
    """A span with no messaging attribute and no link, e.g. upstream confluent-kafka's empty CONSUMER `recv`
    span (started before any record is read): it stands for no message, whatever its kind."""
    return not span.links and span.messaging == _NO_MESSAGING


def creation_links(span: SpanRecord) -> tuple[SpanKey, ...]:
    """The span's links naming a consumed record's creation context, in order, each once."""
    links = span.links
    if not links:  # most consumer spans: runs for every one at ingest
        return ()
    out: dict[SpanKey, None] = {}
    for link in links:
        if link.attributes and link.attributes.get(LINK_KIND) in NOT_AN_INPUT_LINK_KINDS:
            continue
        out[(link.trace_id, link.span_id)] = None
    return tuple(out)


def message_count(span: SpanRecord, contexts: int) -> int:
    """Messages a consumer span handled, given how many creation contexts it names: the larger of that and
    `messaging.batch.message_count`, and at least one."""
    return max(1, contexts, span.messaging.batch_count or 0)
