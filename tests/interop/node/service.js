'use strict';
// eventlens interop test service: plain kafkajs code, traced only by @opentelemetry/instrumentation-kafkajs.
//
// Modes: `produce <topic> <n> [--baggage k=v]...`, `relay <in> <out> <group> <n>` (eachMessage: consume,
// and produce one record per record while handling it), `consume <topic> <group> <n>`.
// Broker from KAFKA_BOOTSTRAP_SERVERS; OTLP/HTTP protobuf to OTEL_EXPORTER_OTLP_ENDPOINT; gives up after
// INTEROP_TIMEOUT_S seconds (exit 2). Prints one JSON line per record: what it sent or what it saw.

const { context, diag, DiagConsoleLogger, DiagLogLevel, propagation, trace } = require('@opentelemetry/api');

if (process.env.OTEL_LOG_LEVEL) {
  diag.setLogger(new DiagConsoleLogger(), DiagLogLevel[process.env.OTEL_LOG_LEVEL.toUpperCase()] ?? DiagLogLevel.INFO);
}
const { NodeTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { defaultResource, resourceFromAttributes } = require('@opentelemetry/resources');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { KafkaJsInstrumentation } = require('@opentelemetry/instrumentation-kafkajs');

const provider = new NodeTracerProvider({
  resource: defaultResource().merge(
    resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME || 'interop-node' }),
  ),
  spanProcessors: [
    new BatchSpanProcessor(new OTLPTraceExporter(), {
      scheduledDelayMillis: Number(process.env.OTEL_BSP_SCHEDULE_DELAY || 200),
    }),
  ],
});
provider.register(); // W3C tracecontext + baggage propagators, AsyncLocalStorage context manager
registerInstrumentations({ instrumentations: [new KafkaJsInstrumentation()] });

// Required only after the instrumentation is registered, so that it patches kafkajs.
const { Kafka, logLevel, Partitioners } = require('kafkajs');

const timeoutMs = Number(process.env.INTEROP_TIMEOUT_S || 90) * 1000;
const kafka = new Kafka({
  clientId: 'interop-node',
  brokers: (process.env.KAFKA_BOOTSTRAP_SERVERS || '127.0.0.1:9092').split(','),
  logLevel: logLevel.ERROR,
});

function headersOf(headers) {
  const out = [];
  for (const [k, v] of Object.entries(headers || {})) {
    const values = Array.isArray(v) ? v : [v];
    for (const one of values) out.push([k, one == null ? null : one.toString()]);
  }
  return out;
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function currentIds() {
  const span = trace.getActiveSpan();
  const sc = span && span.spanContext();
  const valid = sc && trace.isSpanContextValid(sc);
  const baggage = {};
  const bag = propagation.getActiveBaggage();
  if (bag) for (const [k, e] of bag.getAllEntries()) baggage[k] = e.value;
  return { trace_id: valid ? sc.traceId : null, span_id: valid ? sc.spanId : null, baggage };
}

function newProducer() {
  return kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: true });
}

async function produce(topic, n, args) {
  let bag = propagation.createBaggage();
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--baggage' && i + 1 < args.length) {
      const [k, ...rest] = args[++i].split('=');
      bag = bag.setEntry(k, { value: rest.join('=') });
    } else {
      throw new Error(`unknown option ${args[i]}`);
    }
  }
  const producer = newProducer();
  await producer.connect();
  await context.with(propagation.setBaggage(context.active(), bag), async () => {
    for (let i = 0; i < n; i++) {
      const message = { key: `key-${i}`, value: JSON.stringify({ n: i, from: 'node' }), headers: {} };
      const [md] = await producer.send({ topic, messages: [message] });
      emit({ mode: 'produce', topic, partition: md.partition, offset: Number(md.baseOffset), key: message.key,
        value: message.value, headers: headersOf(message.headers) });
    }
  });
  await producer.disconnect();
  return 0;
}

async function consume(topic, group, n, out) {
  const consumer = kafka.consumer({ groupId: group, allowAutoTopicCreation: true });
  const producer = out ? newProducer() : null;
  if (producer) await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let seen = 0;
  let finish;
  const done = new Promise((resolve) => { finish = resolve; });
  const timer = setTimeout(() => finish(2), timeoutMs);
  await consumer.run({
    autoCommit: true,
    eachMessage: async ({ topic: t, partition, message }) => {
      if (seen >= n) return;
      seen++;
      const key = message.key == null ? null : message.key.toString();
      const value = message.value == null ? null : message.value.toString();
      emit({ mode: out ? 'relay-in' : 'consume', topic: t, partition, offset: Number(message.offset), key, value,
        ...currentIds(), headers: headersOf(message.headers) });
      if (producer) {
        // Sent while the process span is active: the send span is its child.
        const next = { key, value, headers: {} };
        const [md] = await producer.send({ topic: out, messages: [next] });
        emit({ mode: 'relay-out', topic: out, partition: md.partition, offset: Number(md.baseOffset), key, value,
          headers: headersOf(next.headers) });
      }
      if (seen >= n) finish(0);
    },
  });
  const rc = await done;
  clearTimeout(timer);
  if (rc !== 0) process.stderr.write(`timeout: saw ${seen} of ${n} records on ${topic}\n`);
  await consumer.disconnect();
  if (producer) await producer.disconnect();
  return rc;
}

async function main(argv) {
  const [mode, ...rest] = argv;
  if (mode === 'produce' && rest.length >= 2) return produce(rest[0], Number(rest[1]), rest.slice(2));
  if (mode === 'relay' && rest.length >= 4) return consume(rest[0], rest[2], Number(rest[3]), rest[1]);
  if (mode === 'consume' && rest.length >= 3) return consume(rest[0], rest[1], Number(rest[2]), null);
  process.stderr.write('usage: produce <topic> <n> [--baggage k=v]... | relay <in> <out> <group> <n> | '
    + 'consume <topic> <group> <n>\n');
  return 64;
}

main(process.argv.slice(2))
  .catch((err) => { process.stderr.write(`${err && err.stack ? err.stack : err}\n`); return 1; })
  .then(async (rc) => {
    await provider.forceFlush(); // waits for the batch processor export
    await provider.shutdown();
    process.exit(rc);
  });
