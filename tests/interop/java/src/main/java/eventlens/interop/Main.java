package eventlens.interop;

import io.opentelemetry.api.baggage.Baggage;
import io.opentelemetry.api.baggage.BaggageBuilder;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.context.Scope;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * eventlens interop test service: plain kafka-clients code, traced only by the OpenTelemetry Java agent.
 *
 * <p>Modes: {@code produce <topic> <n> [--cloudevents] [--baggage k=v]...}, {@code relay <in> <out> <group> <n>}
 * (consume, and produce one record per record while handling it), {@code consume <topic> <group> <n>}.
 * Broker from {@code KAFKA_BOOTSTRAP_SERVERS}; gives up after {@code INTEROP_TIMEOUT_S} seconds (exit 2).
 * Prints one JSON line per record: what it sent or what it saw (headers, current trace id, baggage).
 */
public final class Main {
  private Main() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 1) {
      usage();
    }
    String bootstrap = System.getenv().getOrDefault("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092");
    long timeoutMs = (long) (Double.parseDouble(System.getenv().getOrDefault("INTEROP_TIMEOUT_S", "90")) * 1000);
    long deadline = System.currentTimeMillis() + timeoutMs;
    int rc;
    switch (args[0]) {
      case "produce" -> {
        if (args.length < 3) {
          usage();
        }
        rc = produce(bootstrap, args[1], Integer.parseInt(args[2]), args);
      }
      case "relay" -> {
        if (args.length < 5) {
          usage();
        }
        rc = consume(bootstrap, args[1], args[3], Integer.parseInt(args[4]), args[2], deadline);
      }
      case "consume" -> {
        if (args.length < 4) {
          usage();
        }
        rc = consume(bootstrap, args[1], args[2], Integer.parseInt(args[3]), null, deadline);
      }
      default -> {
        usage();
        rc = 64;
      }
    }
    System.out.flush();
    System.exit(rc);
  }

  private static void usage() {
    System.err.println(
        "usage: produce <topic> <n> [--cloudevents] [--baggage k=v]... | relay <in> <out> <group> <n>"
            + " | consume <topic> <group> <n>");
    System.exit(64);
  }

  private static KafkaProducer<String, String> producer(String bootstrap) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.CLIENT_ID_CONFIG, "interop-java-producer");
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.LINGER_MS_CONFIG, "0");
    return new KafkaProducer<>(p);
  }

  private static int produce(String bootstrap, String topic, int n, String[] args) throws Exception {
    boolean cloudEvents = false;
    BaggageBuilder baggage = Baggage.builder();
    for (int i = 3; i < args.length; i++) {
      if (args[i].equals("--cloudevents")) {
        cloudEvents = true;
      } else if (args[i].equals("--baggage") && i + 1 < args.length) {
        String[] kv = args[++i].split("=", 2);
        baggage.put(kv[0], kv.length > 1 ? kv[1] : "");
      } else {
        usage();
      }
    }
    try (KafkaProducer<String, String> producer = producer(bootstrap);
        Scope ignored = baggage.build().makeCurrent()) {
      for (int i = 0; i < n; i++) {
        String key = "key-" + i;
        String value = "{\"n\":" + i + ",\"from\":\"java\"}";
        ProducerRecord<String, String> record = new ProducerRecord<>(topic, key, value);
        if (cloudEvents) {
          Headers h = record.headers();
          h.add("ce_specversion", bytes("1.0"));
          h.add("ce_id", bytes("java-" + i + "-" + UUID.randomUUID()));
          h.add("ce_source", bytes("/eventlens/interop/java"));
          h.add("ce_type", bytes("com.example.order.created"));
          h.add("ce_time", bytes(Instant.now().toString()));
          h.add("content-type", bytes("application/json"));
        }
        RecordMetadata md = producer.send(record).get();
        emit("produce", md.topic(), md.partition(), md.offset(), key, value, record.headers(), null);
      }
      producer.flush();
    }
    return 0;
  }

  private static int consume(String bootstrap, String topic, String group, int n, String out, long deadline)
      throws Exception {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    p.put(ConsumerConfig.CLIENT_ID_CONFIG, "interop-java-consumer");
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    KafkaProducer<String, String> producer = out == null ? null : producer(bootstrap);
    int seen = 0;
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
      consumer.subscribe(List.of(topic));
      while (seen < n) {
        if (System.currentTimeMillis() > deadline) {
          System.err.println("timeout: saw " + seen + " of " + n + " records on " + topic);
          return 2;
        }
        ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(200));
        // The agent wraps this iteration: each record's process span is current while the body runs.
        for (ConsumerRecord<String, String> r : records) {
          seen++;
          emit(out == null ? "consume" : "relay-in", r.topic(), r.partition(), r.offset(), r.key(), r.value(),
              r.headers(), Span.current().getSpanContext());
          if (producer != null) {
            ProducerRecord<String, String> next = new ProducerRecord<>(out, r.key(), r.value());
            RecordMetadata md = producer.send(next).get();
            emit("relay-out", md.topic(), md.partition(), md.offset(), r.key(), r.value(), next.headers(), null);
          }
        }
        if (!records.isEmpty()) {
          consumer.commitSync();
        }
      }
    } finally {
      if (producer != null) {
        producer.close();
      }
    }
    return 0;
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static void emit(String mode, String topic, int partition, long offset, String key, String value,
      Headers headers, SpanContext current) {
    StringBuilder sb = new StringBuilder(256);
    sb.append("{\"mode\":").append(quote(mode))
        .append(",\"topic\":").append(quote(topic))
        .append(",\"partition\":").append(partition)
        .append(",\"offset\":").append(offset)
        .append(",\"key\":").append(quote(key))
        .append(",\"value\":").append(quote(value));
    if (current != null) {
      sb.append(",\"trace_id\":").append(current.isValid() ? quote(current.getTraceId()) : "null")
          .append(",\"span_id\":").append(current.isValid() ? quote(current.getSpanId()) : "null");
      sb.append(",\"baggage\":{");
      boolean first = true;
      for (Map.Entry<String, io.opentelemetry.api.baggage.BaggageEntry> e : Baggage.current().asMap().entrySet()) {
        if (!first) {
          sb.append(',');
        }
        first = false;
        sb.append(quote(e.getKey())).append(':').append(quote(e.getValue().getValue()));
      }
      sb.append('}');
    }
    sb.append(",\"headers\":[");
    List<String> items = new ArrayList<>();
    for (Header h : headers) {
      String v = h.value() == null ? "null" : quote(new String(h.value(), StandardCharsets.UTF_8));
      items.add("[" + quote(h.key()) + "," + v + "]");
    }
    sb.append(String.join(",", items)).append("]}");
    System.out.println(sb);
    System.out.flush();
  }

  private static String quote(String s) {
    if (s == null) {
      return "null";
    }
    StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (c < 0x20) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
        }
      }
    }
    return sb.append('"').toString();
  }
}
