-- eventlens storage schema (SQLite). Applied with IF NOT EXISTS on every open; version in `meta`.
-- Ids are kept as text for exact round trips; the indexes use integer keys derived from them (see _rows.py).

CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

-- Raw spans. trace_k = trace id's 64-bit halves XOR-folded, span_k = span id (both signed 64-bit).
CREATE TABLE IF NOT EXISTS spans (
    trace_k INTEGER NOT NULL,
    span_k INTEGER NOT NULL,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT,
    name TEXT NOT NULL,
    kind INTEGER NOT NULL,
    service TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    status INTEGER NOT NULL,
    status_message TEXT NOT NULL,
    scope TEXT NOT NULL,
    links TEXT,
    -- The attribute values, as a JSON array in the order of the key sequence `attr_keys_id` names (see below).
    attributes TEXT,
    attr_keys_id INTEGER,
    resource_id INTEGER NOT NULL,
    m_topic TEXT,
    m_partition INTEGER,
    m_offset INTEGER,
    m_key TEXT,
    m_event_id TEXT,
    m_body_size INTEGER,
    -- The Messaging fields no query filters on, as one JSON array (see _rows.MORE_FIELDS); NULL when all are None.
    m_more TEXT
);
-- Span keys → row: idempotence (one row per trace_k, span_k) and trace lookups. Not an index on `spans`: a key
-- lands on a random page of a growing B-tree, so each transaction dirtied (and, after another writer process's
-- commit, re-read) about one page per span. New keys go to the small `span_ids_new` and are merged into
-- `span_ids` in key order (SQLiteStore.id_stage_rows at a time); reads go through the `span_keys` view of both.
CREATE TABLE IF NOT EXISTS span_ids (
    trace_k INTEGER NOT NULL,
    span_k INTEGER NOT NULL,
    rid INTEGER NOT NULL,
    PRIMARY KEY (trace_k, span_k)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS span_ids_new (
    trace_k INTEGER NOT NULL,
    span_k INTEGER NOT NULL,
    rid INTEGER NOT NULL,
    PRIMARY KEY (trace_k, span_k)
) WITHOUT ROWID;
CREATE VIEW IF NOT EXISTS span_keys AS
    SELECT trace_k, span_k, rid FROM span_ids UNION ALL SELECT trace_k, span_k, rid FROM span_ids_new;
CREATE INDEX IF NOT EXISTS spans_start ON spans (start_ns);
-- Offsets grow per partition, so this index is written near its end (cheap), unlike random keys.
CREATE INDEX IF NOT EXISTS spans_record ON spans (m_topic, m_partition, m_offset) WHERE m_offset IS NOT NULL;

-- Event id / message key lookups: 32-bit hash of the value → trace key, one row per (value, trace), so the
-- send span and the process spans parented on it share one row. Queries re-check the values on the spans.
CREATE TABLE IF NOT EXISTS msg_keys (
    h INTEGER NOT NULL,
    trace_k INTEGER NOT NULL,
    minute INTEGER NOT NULL,
    PRIMARY KEY (h, trace_k)
) WITHOUT ROWID;
-- New lookup keys are appended here (no index: finds scan it) and merged into msg_keys in sorted batches
-- (SQLiteStore.key_stage_rows rows at a time), so ingest writes each msg_keys page once per merge, not once per row.
CREATE TABLE IF NOT EXISTS msg_keys_new (
    h INTEGER NOT NULL,
    trace_k INTEGER NOT NULL,
    minute INTEGER NOT NULL
);

-- Attribute key sequences, content-addressed: spans of one instrumentation share their keys, so each span
-- row keeps only the values (about half the bytes of a span row).
CREATE TABLE IF NOT EXISTS attr_keys (
    id INTEGER PRIMARY KEY,
    keys TEXT NOT NULL
);

-- Resource attributes, content-addressed (spans of one process share one row).
CREATE TABLE IF NOT EXISTS resources (
    id INTEGER PRIMARY KEY,
    attributes TEXT NOT NULL
);

-- Reverse index of span links, for "who consumed this message" (spans_linking_to).
CREATE TABLE IF NOT EXISTS span_links (
    target_trace_k INTEGER NOT NULL,
    target_span_k INTEGER NOT NULL,
    src_trace_k INTEGER NOT NULL,
    src_span_k INTEGER NOT NULL,
    start_ns INTEGER NOT NULL,
    PRIMARY KEY (target_trace_k, target_span_k, src_trace_k, src_span_k)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS services (
    service TEXT PRIMARY KEY
);

-- Per-minute edge rollups; '' stands for None in producer, grp and consumer. b0..b18: latency histogram.
CREATE TABLE IF NOT EXISTS edge_minutes (
    minute INTEGER NOT NULL,
    producer TEXT NOT NULL,
    topic TEXT NOT NULL,
    grp TEXT NOT NULL,
    consumer TEXT NOT NULL,
    count INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    latency_sum_s REAL NOT NULL,
    b0 INTEGER NOT NULL DEFAULT 0,
    b1 INTEGER NOT NULL DEFAULT 0,
    b2 INTEGER NOT NULL DEFAULT 0,
    b3 INTEGER NOT NULL DEFAULT 0,
    b4 INTEGER NOT NULL DEFAULT 0,
    b5 INTEGER NOT NULL DEFAULT 0,
    b6 INTEGER NOT NULL DEFAULT 0,
    b7 INTEGER NOT NULL DEFAULT 0,
    b8 INTEGER NOT NULL DEFAULT 0,
    b9 INTEGER NOT NULL DEFAULT 0,
    b10 INTEGER NOT NULL DEFAULT 0,
    b11 INTEGER NOT NULL DEFAULT 0,
    b12 INTEGER NOT NULL DEFAULT 0,
    b13 INTEGER NOT NULL DEFAULT 0,
    b14 INTEGER NOT NULL DEFAULT 0,
    b15 INTEGER NOT NULL DEFAULT 0,
    b16 INTEGER NOT NULL DEFAULT 0,
    b17 INTEGER NOT NULL DEFAULT 0,
    b18 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, producer, topic, grp, consumer)
);

CREATE TABLE IF NOT EXISTS schema_minutes (
    minute INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    service TEXT NOT NULL,
    role TEXT NOT NULL,
    topic TEXT NOT NULL,
    first_seen_ns INTEGER NOT NULL,
    last_seen_ns INTEGER NOT NULL,
    count INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    PRIMARY KEY (minute, event_type, fingerprint, service, role, topic)
);

-- Consumptions waiting for their producer span (see collector/rollup.py).
CREATE TABLE IF NOT EXISTS pending (
    p_span_k INTEGER NOT NULL,
    p_trace_id TEXT NOT NULL,
    p_span_id TEXT NOT NULL,
    consumer TEXT NOT NULL,
    grp TEXT,
    topic TEXT,
    consumed_ns INTEGER NOT NULL,
    error INTEGER NOT NULL,
    body_size INTEGER,
    seen_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_key ON pending (p_span_k);
CREATE INDEX IF NOT EXISTS pending_seen ON pending (seen_ns);

-- (consumer service, group or '') seen emitting process spans: their receive spans are not counted.
CREATE TABLE IF NOT EXISTS process_emitters (
    service TEXT NOT NULL,
    grp TEXT NOT NULL,
    PRIMARY KEY (service, grp)
);

-- Receive/poll spans counted message by message while their (service, group) emitted no process spans; when
-- it emits its first one, what they counted is retracted (collector/rollup.py). Kept for the pending TTL.
CREATE TABLE IF NOT EXISTS receive_counted (
    service TEXT NOT NULL,
    grp TEXT NOT NULL,
    trace_k INTEGER NOT NULL,
    span_k INTEGER NOT NULL,
    seen_ns INTEGER NOT NULL,
    PRIMARY KEY (service, grp, trace_k, span_k)
);
CREATE INDEX IF NOT EXISTS receive_counted_seen ON receive_counted (seen_ns);

CREATE TABLE IF NOT EXISTS lag_samples (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    part INTEGER NOT NULL,
    committed_offset INTEGER,
    end_offset INTEGER NOT NULL,
    observed_at_ns INTEGER NOT NULL,
    lag_seconds REAL,
    lag_seconds_estimated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS lag_group_time ON lag_samples (grp, observed_at_ns);
CREATE INDEX IF NOT EXISTS lag_time ON lag_samples (observed_at_ns);

-- Input that can never be stored (e.g. a Kafka record that is not OTLP), parked with its raw bytes so nothing is
-- lost silently; see docs/collector.md, "Bad input and memory".
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    received_ns INTEGER NOT NULL,
    source TEXT NOT NULL,
    topic TEXT,
    part INTEGER,
    off INTEGER,
    reason TEXT NOT NULL,
    payload BLOB NOT NULL
);

-- Alerting (docs/storage.md, "Alerting tables"). Added with IF NOT EXISTS, so a store of schema version 3 made
-- before them gets them on open, without a version change.
-- Alert state transitions: (rule, fingerprint of the label set) names an alert; a retried write is stored once.
CREATE TABLE IF NOT EXISTS alert_transitions (
    id INTEGER PRIMARY KEY,
    rule TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    labels TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    at_ns INTEGER NOT NULL,
    value REAL,
    annotations TEXT NOT NULL,
    UNIQUE (rule, fingerprint, at_ns, to_state)
);
CREATE INDEX IF NOT EXISTS alert_transitions_at ON alert_transitions (at_ns);

-- The latest state of each alert, moved forward in the transaction that records its transitions.
CREATE TABLE IF NOT EXISTS alert_states (
    rule TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    labels TEXT NOT NULL,
    state TEXT NOT NULL,
    since_ns INTEGER NOT NULL,
    value REAL,
    annotations TEXT NOT NULL,
    PRIMARY KEY (rule, fingerprint)
);

-- Notification outbox: one row per (receiver, idempotency key); unsent rows are due at next_attempt_ns.
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY,
    receiver TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at_ns INTEGER NOT NULL,
    next_attempt_ns INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    sent_at_ns INTEGER,
    UNIQUE (receiver, idem_key)
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (next_attempt_ns) WHERE sent_at_ns IS NULL;
CREATE INDEX IF NOT EXISTS notifications_created ON notifications (created_at_ns);

-- Leases ("one evaluator at a time"): a named lease is held by one holder until expires_ns.
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_ns INTEGER NOT NULL
);
